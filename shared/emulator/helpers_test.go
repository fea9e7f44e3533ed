package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/sign"
)

// A minimal client written from the documents, for the tests only.

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 6, 1, 10, 0, 0, 0, cst)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t   *testing.T
	e   *Emulator
	srv *httptest.Server
	cl  *http.Client
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	e := New(cfg)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	cl := srv.Client()
	cl.Timeout = 20 * time.Second
	return &harness{t: t, e: e, srv: srv, cl: cl}
}

type answer map[string]any

func (a answer) str(k string) string {
	s, _ := a[k].(string)
	return s
}

func (a answer) code() string { return a.str("code") }

func (a answer) result() answer {
	m, _ := a["result"].(map[string]any)
	return answer(m)
}

func (h *harness) do(req *http.Request) (int, answer) {
	h.t.Helper()
	resp, err := h.cl.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("reading answer: %v", err)
	}
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		h.t.Fatalf("%s %s: answer is not JSON (%v): %.200q", req.Method, req.URL.Path, err, body)
	}
	if _, ok := a["code"].(string); !ok {
		h.t.Fatalf("%s: code is not a string: %.200s", req.URL.Path, body)
	}
	if _, ok := a["msg"].(string); !ok {
		h.t.Fatalf("%s: msg is not a string: %.200s", req.URL.Path, body)
	}
	return resp.StatusCode, a
}

func (h *harness) get(path string, q url.Values) answer {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.srv.URL+path+"?"+q.Encode(), nil)
	status, a := h.do(req)
	if status != http.StatusOK {
		h.t.Fatalf("GET %s: HTTP %d", path, status)
	}
	return a
}

func (h *harness) post(path string, query url.Values, body any) answer {
	h.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.postRaw(path, query, "application/json", b)
}

func (h *harness) postRaw(path string, query url.Values, contentType string, body []byte) answer {
	h.t.Helper()
	u := h.srv.URL + path
	if query != nil {
		u += "?" + query.Encode()
	}
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	status, a := h.do(req)
	if status != http.StatusOK {
		h.t.Fatalf("POST %s: HTTP %d", path, status)
	}
	return a
}

func tokenQuery(appID, secret string) url.Values {
	return url.Values{"app_id": {appID}, "secret": {secret}, "grant_type": {"client_credential"}, "version": {"1.0.0"}}
}

func (h *harness) token() string {
	h.t.Helper()
	a := h.get("/api/oauth2/access_token", tokenQuery(h.e.cfg.AppID, h.e.cfg.Secret))
	if a.code() != "0" {
		h.t.Fatalf("access_token: %v", a)
	}
	return a.str("access_token")
}

func (h *harness) ticketAnswer(tok string) answer {
	h.t.Helper()
	return h.get("/api/oauth2/api_ticket", url.Values{"app_id": {h.e.cfg.AppID}, "access_token": {tok}, "type": {"SIGN"}, "version": {"1.0.0"}})
}

func (h *harness) ticket(tok string) string {
	h.t.Helper()
	a := h.ticketAnswer(tok)
	if a.code() != "0" {
		h.t.Fatalf("api_ticket: %v", a)
	}
	ts := a["tickets"].([]any)
	return ts[0].(map[string]any)["value"].(string)
}

// credentials returns a fresh SIGN ticket.
func (h *harness) credentials() string { return h.ticket(h.token()) }

var orderSeq atomic.Int64

func newOrderNo() string {
	return "ord" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.FormatInt(orderSeq.Add(1), 10)
}

const testNonce = "kHoSxvLZGxSoFsjxlbzEoUzh5PAnTU7T"

// idBody is a signed idcardocrapp body.
func (h *harness) idBody(tk, orderNo string, img []byte, cardType string) map[string]any {
	app := h.e.cfg.AppID
	b := map[string]any{
		"appId": app, "version": "1.0.0", "nonce": testNonce, "orderNo": orderNo,
		"sign":      sign.Sign(app, orderNo, testNonce, "1.0.0", tk),
		"userId":    "user001",
		"idcardStr": base64.StdEncoding.EncodeToString(img),
	}
	if cardType != "" {
		b["cardType"] = cardType
	}
	return b
}

func (h *harness) bankBody(tk, orderNo string, img []byte) map[string]any {
	app := h.e.cfg.AppID
	return map[string]any{
		"appId": app, "version": "1.0.0", "nonce": testNonce, "orderNo": orderNo,
		"sign":        sign.Sign(app, orderNo, testNonce, "1.0.0", tk),
		"bankcardStr": base64.StdEncoding.EncodeToString(img),
	}
}

func (h *harness) submitID(tk string, img []byte, cardType string) (string, answer) {
	h.t.Helper()
	o := newOrderNo()
	return o, h.post("/api/paas/idcardocrapp", url.Values{"orderNo": {o}}, h.idBody(tk, o, img, cardType))
}

func (h *harness) submitBank(tk string, img []byte) (string, answer) {
	h.t.Helper()
	o := newOrderNo()
	return o, h.post("/api/paas/bankcardocrapp", url.Values{"orderNo": {o}}, h.bankBody(tk, o, img))
}

func (h *harness) queryValues(tk, orderNo string) url.Values {
	app := h.e.cfg.AppID
	return url.Values{
		"app_id": {app}, "order_no": {orderNo}, "nonce": {testNonce}, "version": {"1.0.0"},
		"sign": {sign.Sign(app, orderNo, "1.0.0", tk, testNonce)},
	}
}

func front(seed int64) CardSpec { return CardSpec{Kind: KindIDCard, Side: SideFront, Seed: seed} }
func back(seed int64) CardSpec  { return CardSpec{Kind: KindIDCard, Side: SideBack, Seed: seed} }
func bank(seed int64) CardSpec  { return CardSpec{Kind: KindBankCard, Seed: seed} }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
