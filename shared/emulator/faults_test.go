package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// rawGet returns the status and body of a GET, or the transport error.
func (h *harness) rawGet(path string, q url.Values) (int, []byte, error) {
	resp, err := h.cl.Get(h.srv.URL + path + "?" + q.Encode())
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func TestFaults(t *testing.T) {
	const path = "/api/oauth2/access_token"
	q := tokenQuery(DefaultAppID, DefaultSecret)
	good := func(status int, body []byte, err error) bool {
		var a answer
		return err == nil && status == 200 && json.Unmarshal(body, &a) == nil && a.code() == "0"
	}

	t.Run("5xx for the next N calls", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.e.SetFault(EndpointAccessToken, Fault{Kind: FaultStatus, Next: 2, Status: 502})
		for i := 0; i < 2; i++ {
			if status, _, err := h.rawGet(path, q); err != nil || status != 502 {
				t.Fatalf("call %d: %d %v", i, status, err)
			}
		}
		if !good(h.rawGet(path, q)) {
			t.Fatal("third call should work")
		}
		if h.e.Count("fault:5xx") != 2 || h.e.Count(EndpointAccessToken) != 3 {
			t.Errorf("counts %v", h.e.Counts())
		}
	})

	t.Run("fraction is deterministic", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.e.SetFault(EndpointAccessToken, Fault{Kind: FaultStatus, Fraction: 0.5})
		var got []int
		for i := 0; i < 6; i++ {
			status, _, _ := h.rawGet(path, q)
			got = append(got, status)
		}
		want := []int{200, 503, 200, 503, 200, 503}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("statuses %v, want %v", got, want)
			}
		}
	})

	t.Run("malformed JSON", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.e.SetFault(AllEndpoints, Fault{Kind: FaultMalformed, Next: 1})
		status, body, err := h.rawGet(path, q)
		var a answer
		if err != nil || status != 200 || json.Unmarshal(body, &a) == nil {
			t.Fatalf("want 200 with broken JSON, got %d %q %v", status, body, err)
		}
		if !good(h.rawGet(path, q)) {
			t.Fatal("second call should work")
		}
	})

	t.Run("connection reset", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.e.SetFault(EndpointAccessToken, Fault{Kind: FaultReset, Next: 1})
		if _, _, err := h.rawGet(path, q); err == nil {
			t.Fatal("want a transport error")
		}
		if !good(h.rawGet(path, q)) {
			t.Fatal("second call should work")
		}
		if h.e.Count("fault:reset") != 1 {
			t.Errorf("counts %v", h.e.Counts())
		}
	})

	t.Run("per endpoint", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.e.SetFault(EndpointIDCardOCR, Fault{Kind: FaultStatus})
		tk := h.credentials() // token and ticket unaffected
		o := newOrderNo()
		b, _ := json.Marshal(h.idBody(tk, o, front(1).JPEG(), "0"))
		for i := 0; i < 3; i++ {
			req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/paas/idcardocrapp?orderNo="+o, bytesReader(b))
			req.Header.Set("Content-Type", "application/json")
			resp, err := h.cl.Do(req)
			if err != nil || resp.StatusCode != 503 {
				t.Fatalf("call %d: %v %v", i, resp, err)
			}
			resp.Body.Close()
		}
		// Specific beats AllEndpoints; the zero Fault clears.
		h.e.SetFault(AllEndpoints, Fault{Kind: FaultMalformed})
		h.e.SetFault(EndpointIDCardOCR, Fault{})
		if status, body, _ := h.rawGet(path, q); status != 200 || json.Valid(body) {
			t.Fatalf("AllEndpoints fault not applied: %d %q", status, body)
		}
		h.e.ClearFaults()
		if a := h.post("/api/paas/idcardocrapp", nil, h.idBody(tk, o, front(1).JPEG(), "0")); a.code() != "0" {
			t.Fatalf("after clearing: %v (the faulted calls must not use the orderNo)", a)
		}
	})

	t.Run("after processing", func(t *testing.T) {
		h := newHarness(t, Config{})
		tk := h.credentials()
		h.e.SetFault(EndpointIDCardOCR, Fault{Kind: FaultReset, Next: 1, AfterProcessing: true})
		o := newOrderNo()
		b, _ := json.Marshal(h.idBody(tk, o, front(1).JPEG(), "0"))
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/paas/idcardocrapp", bytesReader(b))
		req.Header.Set("Content-Type", "application/json")
		if resp, err := h.cl.Do(req); err == nil {
			resp.Body.Close()
			t.Fatal("want a transport error")
		}
		if a := h.postRaw("/api/paas/idcardocrapp", nil, "application/json", b); a.code() != "66660000" {
			t.Fatalf("retry of a processed call: %v", a)
		}
		if a := h.get("/api/server/getOcrResult", h.queryValues(tk, o)); a.code() != "0" {
			t.Fatalf("the result exists: %v", a)
		}
	})

	t.Run("latency", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.e.SetFault(EndpointAccessToken, Fault{Latency: 150 * time.Millisecond})
		start := time.Now()
		if !good(h.rawGet(path, q)) {
			t.Fatal("latency alone must still answer")
		}
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("answered after %v", d)
		}
		// A client that gives up is not kept waiting.
		h.e.SetFault(EndpointAccessToken, Fault{Latency: time.Minute})
		cl := *h.cl
		cl.Timeout = 100 * time.Millisecond
		_, err := cl.Get(h.srv.URL + path + "?" + q.Encode())
		var ne interface{ Timeout() bool }
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("want a client timeout, got %v", err)
		}
	})

	t.Run("concurrent knobs", func(t *testing.T) {
		h := newHarness(t, Config{})
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(2)
			go func() {
				defer wg.Done()
				h.e.SetFault(EndpointAccessToken, Fault{Kind: FaultStatus, Fraction: 0.3})
				h.e.ClearFaults()
			}()
			go func() {
				defer wg.Done()
				h.rawGet(path, q)
				h.e.Counts()
			}()
		}
		wg.Wait()
	})
}

