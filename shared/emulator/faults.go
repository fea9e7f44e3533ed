package emulator

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// FaultKind is a way to answer a call badly.
type FaultKind string

const (
	FaultNone FaultKind = ""
	// FaultStatus answers with an HTTP 5xx status (Fault.Status, default
	// 503) and an HTML body, as a gateway in front of the API would.
	FaultStatus FaultKind = "5xx"
	// FaultMalformed answers 200 with a truncated JSON body.
	FaultMalformed FaultKind = "malformed"
	// FaultReset hijacks the connection and closes it with SO_LINGER 0,
	// so the client sees a TCP reset instead of an answer.
	FaultReset FaultKind = "reset"
)

// Fault describes how to misbehave on one endpoint (or on AllEndpoints).
type Fault struct {
	// Latency is added before every call is answered while the fault is
	// set (the wait ends early if the client goes away).
	Latency time.Duration
	// Kind is applied to the next Next calls, or to a Fraction of the
	// calls (deterministically: 0.5 is every second call), or, when both
	// are zero, to every call until the fault is replaced or cleared.
	Kind     FaultKind
	Next     int
	Fraction float64
	Status   int // HTTP status for FaultStatus [503]
	// AfterProcessing performs the call first (a token is issued, an order
	// number used up) and only then breaks the answer: the case where a
	// client cannot know whether its call took effect.
	AfterProcessing bool
	// For limits the fault to a window of this long (emulator clock): from
	// SetFault, or from the next call of StartOn when that names an
	// endpoint ("the ticket endpoint is down for 10 s, starting with the
	// token fetch"). Zero: no window.
	For     time.Duration
	StartOn string
}

type faultState struct {
	f         Fault
	remaining int
	acc       float64
	until     time.Time // end of the For window; zero until it starts
}

type faults struct {
	mu         sync.Mutex
	byEndpoint map[string]*faultState
}

// SetFault sets (replacing any previous one) the fault of an endpoint name
// (EndpointIDCardOCR, …), or of AllEndpoints for endpoints without a fault
// of their own. The zero Fault clears it. Safe to call while serving.
func (e *Emulator) SetFault(endpoint string, f Fault) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if f == (Fault{}) {
		delete(e.faults.byEndpoint, endpoint)
		return
	}
	st := &faultState{f: f, remaining: f.Next}
	if f.For > 0 && f.StartOn == "" {
		st.until = e.now().Add(f.For)
	}
	e.faults.byEndpoint[endpoint] = st
}

// ClearFaults removes every fault.
func (e *Emulator) ClearFaults() {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	clear(e.faults.byEndpoint)
}

// decide returns the latency and the fault kind to apply to this call.
func (fs *faults) decide(endpoint string, now time.Time) (latency time.Duration, kind FaultKind, f Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, st := range fs.byEndpoint { // windows that this call opens
		if st.f.For > 0 && st.f.StartOn == endpoint && st.until.IsZero() {
			st.until = now.Add(st.f.For)
		}
	}
	st := fs.byEndpoint[endpoint]
	if st == nil {
		st = fs.byEndpoint[AllEndpoints]
	}
	if st == nil {
		return 0, FaultNone, Fault{}
	}
	f = st.f
	if f.For > 0 && (st.until.IsZero() || !now.Before(st.until)) {
		return 0, FaultNone, Fault{} // outside its window
	}
	if f.Kind == FaultNone {
		return f.Latency, FaultNone, f
	}
	switch {
	case f.Next > 0:
		if st.remaining > 0 {
			st.remaining--
			kind = f.Kind
		}
	case f.Fraction > 0:
		st.acc += f.Fraction
		if st.acc >= 1 {
			st.acc--
			kind = f.Kind
		}
	default:
		kind = f.Kind
	}
	return f.Latency, kind, f
}

func (e *Emulator) withFaults(w http.ResponseWriter, r *http.Request, name string, h http.HandlerFunc) {
	latency, kind, f := e.faults.decide(name, e.now())
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if kind == FaultNone {
		h(w, r)
		return
	}
	e.count("fault:" + string(kind))
	if f.AfterProcessing {
		h(&discardWriter{h: http.Header{}}, r)
	}
	switch kind {
	case FaultStatus:
		status := f.Status
		if status < 500 || status > 599 {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("<html><body><h1>" + http.StatusText(status) + "</h1></body></html>\n"))
	case FaultMalformed:
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"code":"0","msg":"请求成功","transactionTime":"2021062117`))
	case FaultReset:
		resetConnection(w)
	}
}

// resetConnection closes the client's connection with a TCP RST.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // the server drops the connection
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// discardWriter swallows an answer computed only for its side effects.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
