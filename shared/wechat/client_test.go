package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/cardocr/cardocr/shared/upstream"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
)

const testToken = "TOKEN-abcdefghijklmnopqrstuvwxyz-0123456789"

func newTestClient(t *testing.T, h http.HandlerFunc) (*Client, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return New(Config{BaseURL: srv.URL, AppID: "wxapp", Secret: "SECRET-0123456789", HTTPClient: srv.Client(),
		Resolver: fakeResolver{}}), srv
}

// fakeResolver answers from a table; nothing goes to real DNS.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ss, ok := f[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func TestStableTokenNormalAndForce(t *testing.T) {
	var bodies []stableTokenBody
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/cgi-bin/stable_token" || r.URL.RawQuery != "" {
			t.Errorf("request %s %s", r.Method, r.URL)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		var b stableTokenBody
		json.NewDecoder(r.Body).Decode(&b)
		bodies = append(bodies, b)
		io.WriteString(w, `{"access_token":"`+testToken+`","expires_in":7000}`)
	})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.cfg.Now = func() time.Time { return now }
	tok, err := c.StableToken(context.Background(), false)
	if err != nil || tok.Value != testToken || tok.ExpiresIn != 7000*time.Second {
		t.Fatalf("normal: %+v %v", tok, err)
	}
	if _, err := c.StableToken(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	// A second forced call within 30 s is refused without a request.
	now = now.Add(29 * time.Second)
	if _, err := c.StableToken(context.Background(), true); !errors.Is(err, ErrForceTooSoon) {
		t.Fatalf("second force: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := c.StableToken(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	want := []bool{false, true, true}
	if len(bodies) != len(want) {
		t.Fatalf("%d requests, want %d", len(bodies), len(want))
	}
	for i, b := range bodies {
		if b.GrantType != "client_credential" || b.AppID != "wxapp" || b.Secret != "SECRET-0123456789" || b.ForceRefresh != want[i] {
			t.Errorf("body %d: %+v", i, b)
		}
	}
}

func TestErrcodeStringOrNumberAndFields(t *testing.T) {
	answers := []string{
		`{"errcode":"0","errmsg":"ok","type":"Front","name":"张三","id":"110101199003070012","addr":"北京市","gender":"男","nationality":"汉"}`,
		`{"errcode":0,"errmsg":"ok","type":"Back","valid_date":"20070105-20270105"}`,
		`{"type":"Back","valid_date":"20070105-长期"}`, // no errcode at all
	}
	var i atomic.Int32
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, answers[i.Add(1)-1])
	})
	img := BytesImage([]byte("\xFF\xD8\xFFimage"))
	front, err := c.IDCard(context.Background(), testToken, IDCardRequest{Image: img})
	if err != nil || front.Type != TypeFront || front.ID != "110101199003070012" || front.Gender != "男" || front.Addr != "北京市" || front.Nationality != "汉" {
		t.Fatalf("front: %+v %v", front, err)
	}
	back, err := c.IDCard(context.Background(), testToken, IDCardRequest{Image: img})
	if err != nil || back.Type != TypeBack || back.ValidDate != "20070105-20270105" {
		t.Fatalf("back: %+v %v", back, err)
	}
	if _, err := c.IDCard(context.Background(), testToken, IDCardRequest{Image: img}); err != nil {
		t.Fatalf("no errcode: %v", err)
	}
}

func TestIDCardStreamsMultipartImg(t *testing.T) {
	img := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 1, 2, 3}, 50000)
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/cv/ocr/idcard" || q.Get("type") != "photo" || q.Get("access_token") != testToken || q.Has("img_url") {
			t.Errorf("query %v", q)
		}
		if r.ContentLength <= int64(len(img)) {
			t.Errorf("Content-Length %d: not exact", r.ContentLength)
		}
		mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "multipart/form-data" {
			t.Errorf("Content-Type %q", mt)
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		p, err := mr.NextPart()
		if err != nil || p.FormName() != "img" || p.FileName() == "" || p.Header.Get("Content-Type") != "image/jpeg" {
			t.Errorf("part: %v", err)
			return
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, img) {
			t.Errorf("image: %d bytes, want %d", len(got), len(img))
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("more parts: %v", err)
		}
		io.WriteString(w, `{"errcode":0,"errmsg":"ok","type":"Back","valid_date":"20070105-20270105"}`)
	})
	opened := 0
	ci := Image{Size: int64(len(img)), ContentType: "image/jpeg", Open: func() (io.ReadCloser, error) {
		opened++
		return io.NopCloser(bytes.NewReader(img)), nil
	}}
	if _, err := c.IDCard(context.Background(), testToken, IDCardRequest{Image: ci}); err != nil {
		t.Fatal(err)
	}
	if opened != 1 {
		t.Errorf("opened %d times", opened)
	}
}