func TestCounters(t *testing.T) {
	h := newHarness(t, Config{})
	tk := h.credentials()
	o, _ := h.submitID(tk, front(1).JPEG(), "0")
	h.submitID(tk, back(1).JPEG(), "0")
	h.get("/api/server/getOcrResult", h.queryValues(tk, o))
	ob, _ := h.submitBank(tk, bank(1).JPEG())
	h.get("/api/server/getBankCardOcrResult", h.queryValues(tk, ob))
	h.get("/api/oauth2/access_token", url.Values{})
	want := map[string]int64{
		EndpointAccessToken: 2, EndpointAPITicket: 1, EndpointIDCardOCR: 2, EndpointOCRResult: 1,
		EndpointBankCardOCR: 1, EndpointBankCardResult: 1,
		"rejected:wrong_side": 1, "rejected:invalid_request": 1,
		"accepted:" + EndpointIDCardOCR: 1, "accepted:" + EndpointBankCardOCR: 1,
	}
	got := h.e.Counts()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("counts %v", got)
	}
	h.e.ResetCounts()
	if len(h.e.Counts()) != 0 || h.e.Count(EndpointAccessToken) != 0 {
		t.Errorf("after reset: %v", h.e.Counts())
	}
}

// A window fault: the ticket endpoint down for a while, starting with the
// token fetch (a partial refresh).
func TestFaultWindowStartedByAnotherEndpoint(t *testing.T) {
	clock := newClock()
	h := newHarness(t, Config{Now: clock.Now})
	h.e.SetFault(EndpointAPITicket, Fault{Kind: FaultStatus, For: 10 * time.Second, StartOn: EndpointAccessToken})
	tok := h.token() // opens the window
	ticket := func() int {
		req, _ := http.NewRequest(http.MethodGet, h.srv.URL+"/api/oauth2/api_ticket?"+url.Values{"app_id": {DefaultAppID}, "access_token": {tok}, "type": {"SIGN"}, "version": {"1.0.0"}}.Encode(), nil)
		resp, err := h.cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := ticket(); st != 503 {
		t.Errorf("inside the window: HTTP %d", st)
	}
	clock.Advance(9 * time.Second)
	if st := ticket(); st != 503 {
		t.Errorf("at 9 s: HTTP %d", st)
	}
	clock.Advance(time.Second)
	if st := ticket(); st != 200 {
		t.Errorf("after the window: HTTP %d", st)
	}
	// Without StartOn the window starts at SetFault.
	h.e.SetFault(EndpointOCRResult, Fault{Kind: FaultStatus, For: time.Second})
	if lat, kind, _ := h.e.faults.decide(EndpointOCRResult, clock.Now()); kind != FaultStatus || lat != 0 {
		t.Errorf("window from SetFault: %v", kind)
	}
	clock.Advance(time.Second)
	if _, kind, _ := h.e.faults.decide(EndpointOCRResult, clock.Now()); kind != FaultNone {
		t.Errorf("after it: %v", kind)
	}
}
