package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/tickets"
)

// Handler tests with stub services over real TCP (httptest on loopback).

type stubCards struct {
	calls    atomic.Int32
	err      error
	gotFiles atomic.Bool
}

func (s *stubCards) SubmitIDCard(_ context.Context, r ocr.IDCardRequest) (*ocr.IDCardResult, error) {
	if err := validator.ValidateIDCardRequest(&r); err != nil { // as the service does, before anything
		return nil, err
	}
	s.calls.Add(1)
	if s.err != nil {
		return nil, s.err
	}
	return &ocr.IDCardResult{OrderNo: "o1", Provider: "webank", Side: r.Side, Warnings: nil}, nil
}

func (s *stubCards) IDCardResult(_ context.Context, q ocr.ResultQuery) (*ocr.IDCardResult, error) {
	orderNo, files := q.OrderNo, q.Files
	if !sign.ValidOrderNo(orderNo) {
		return nil, errcode.Errorf(errcode.InvalidRequest, "orderNo must be 1 to 32 letters or digits")
	}
	s.calls.Add(1)
	s.gotFiles.Store(files)
	if s.err != nil {
		return nil, s.err
	}
	return &ocr.IDCardResult{OrderNo: orderNo, Provider: "webank"}, nil
}

func (s *stubCards) MaxIDCardImage() int64 { return validator.MaxIDCardImage() }

// validator is the real service's input check, with a provider that is
// never called.
var validator = &ocr.Service{Providers: ocr.ProvidersOf(neverCalled{})}

type neverCalled struct{}

func (neverCalled) Name() string                 { return "webank" }
func (neverCalled) Credentials() ocr.Credentials { return nil }
func (neverCalled) Limits() ocr.Limits {
	return ocr.Limits{IDCardImage: 15728640, BankCardImage: 2359296}
}
func (neverCalled) SubmitIDCard(context.Context, string, ocr.IDCardCall) (*ocr.IDCardRead, error) {
	panic("the handler tests never reach a provider")
}
func (neverCalled) SubmitBankCard(context.Context, string, ocr.BankCardCall) (*ocr.BankCardRead, error) {
	panic("the handler tests never reach a provider")
}

type countingHealth struct{ n atomic.Int32 }

