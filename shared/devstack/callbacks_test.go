package devstack

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/cardocr/cardocr/shared/callback"
	"github.com/cardocr/cardocr/shared/emulator"
)

// testReceiver records every delivery; down makes it answer 503.
type testReceiver struct {
	secret string
	down   atomic.Bool
	mu     sync.Mutex
	got    []delivery
	tries  atomic.Int32
}

type delivery struct {
	body     callback.Body
	raw      []byte
	verified bool
}

func (rc *testReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.tries.Add(1)
	if rc.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var b callback.Body
	json.Unmarshal(raw, &b)
	err := callback.Verify(rc.secret, r.Header.Get(callback.Header), raw, callback.Tolerance, time.Now())
	rc.mu.Lock()
	rc.got = append(rc.got, delivery{b, raw, err == nil})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *testReceiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func (rc *testReceiver) waitFor(t *testing.T, n int, within time.Duration) []delivery {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(rc.deliveries()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries in %s, want %d", len(rc.deliveries()), within, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return rc.deliveries()
}

func startReceiver(t *testing.T) (*testReceiver, string) {
	rc := &testReceiver{secret: "whsec-test"}
	srv := httptest.NewServer(rc) // loopback
	t.Cleanup(srv.Close)
	return rc, srv.URL + "/hooks"
}

// One signed POST per final order: a direct success, a direct terminal
// failure, an upload; none for bad input or a replayed retry.
func TestCallbacksOnePerFinalOrder(t *testing.T) {
	rc, url := startReceiver(t)
	s, logs := startStack(t, env{"CALLBACK_URL": url, "CALLBACK_SECRET": rc.secret})
	const seed = 91
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: seed}.JPEG()
	ct, body := multipartBody(t, map[string]string{"side": "front", "orderNo": "cbDone0001"}, front)
	if st, b := do(t, s, "POST", "/v1/idcard/ocr", ct, body, s.APIKey); st != 200 {
		t.Fatalf("submit: %d %s", st, b)
	}
	ct, body = multipartBody(t, map[string]string{"side": "front", "orderNo": "cbDone0001"}, front) // a retry
	if st, b := do(t, s, "POST", "/v1/idcard/ocr", ct, body, s.APIKey); st != 200 || !strings.Contains(string(b), `"replayed":true`) {
		t.Fatalf("retry: %d %s", st, b)
	}
	back := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: seed}.JPEG()
	ct, body = multipartBody(t, map[string]string{"side": "front", "orderNo": "cbFail0001"}, back) // the wrong side
	if st, b := do(t, s, "POST", "/v1/idcard/ocr", ct, body, s.APIKey); st != 422 {
		t.Fatalf("wrong side: %d %s", st, b)
	}
	ct, body = multipartBody(t, map[string]string{"side": "sideways"}, front) // bad input: no order
	if st, _ := do(t, s, "POST", "/v1/idcard/ocr", ct, body, s.APIKey); st != 400 {
		t.Fatalf("bad input: %d", st)
	}
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: seed}.JPEG()
	tk := requestUpload(t, s, "bankcard", map[string]any{"contentType": "image/jpeg", "orderNo": "cbUpload01"})
	if st, code := postForm(t, tk, tk.Upload.Fields, img); st != 204 {
		t.Fatalf("form: %d %s", st, code)
	}
	rc.waitFor(t, 3, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // a stray fourth would come by now
	got := rc.deliveries()
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3", len(got))
	}
	by := map[string]delivery{}
	for _, d := range got {
		if !d.verified {
			t.Errorf("%s: the signature does not verify", d.body.OrderNo)
		}
		by[d.body.OrderNo+"/"+d.body.Status] = d
		if bytes.Contains(d.raw, []byte(`"files"`)) || bytes.Contains(d.raw, []byte("/9j/")) {
			t.Errorf("%s: an image in the callback", d.body.OrderNo)
		}
	}
	// Each body is what docs/openapi.yaml's webhook says.
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wh := doc.Webhooks["orderFinal"]
	if wh == nil || wh.Post == nil || wh.Post.RequestBody == nil || wh.Post.RequestBody.Value.Content.Get("application/json") == nil {
		t.Fatal("docs/openapi.yaml has no orderFinal webhook with a JSON body")
	}
	schema := wh.Post.RequestBody.Value.Content.Get("application/json").Schema
	for _, d := range got {
		var v any
		json.Unmarshal(d.raw, &v)
		if err := schema.Value.VisitJSON(v); err != nil {
			t.Errorf("%s: the body breaks the webhook's schema: %v", d.body.OrderNo, err)
		}
	}
	if d, ok := by["cbDone0001/done"]; !ok || d.body.Kind != "idcard" || !bytes.Contains(d.body.Result, []byte(emulator.Person(seed).IDNumber)) {
		t.Errorf("the success: %+v", by)
	}
	if d, ok := by["cbFail0001/failed"]; !ok || d.body.Error == nil || d.body.Error.Code != "recognition_failed" || d.body.Result != nil {
		t.Errorf("the failure: %+v", d)
	}
	if d, ok := by["cbUpload01/done"]; !ok || !bytes.Contains(d.body.Result, []byte(emulator.BankCard(seed).Number)) {
		t.Errorf("the upload: %+v", by)
	}
	if strings.Contains(logs.String(), rc.secret) || strings.Contains(logs.String(), emulator.Person(seed).IDNumber) {
		t.Error("the secret or the ID number is in the logs")
	}
}

