package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of the WeChat endpoints, with requests written from the WeChat
// documents (docs/protocol.md §7).

type wxAnswer map[string]any

func (a wxAnswer) errcode() string {
	switch v := a["errcode"].(type) {
	case nil:
		return "0"
	case string:
		return v
	case float64:
		return fmt.Sprint(int64(v))
	}
	return "?"
}

func (a wxAnswer) str(k string) string { s, _ := a[k].(string); return s }

func (h *harness) wx(req *http.Request) wxAnswer {
	h.t.Helper()
	resp, err := h.cl.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("HTTP %d", resp.StatusCode)
	}
	var a wxAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *harness) stableToken(force bool, appID, secret string) wxAnswer {
	h.t.Helper()
	b, _ := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": appID, "secret": secret, "force_refresh": force})
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/cgi-bin/stable_token", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	return h.wx(req)
}

func (h *harness) stable(force bool) string {
	h.t.Helper()
	a := h.stableToken(force, DefaultWeChatAppID, DefaultWeChatSecret)
	if a.errcode() != "0" || a.str("access_token") == "" {
		h.t.Fatalf("stable_token: %v", a)
	}
	return a.str("access_token")
}

func (h *harness) basicToken() wxAnswer {
	h.t.Helper()
	q := url.Values{"grant_type": {"client_credential"}, "appid": {DefaultWeChatAppID}, "secret": {DefaultWeChatSecret}}
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/cgi-bin/token?"+q.Encode(), nil)
	return h.wx(req)
}

// ocr posts img as the multipart field img (curl -F 'img=@test.jpg').
func (h *harness) ocr(tok string, img []byte, extra url.Values) wxAnswer {
	h.t.Helper()
	q := url.Values{"type": {"photo"}, "access_token": {tok}}
	for k, v := range extra {
		q[k] = v
	}
	var body bytes.Buffer
	ct := ""
	if img != nil {
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("img", "test.jpg")
		fw.Write(img)
		mw.Close()
		ct = mw.FormDataContentType()
	}
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/cv/ocr/idcard?"+q.Encode(), &body)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	return h.wx(req)
}