func (h *countingHealth) Freshness(context.Context, time.Duration) tickets.Freshness {
	h.n.Add(1)
	return tickets.Missing
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func newTestServer(t *testing.T) (*httptest.Server, *stubCards, *countingHealth, *lockedBuf) {
	t.Helper()
	cards, health, logs := &stubCards{}, &countingHealth{}, &lockedBuf{}
	h := New(Options{IDCards: cards, Health: health, APIKeys: []string{"k"}, Timeout: 5 * time.Second,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, cards, health, logs
}

func call(t *testing.T, srv *httptest.Server, method, path, ct, body, key string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// Every answer is JSON, auth comes first, and every error code maps to its
// status (the one mapping, at the edge).
func TestHandlerAnswers(t *testing.T) {
	srv, cards, _, _ := newTestServer(t)
	img := `{"side":"front","image":"/9j/4AAQSkZJRgABAQ=="}`
	tests := []struct {
		name, method, path, ct, body, key string
		status                            int
		code                              string
	}{
		{"no key", "POST", "/v1/idcard/ocr", "application/json", img, "", 401, "unauthorized"},
		{"wrong key", "POST", "/v1/idcard/ocr", "application/json", img, "x", 401, "unauthorized"},
		{"wrong method", "GET", "/v1/idcard/ocr", "", "", "k", 405, "invalid_request"},
		{"unknown route", "GET", "/v2/x", "", "", "k", 404, "not_found"},
		{"double slash", "POST", "//v1/idcard/ocr", "application/json", img, "k", 404, "not_found"},
		{"dot segment", "GET", "/v1/./idcard/results/o1", "", "", "k", 404, "not_found"},
		{"trailing slash", "POST", "/v1/idcard/ocr/", "application/json", img, "k", 404, "not_found"},
		{"both image and imageUrl", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","provider":"wechat","image":"/9j/4AAQ","imageUrl":"https://a.example/x.jpg"}`, "k", 400, "invalid_request"},
		{"files=maybe", "GET", "/v1/idcard/results/o1?files=maybe", "", "", "k", 400, "invalid_request"},
		{"bank route not served", "POST", "/v1/bankcard/ocr", "application/json", `{"image":"/9j/"}`, "k", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := cards.calls.Load()
			st, h, body := call(t, srv, tt.method, tt.path, tt.ct, tt.body, tt.key)
			var e errorBody
			if st != tt.status || json.Unmarshal(body, &e) != nil || string(e.Error.Code) != tt.code || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
				t.Errorf("got %d %s %s, want %d %s", st, h.Get("Content-Type"), body, tt.status, tt.code)
			}
			if cards.calls.Load() != before {
				t.Errorf("the service was called")
			}
		})
	}
	// One rule for every flag: files=yes is true, as native=yes is.
	if st, _, _ := call(t, srv, "GET", "/v1/idcard/results/o1?files=yes", "", "", "k"); st != 200 || !cards.gotFiles.Load() {
		t.Errorf("files=yes: %d, files %v", st, cards.gotFiles.Load())
	}
	for code, status := range map[errcode.Code]int{errcode.NotFound: 404, errcode.OrderConflict: 409, errcode.RecognitionFailed: 422,
		errcode.QuotaExceeded: 429, errcode.TicketsUnavailable: 503, errcode.UpstreamError: 502, errcode.UpstreamTimeout: 504,
		errcode.RequestTimeout: 408, errcode.Busy: 429, errcode.Internal: 500} {
		cards.err = &errcode.Error{Code: code, Message: "m", Err: io.EOF}
		st, h, body := call(t, srv, "GET", "/v1/idcard/results/o1", "", "", "k")
		if st != status || !strings.Contains(string(body), `"code":"`+string(code)+`"`) {
			t.Errorf("%s: %d %s", code, st, body)
		}
		if code == errcode.Busy && h.Get("Retry-After") == "" {
			t.Errorf("busy without Retry-After")
		}
		if strings.Contains(string(body), "EOF") {
			t.Errorf("%s: the cause leaked: %s", code, body)
		}
	}
}

// Invalid order numbers are never echoed, and logged only truncated and
// quoted.
func TestInvalidValuesAreNotEchoed(t *testing.T) {
	srv, _, _, logs := newTestServer(t)
	long := strings.Repeat("A", 10000)
	for _, bad := range []string{long, "ab\x00cd", "../../etc", "<script>"} {
		body, _ := json.Marshal(map[string]string{"side": "front", "image": "/9j/4AAQ", "orderNo": bad})
		st, _, out := call(t, srv, "POST", "/v1/idcard/ocr", "application/json", string(body), "k")
		if st != 400 || strings.Contains(string(out), bad) || strings.Contains(string(out), `"orderNo"`) {
			t.Errorf("%.20q: %d %s", bad, st, out)
		}
	}
	st, _, out := call(t, srv, "GET", "/v1/idcard/results/"+strings.Repeat("9", 300), "", "", "k")
	if st != 400 || strings.Contains(string(out), strings.Repeat("9", 33)) {
		t.Errorf("path: %d %s", st, out)
	}
	if l := logs.String(); strings.Contains(l, strings.Repeat("9", 60)) || strings.Contains(l, long[:100]) {
		t.Errorf("a long invalid value was logged whole")
	}
	if !strings.Contains(logs.String(), `"invalidOrderNo":"\"999`) || !strings.Contains(logs.String(), `"route":"/v1/idcard/results/{orderNo}"`) {
		t.Errorf("access log: %s", logs.String())
	}
}

// /healthz is unauthenticated: 100 calls read the store once.
func TestHealthzIsCached(t *testing.T) {
	srv, _, health, _ := newTestServer(t)
	for range 100 {
		if st, _, body := call(t, srv, "GET", "/healthz", "", "", ""); st != 200 || !strings.Contains(string(body), `"tickets":"missing"`) {
			t.Fatalf("%d %s", st, body)
		}
	}
	if n := health.n.Load(); n != 1 {
		t.Errorf("100 /healthz calls asked the store %d times", n)
	}
}

type blockingCards struct {
	stubCards
	entered chan struct{}
	release chan struct{}
}

func (b *blockingCards) SubmitIDCard(ctx context.Context, r ocr.IDCardRequest) (*ocr.IDCardResult, error) {
	if r.Image.Size > LargeRequestBytes/2 { // only the large ones wait
		b.entered <- struct{}{}
		<-b.release
	}
	return &ocr.IDCardResult{OrderNo: "o1", Provider: "webank", Side: r.Side}, nil
}

// At most MaxLargeRequests large submissions at once; the next one gets
// 429 busy with Retry-After at once, without its body being read; small
// ones are not held back.
func TestLargeRequestsAreBounded(t *testing.T) {
	cards := &blockingCards{entered: make(chan struct{}, 4), release: make(chan struct{})}
	srv := httptest.NewServer(New(Options{IDCards: cards, APIKeys: []string{"k"}, MaxLargeRequests: 1, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	big := `{"side":"front","image":"/9j/` + strings.Repeat("A", 2<<20) + `"}`
	done := make(chan int, 1)
	go func() {
		st, _, _ := call(t, srv, "POST", "/v1/idcard/ocr", "application/json", big, "k")
		done <- st
	}()
	<-cards.entered // the first holds the only slot
	st, h, body := call(t, srv, "POST", "/v1/idcard/ocr", "application/json", big, "k")
	if st != 429 || !strings.Contains(string(body), `"code":"busy"`) || !strings.Contains(string(body), `"retryable":true`) || h.Get("Retry-After") == "" {
		t.Errorf("second large request: %d %v %s", st, h, body)
	}
	if st, _, body := call(t, srv, "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","image":"/9j/4AAQ"}`, "k"); st != 200 {
		t.Errorf("a small request while a large one runs: %d %s", st, body)
	}
	cards.release <- struct{}{}
	if st := <-done; st != 200 {
		t.Errorf("first large request: %d", st)
	}
}