// A receiver down for 30 s, then up, still gets the callback, once.
func TestCallbackReceiverDownThenUp(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s of a receiver down")
	}
	rc, url := startReceiver(t)
	rc.down.Store(true)
	s, _ := startStack(t, env{"CALLBACK_URL": url, "CALLBACK_SECRET": rc.secret, "CALLBACK_BACKOFF": "1s"})
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 92}.JPEG()
	ct, body := multipartBody(t, map[string]string{"orderNo": "cbLate0001"}, img)
	if st, b := do(t, s, "POST", "/v1/bankcard/ocr", ct, body, s.APIKey); st != 200 {
		t.Fatalf("submit: %d %s", st, b)
	}
	time.Sleep(30 * time.Second)
	if n := rc.tries.Load(); n < 4 {
		t.Fatalf("%d attempts in 30 s with a 1 s backoff", n)
	}
	rc.down.Store(false)
	got := rc.waitFor(t, 1, 40*time.Second)
	if got[0].body.OrderNo != "cbLate0001" || !got[0].verified {
		t.Errorf("delivery %+v", got[0])
	}
	time.Sleep(time.Second)
	if n := len(rc.deliveries()); n != 1 {
		t.Errorf("%d deliveries once up, want 1", n)
	}
}

// make run's default: the stack's own receiver, listed in the state the
// console reads.
func TestLocalReceiverListsCallbacks(t *testing.T) {
	s, _ := startStack(t, env{"CALLBACK_URL": "local"})
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 93}.JPEG()
	ct, body := multipartBody(t, map[string]string{"orderNo": "cbLocal001"}, img)
	if st, b := do(t, s, "POST", "/v1/bankcard/ocr", ct, body, s.APIKey); st != 200 {
		t.Fatalf("submit: %d %s", st, b)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Callbacks()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cb := s.Callbacks()
	if len(cb) != 1 || cb[0].OrderNo != "cbLocal001" || !cb[0].Verified || cb[0].Status != "done" {
		t.Fatalf("received %+v", cb)
	}
	resp, err := http.Get(s.URL + "/_local/state")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct{ Callbacks []Received }
	json.NewDecoder(resp.Body).Decode(&st)
	if len(st.Callbacks) != 1 || st.Callbacks[0].OrderNo != "cbLocal001" {
		t.Errorf("state lists %+v", st.Callbacks)
	}
}

// An https-only rule holds at start: a plain http URL that is not the
// stack's own is refused, and so is a URL without a secret.
func TestCallbackConfigRefused(t *testing.T) {
	for _, e := range []env{
		{"CALLBACK_URL": "http://hooks.example.com/x", "CALLBACK_SECRET": "s"},
		{"CALLBACK_URL": "https://hooks.example.com/x"},
	} {
		e["PORT"] = "0"
		_, err := Start(t.Context(), Options{Getenv: e.get, Dir: t.TempDir(), Stdout: io.Discard, Logs: io.Discard})
		if err == nil {
			t.Errorf("%v: started", e)
		}
	}
}
