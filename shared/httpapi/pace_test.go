package httpapi

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/ratelimit"
	"github.com/cardocr/cardocr/shared/tenants"
)

// A tenant's rate from the tenants document, shared out over the
// concurrency cap: 4/s over 2 instances is 2/s and a burst of 2 here;
// beyond what a second's wait allows, 429 busy with Retry-After, and the
// service is not called. Another tenant has its own bucket.
func TestTenantRate(t *testing.T) {
	var doc tenants.Doc
	slow, err := doc.Add("slow", nil, 0, tenants.Rate{PerSecond: 4, Burst: 4})
	if err != nil {
		t.Fatal(err)
	}
	free, err := doc.Add("free", nil, 0, tenants.Rate{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1e9, 0)
	var slept time.Duration
	pace := &ratelimit.Limiter{Now: func() time.Time { return now },
		Sleep: func(_ context.Context, d time.Duration) error { slept += d; return nil }}
	cards := &stubCards{}
	srv := httptest.NewServer(New(Options{IDCards: cards, Tenants: &tenants.Directory{Doc: doc}, Pace: pace, ConcurrencyCap: 2,
		Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	get := func(key string) (int, string, string) {
		st, h, body := call(t, srv, "GET", "/v1/idcard/results/o1", "", "", key)
		return st, h.Get("Retry-After"), string(body)
	}
	// Burst 2, then two more that wait 0.5 s and 1 s: a second's queue.
	for i := range 4 {
		if st, _, body := get(slow); st != 200 {
			t.Fatalf("call %d: %d %s", i, st, body)
		}
	}
	if slept != 1500*time.Millisecond {
		t.Errorf("waited %s in all, want 1.5s", slept)
	}
	st, retry, body := get(slow)
	if st != 429 || !strings.Contains(body, `"code":"busy"`) || retry != "2" {
		t.Errorf("over the rate: %d Retry-After %q %s", st, retry, body)
	}
	if n := cards.calls.Load(); n != 4 {
		t.Errorf("service called %d times, want 4", n)
	}
	for range 10 {
		if st, _, body := get(free); st != 200 {
			t.Fatalf("a tenant without a rate: %d %s", st, body)
		}
	}
}