func TestWeChatStableTokenNormalMode(t *testing.T) {
	clk := newClock()
	h := newHarness(t, Config{Now: clk.Now})
	t1 := h.stable(false)
	clk.Advance(time.Hour)
	a := h.stableToken(false, DefaultWeChatAppID, DefaultWeChatSecret)
	if a.str("access_token") != t1 || a["expires_in"].(float64) != 3600 {
		t.Fatalf("normal mode within validity: %v", a)
	}
	// Five minutes before expiry the platform renews; both stay valid.
	clk.Advance(55*time.Minute + time.Second)
	t2 := h.stable(false)
	if t2 == t1 {
		t.Fatal("not renewed in the last five minutes")
	}
	if c := h.ocr(t1, front(1).JPEG(), nil).errcode(); c != "0" {
		t.Errorf("old token during the overlap: %s", c)
	}
	clk.Advance(5 * time.Minute)
	if c := h.ocr(t1, front(1).JPEG(), nil).errcode(); c != "42001" {
		t.Errorf("old token after its expiry: %s", c)
	}
	if c := h.ocr(t2, front(1).JPEG(), nil).errcode(); c != "0" {
		t.Errorf("new token: %s", c)
	}
	// Credentials.
	for _, tc := range []struct{ appID, secret, code string }{
		{"", DefaultWeChatSecret, "41002"}, {DefaultWeChatAppID, "", "41004"},
		{"wxother", DefaultWeChatSecret, "40013"}, {DefaultWeChatAppID, "wrong", "40125"},
	} {
		if c := h.stableToken(false, tc.appID, tc.secret).errcode(); c != tc.code {
			t.Errorf("%q/%q: %s, want %s", tc.appID, tc.secret, c, tc.code)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/cgi-bin/stable_token", nil)
	if c := h.wx(req).errcode(); c != "43002" {
		t.Errorf("GET stable_token: %s", c)
	}
}

func TestWeChatStableTokenForceRefresh(t *testing.T) {
	clk := newClock()
	h := newHarness(t, Config{Now: clk.Now, WeChat: WeChatConfig{ForceDailyLimit: 3}})
	t1 := h.stable(false)
	t2 := h.stable(true)
	if t2 == t1 || h.ocr(t1, front(1).JPEG(), nil).errcode() != "40001" {
		t.Fatal("force_refresh did not kill the previous token at once")
	}
	// Within 30 s a forced call does not refresh.
	clk.Advance(29 * time.Second)
	if t3 := h.stable(true); t3 != t2 {
		t.Fatal("forced twice within 30 s")
	}
	clk.Advance(time.Second)
	if t3 := h.stable(true); t3 == t2 {
		t.Fatal("not refreshed 30 s later")
	}
	clk.Advance(30 * time.Second)
	h.stable(true)
	clk.Advance(30 * time.Second)
	if c := h.stableToken(true, DefaultWeChatAppID, DefaultWeChatSecret).errcode(); c != "45009" {
		t.Errorf("fourth forced refresh of the day with a limit of 3: %s", c)
	}
	if h.e.Count("wechat:force_refresh") != 3 {
		t.Errorf("force counter %d", h.e.Count("wechat:force_refresh"))
	}
}

func TestWeChatBasicTokenKillsPreviousAfterFiveMinutes(t *testing.T) {
	clk := newClock()
	h := newHarness(t, Config{Now: clk.Now, WeChat: WeChatConfig{TokenDailyLimit: 2}})
	st := h.stable(false)
	a1 := h.basicToken().str("access_token")
	a2 := h.basicToken().str("access_token")
	if a1 == "" || a2 == "" || a1 == a2 {
		t.Fatal("cgi-bin/token did not issue new tokens")
	}
	clk.Advance(4 * time.Minute)
	if c := h.ocr(a1, front(1).JPEG(), nil).errcode(); c != "0" {
		t.Errorf("previous token within five minutes: %s", c)
	}
	clk.Advance(time.Minute)
	if c := h.ocr(a1, front(1).JPEG(), nil).errcode(); c != "40001" {
		t.Errorf("previous token after five minutes: %s", c)
	}
	// Stable tokens are a separate family.
	if c := h.ocr(st, front(1).JPEG(), nil).errcode(); c != "0" {
		t.Errorf("stable token after cgi-bin/token calls: %s", c)
	}
	if c := h.basicToken().errcode(); c != "45009" {
		t.Errorf("over the daily token limit: %s", c)
	}
}

func TestWeChatOCRAnswersAndErrors(t *testing.T) {
	clk := newClock()
	imgs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/back.png" {
			http.NotFound(w, r)
			return
		}
		w.Write(back(8).PNG())
	}))
	t.Cleanup(imgs.Close)
	host := strings.TrimPrefix(imgs.URL, "http://")
	h := newHarness(t, Config{Now: clk.Now, WeChat: WeChatConfig{OCRDailyQuota: 7, ImageHosts: []string{host}}})
	tok := h.stable(false)
	p := Person(8)

	a := h.ocr(tok, front(8).JPEG(), nil)
	if a["errcode"] != "0" || a.str("type") != "Front" || a.str("name") != p.Name || a.str("id") != p.IDNumber ||
		a.str("addr") != p.Address || a.str("gender") != p.Sex || a.str("nationality") != p.Nation {
		t.Errorf("front: %v", a)
	}
	a = h.ocr(tok, nil, url.Values{"img_url": {imgs.URL + "/back.png"}})
	if a["errcode"] != float64(0) || a.str("type") != "Back" || a.str("valid_date") != p.ValidFrom+"-"+p.ValidTo {
		t.Errorf("back by img_url: %v", a)
	}
	for _, tc := range []struct {
		name string
		tok  string
		img  []byte
		q    url.Values
		code string
	}{
		{"no token", "", front(1).JPEG(), nil, "41001"},
		{"unknown token", "nope", front(1).JPEG(), nil, "40001"},
		{"bad type", tok, front(1).JPEG(), url.Values{"type": {"fax"}}, "40097"},
		{"no image", tok, nil, nil, "101000"},
		{"missing on a registered host", tok, nil, url.Values{"img_url": {imgs.URL + "/none.jpg"}}, "101000"},
		{"unregistered host, no card named", tok, nil, url.Values{"img_url": {"https://img.example/none.jpg"}}, "101000"},
		{"not an image", tok, []byte("hello, not an image"), nil, "101002"},
		{"2 MiB", tok, CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 1, MinSize: 2 << 20}.JPEG(), nil, "101002"},
		{"no card", tok, CardSpec{Kind: KindBankCard, Seed: 1}.JPEG(), nil, "101001"},
		{"system error", tok, CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 1, Code: "-1"}.JPEG(), nil, "-1"},
	} {
		a := h.ocr(tc.tok, tc.img, tc.q)
		if a.errcode() != tc.code {
			t.Errorf("%s: %v, want %s", tc.name, a, tc.code)
		}
	}
	// Quota: the front, the back and the three recognitions above used 5 of
	// 7; errors before recognition use none.
	if n := h.e.WeChatOCRCallsToday(); n != 5 {
		t.Errorf("quota used %d, want 5", n)
	}
	h.ocr(tok, front(1).JPEG(), nil)
	h.ocr(tok, front(1).JPEG(), nil)
	if c := h.ocr(tok, front(1).JPEG(), nil).errcode(); c != "45009" {
		t.Errorf("over the daily quota: %s", c)
	}
	clk.Advance(24 * time.Hour)
	tok = h.stable(false)
	if c := h.ocr(tok, front(1).JPEG(), nil).errcode(); c != "0" {
		t.Errorf("next day: %s", c)
	}
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/cv/ocr/idcard?access_token="+tok, nil)
	if c := h.wx(req).errcode(); c != "43002" {
		t.Errorf("GET: %s", c)
	}
	if h.e.Count(EndpointWeChatIDCard) == 0 || h.e.Count("rejected:bad_token") != 1 {
		t.Errorf("counters: %v", h.e.Counts())
	}
}