func TestSizeLimitBeforeUpload(t *testing.T) {
	var calls atomic.Int32
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	_, err := c.IDCard(context.Background(), testToken, IDCardRequest{Image: Image{Size: MaxImage + 1, Open: func() (io.ReadCloser, error) {
		t.Error("image opened")
		return io.NopCloser(strings.NewReader("")), nil
	}}})
	if errcode.ErrorCode(err) != errcode.ImageTooLarge || calls.Load() != 0 {
		t.Errorf("err %v, calls %d", err, calls.Load())
	}
}

func TestImageURLGuard(t *testing.T) {
	res := fakeResolver{
		"cards.example.com":  {"93.184.216.34", "2001:4860::1"},
		"internal.example":   {"10.0.0.5"},
		"mixed.example":      {"93.184.216.34", "127.0.0.1"},
		"metadata.example":   {"169.254.169.254"},
		"mapped.example":     {"::ffff:192.168.1.1"},
		"multicast.example":  {"224.0.0.1"},
		"unspecified.exampl": {"0.0.0.0"},
		"cgnat.example":      {"100.64.1.1"},
		"ula.example":        {"fd00::1"},
	}
	ok := []string{"https://cards.example.com/a.jpg?x=1", "https://93.184.216.34/a.jpg", "https://cards.example.com:443/a"}
	bad := []string{
		"http://cards.example.com/a.jpg", "ftp://cards.example.com/a", "https://internal.example/a", "https://mixed.example/a",
		"https://metadata.example/", "https://mapped.example/", "https://multicast.example/", "https://unspecified.exampl/",
		"https://cgnat.example/", "https://ula.example/", "https://nosuch.example/", "https://127.0.0.1/", "https://[::1]/",
		"https://10.0.0.1/", "https://localhost/", "https://a.localhost/", "https://u:p@cards.example.com/",
		"https://cards.example.com:8443/", "/relative", "https://[fe80::1%25eth0]/", "https://0x7f.0.0.1/", "https://2130706433/",
	}
	for _, u := range ok {
		if err := CheckImageURL(context.Background(), res, u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range bad {
		if err := CheckImageURL(context.Background(), res, u); errcode.ErrorCode(err) != errcode.InvalidRequest {
			t.Errorf("%s accepted (%v)", u, err)
		}
	}
}

func TestImageURLPassedOnNotDialled(t *testing.T) {
	const u = "https://cards.example.com/front card.jpg"
	c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("img_url"); got != u || r.ContentLength > 0 {
			t.Errorf("img_url %q, length %d", got, r.ContentLength)
		}
		io.WriteString(w, `{"errcode":"0","type":"Front","id":"1"}`)
	})
	c.cfg.Resolver = fakeResolver{"cards.example.com": {"93.184.216.34"}}
	if _, err := c.IDCard(context.Background(), testToken, IDCardRequest{ImageURL: u}); err != nil {
		t.Fatal(err)
	}
	c.cfg.Resolver = fakeResolver{"cards.example.com": {"192.168.0.1"}}
	if _, err := c.IDCard(context.Background(), testToken, IDCardRequest{ImageURL: u}); errcode.ErrorCode(err) != errcode.InvalidRequest {
		t.Fatalf("private host: %v", err)
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		body     string
		code     errcode.Code
		rejected bool
	}{
		{`{"errcode":40001,"errmsg":"invalid credential, access_token is invalid or not latest rid: 1"}`, errcode.UpstreamError, true},
		{`{"errcode":"42001","errmsg":"access_token expired"}`, errcode.UpstreamError, true},
		{`{"errcode":40014,"errmsg":"invalid access_token"}`, errcode.UpstreamError, true},
		{`{"errcode":45009,"errmsg":"reach max api daily quota limit"}`, errcode.QuotaExceeded, false},
		{`{"errcode":101003,"errmsg":"not enough market quota"}`, errcode.QuotaExceeded, false},
		{`{"errcode":101002,"errmsg":"not enough market quota"}`, errcode.QuotaExceeded, false}, // older numbering
		{`{"errcode":101002,"errmsg":"invalid image data"}`, errcode.InvalidImage, false},
		{`{"errcode":101000,"errmsg":"invalid image url"}`, errcode.InvalidImage, false},
		{`{"errcode":101001,"errmsg":"certificate not found"}`, errcode.RecognitionFailed, false},
		{`{"errcode":-1,"errmsg":"system error"}`, errcode.UpstreamError, false},
		{`{"errcode":40164,"errmsg":"invalid ip 1.2.3.4, not in whitelist"}`, errcode.UpstreamError, false},
		{`{"errcode":99999,"errmsg":"something new"}`, errcode.UpstreamError, false},
		{`{"errcode":0,"errmsg":"ok"}`, errcode.UpstreamError, false}, // no type: not an answer we understand
		{`<html>`, errcode.UpstreamError, false},
	}
	for _, tc := range cases {
		c, _ := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, tc.body) })
		_, err := c.IDCard(context.Background(), testToken, IDCardRequest{Image: BytesImage([]byte("x"))})
		var ae *upstream.Error
		if errcode.ErrorCode(err) != tc.code || (errors.As(err, &ae) && ae.CredentialsRejected != tc.rejected) {
			t.Errorf("%s: %v", tc.body, err)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("%s: token in error", tc.body)
		}
	}
	if !errcode.IsRetryable(toDomain(newAPIError("idcard", "-1", "system error"))) {
		t.Error("-1 not retryable")
	}
}

func TestNoTokenOrSecretInTransportErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a closed port: connection refused
	c := New(Config{BaseURL: "http://" + addr, AppID: "wxapp", Secret: "SECRET-0123456789"})
	_, err = c.IDCard(context.Background(), testToken, IDCardRequest{Image: BytesImage([]byte("x"))})
	if err == nil || strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), "access_token") {
		t.Errorf("IDCard error: %v", err)
	}
	_, err = c.StableToken(context.Background(), false)
	if err == nil || strings.Contains(err.Error(), "SECRET-0123456789") {
		t.Errorf("StableToken error: %v", err)
	}
	// A timeout is upstream_timeout.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	c = New(Config{BaseURL: slow.URL, OCRTimeout: 50 * time.Millisecond})
	_, err = c.IDCard(context.Background(), testToken, IDCardRequest{Image: BytesImage([]byte("x"))})
	if errcode.ErrorCode(err) != errcode.UpstreamTimeout || strings.Contains(err.Error(), testToken) {
		t.Errorf("timeout: %v", err)
	}
}

// Every entry of the IANA special-purpose registries is refused, and the
// IPv6 forms that embed an IPv4 address (which could be any); ordinary
// global addresses pass.
func TestPublicAddrRefusesSpecialPurposeRanges(t *testing.T) {
	refused := []string{
		"0.1.2.3", "10.1.2.3", "100.64.0.1", "127.0.0.1", "169.254.169.254", "172.16.0.1", "192.0.0.8",
		"192.0.2.1", "192.31.196.1", "192.52.193.1", "192.88.99.1", "192.168.1.1", "192.175.48.1",
		"198.18.0.1", "198.51.100.1", "203.0.113.7", "240.0.0.1", "255.255.255.255", "224.0.0.1",
		"::", "::1", "::10.0.0.1", "::8.8.8.8", // IPv4-compatible IPv6 (deprecated): any embedded address
		"::ffff:192.168.1.1", "::ffff:8.8.8.8", "::ffff:0:8.8.8.8", "64:ff9b::8.8.8.8", "64:ff9b:1::1",
		"100::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", // Teredo
		"2001:2::1", "2001:10::1", "2001:20::1", "2001:db8::1", "2002:c0a8:101::1", "2620:4f:8000::1",
		"3fff::1", "5f00::1", "fc00::1", "fd12::1", "fe80::1", "fec0::1", "ff02::1",
	}
	for _, s := range refused {
		if PublicAddr(netip.MustParseAddr(s)) {
			t.Errorf("%s is accepted as public", s)
		}
	}
	for _, s := range []string{"8.8.8.8", "93.184.216.34", "1.1.1.1", "2001:4860:4860::8888", "2606:4700::1111", "240e::1"} {
		if !PublicAddr(netip.MustParseAddr(s)) {
			t.Errorf("%s is refused", s)
		}
	}
}
