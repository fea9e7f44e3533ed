package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/callback"
)

// CallbacksPath is the local stack's own callback receiver: CALLBACK_URL=local
// (make run's default) sends callbacks here, it verifies their signature
// as docs/callbacks.md shows, and the console lists what it received.
const CallbacksPath = "/_local/callbacks"

// localQueue stands in for SQS/CMQ: a message is handed to the local
// resultfetch after its delay. What resultfetch fails is a dead letter
// (logged), as the platform's dead-letter queue would get it.
type localQueue struct {
	evidence func() *Evidence
	log      *slog.Logger
	ctx      context.Context
	wg       *sync.WaitGroup
	mu       sync.Mutex
	closed   bool
}

func (q *localQueue) Send(_ context.Context, body []byte, delay time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return context.Canceled
	}
	msg := append([]byte(nil), body...)
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-q.ctx.Done():
			return
		case <-t.C:
		}
		ev := q.evidence()
		if ev == nil {
			return
		}
		if _, err := ev.Handler.Handle(q.ctx, msg); err != nil && q.ctx.Err() == nil {
			q.log.ErrorContext(q.ctx, "queue message failed: a dead letter (a cloud queue would redeliver it, then move it to its dead-letter queue)", "err", err)
		}
	}()
	return nil
}

func (q *localQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// Received is one callback the local receiver got.
type Received struct {
	OrderNo    string    `json:"orderNo"`
	Kind       string    `json:"kind"`
	Status     string    `json:"status"`
	Verified   bool      `json:"verified"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// receiver is the local callback receiver.
type receiver struct {
	secret string
	mu     sync.Mutex
	got    []Received
}

func newSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	verr := callback.Verify(rc.secret, r.Header.Get(callback.Header), body, callback.Tolerance, time.Now())
	var b callback.Body
	json.Unmarshal(body, &b)
	rc.mu.Lock()
	rc.got = append(rc.got, Received{OrderNo: b.OrderNo, Kind: b.Kind, Status: b.Status, Verified: verr == nil, ReceivedAt: time.Now().UTC()})
	rc.mu.Unlock()
	if verr != nil {
		w.WriteHeader(http.StatusBadRequest) // a receiver refuses what does not verify
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Callbacks lists what the local receiver got, newest last.
func (s *Stack) Callbacks() []Received {
	if s.receiver == nil {
		return nil
	}
	s.receiver.mu.Lock()
	defer s.receiver.mu.Unlock()
	return append([]Received(nil), s.receiver.got...)
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