func TestWeChatFaultsAndKnobs(t *testing.T) {
	h := newHarness(t, Config{})
	tok := h.stable(false)
	h.e.SetFault(EndpointWeChatIDCard, Fault{Kind: FaultStatus, Next: 1})
	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/cv/ocr/idcard?access_token="+tok, nil)
	resp, err := h.cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || h.e.Count("fault:5xx") != 1 {
		t.Errorf("fault: HTTP %d", resp.StatusCode)
	}
	h.e.RotateWeChatStableToken()
	if c := h.ocr(tok, front(1).JPEG(), nil).errcode(); c != "40001" {
		t.Errorf("after rotation: %s", c)
	}
	tok = h.stable(false)
	h.e.ExpireWeChatTokens()
	if c := h.ocr(tok, front(1).JPEG(), nil).errcode(); c != "42001" {
		t.Errorf("after expiry: %s", c)
	}
}

// The emulator stands in for WeChat and never reaches out: a public
// img_url is answered from the URL without any dial, and even a
// registered host is dialled only on loopback.
func TestWeChatImageURLNeverDialsOut(t *testing.T) {
	var mu sync.Mutex
	var dialled []string
	record := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialled = append(dialled, addr)
		mu.Unlock()
		return LoopbackDialer(ctx, network, addr)
	}
	imgs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(front(12).JPEG()) }))
	t.Cleanup(imgs.Close)
	h := newHarness(t, Config{WeChat: WeChatConfig{DialContext: record}})
	tok := h.stable(false)

	for _, u := range []string{
		"https://203.0.113.7/cards/front.jpg", "https://img.example/u/back.png", "http://93.184.216.34/front.jpg",
		"https://img.example/none.jpg", imgs.URL + "/front.jpg", // not registered yet: answered from the URL too
	} {
		a := h.ocr(tok, nil, url.Values{"img_url": {u}})
		spec, ok := URLImage(u)
		switch {
		case ok && spec.Side == SideFront:
			if a.str("id") != Person(URLSeed(u)).IDNumber || a.str("type") != "Front" {
				t.Errorf("%s: %v", u, a)
			}
		case ok:
			if a.str("type") != "Back" {
				t.Errorf("%s: %v", u, a)
			}
		default:
			if fmt.Sprint(a["errcode"]) != "101000" {
				t.Errorf("%s: %v", u, a)
			}
		}
	}
	// The same URL always stands for the same card.
	if a, b := h.ocr(tok, nil, url.Values{"img_url": {"https://203.0.113.7/cards/front.jpg"}}), h.ocr(tok, nil, url.Values{"img_url": {"https://203.0.113.7/cards/front.jpg"}}); a.str("id") != b.str("id") {
		t.Errorf("not deterministic")
	}
	mu.Lock()
	if len(dialled) != 0 {
		t.Fatalf("dialled %v for unregistered URLs", dialled)
	}
	mu.Unlock()

	// Registered loopback host: downloaded, through the dialer, on loopback.
	if err := h.e.AllowImageHost(strings.TrimPrefix(imgs.URL, "http://")); err != nil {
		t.Fatal(err)
	}
	if a := h.ocr(tok, nil, url.Values{"img_url": {imgs.URL + "/x.jpg"}}); a.str("id") != Person(12).IDNumber {
		t.Errorf("registered host: %v", a)
	}
	mu.Lock()
	if len(dialled) != 1 || checkLoopback(dialled[0]) != nil {
		t.Errorf("dials %v, want one on loopback", dialled)
	}
	mu.Unlock()

	// Nothing but a literal loopback address can be registered, and the
	// dialer refuses every other address.
	for _, bad := range []string{"203.0.113.7:443", "localhost:80", "10.0.0.1:80", "[2001:db8::1]:443", "nohost"} {
		if err := h.e.AllowImageHost(bad); err == nil {
			t.Errorf("AllowImageHost(%q) accepted", bad)
		}
		if _, err := LoopbackDialer(context.Background(), "tcp", bad); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("LoopbackDialer(%q): %v", bad, err)
		}
	}
}
