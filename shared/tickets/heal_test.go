package tickets

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/upstream"
)

// checker rejects the tickets in dead.
type checker struct {
	mu    sync.Mutex
	dead  map[string]bool
	calls atomic.Int32
}

func (c *checker) CheckTicket(_ context.Context, ticket string) error {
	c.calls.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead[ticket] {
		return fmt.Errorf("rejected: %w", upstream.ErrCredentialsRejected)
	}
	return nil
}

// A rejected pair with nothing newer stored: the reader asks the refresher
// (at most once per KickEvery however many requests meet it), answers
// tickets_unavailable without handing out the dead ticket, reads the store
// at most once a second meanwhile, and serves the new pair once stored.
func TestReaderKicksTheRefresherOnARejectedPair(t *testing.T) {
	clk := &clock{T: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	now := clk.Now()
	st := &memStore{}
	storePair(t, st, Pair{AppID: "a", AccessToken: "t", SignTicket: "k", TokenExpiresAt: now.Add(time.Hour), TicketExpiresAt: now.Add(time.Hour), FetchedAt: now})
	var kicks atomic.Int32
	r := &Reader{Store: st, TTL: time.Hour, Now: clk.Now, Kick: KickFunc(func(context.Context) error { kicks.Add(1); return nil })}
	ctx := context.Background()
	if tk, err := r.Current(ctx); err != nil || tk != "k" {
		t.Fatal(tk, err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Rejected(ctx, "k"); errcode.ErrorCode(err) != errcode.TicketsUnavailable {
				t.Errorf("rejected: %v", err)
			}
		}()
	}
	wg.Wait()
	if kicks.Load() != 1 {
		t.Errorf("20 rejections made %d asks, want 1", kicks.Load())
	}
	gets := st.Gets.Load()
	for range 50 {
		if _, err := r.Current(ctx); err == nil {
			t.Fatal("the dead ticket was handed out")
		}
	}
	if st.Gets.Load() != gets {
		t.Errorf("%d store reads within a second of the last", st.Gets.Load()-gets)
	}
	if !r.PairRejected() || r.Freshness(ctx, 20*time.Minute) != Rejected {
		t.Error("not reported rejected")
	}
	// Later: asked again (rate-limited), the store read again.
	clk.Add(11 * time.Second)
	r.Current(ctx)
	if kicks.Load() != 2 || st.Gets.Load() == gets {
		t.Errorf("after 11 s: %d asks, %d reads", kicks.Load(), st.Gets.Load()-gets)
	}
	// The refresher stores a new pair: served within a second.
	storePair(t, st, Pair{AppID: "a", AccessToken: "t2", SignTicket: "k2", TokenExpiresAt: now.Add(2 * time.Hour), TicketExpiresAt: now.Add(2 * time.Hour), FetchedAt: clk.Now()})
	clk.Add(time.Second)
	if tk, err := r.Current(ctx); err != nil || tk != "k2" {
		t.Fatalf("after the heal: %q %v", tk, err)
	}
	if r.PairRejected() || r.Freshness(ctx, 20*time.Minute) != Fresh {
		t.Error("still reported rejected")
	}
}

// An instance without traffic learns of the rejection from the self-check
// its /healthz makes, at most once per CheckEvery, and asks the refresher.
func TestIdleInstanceHealthzSelfChecks(t *testing.T) {
	clk := &clock{T: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	now := clk.Now()
	st := &memStore{}
	storePair(t, st, Pair{AppID: "a", AccessToken: "t", SignTicket: "k", TokenExpiresAt: now.Add(time.Hour), TicketExpiresAt: now.Add(time.Hour), FetchedAt: now})
	c := &checker{dead: map[string]bool{}}
	var kicks atomic.Int32
	r := &Reader{Store: st, TTL: 30 * time.Second, Now: clk.Now, Check: c, Kick: KickFunc(func(context.Context) error { kicks.Add(1); return nil })}
	ctx := context.Background()
	for i := range 10 {
		if f := r.Freshness(ctx, 20*time.Minute); f != Fresh {
			t.Fatalf("%d: %s", i, f)
		}
		clk.Add(2 * time.Second)
	}
	if n := c.calls.Load(); n != 1 {
		t.Errorf("%d self-checks in 20 s, want 1", n)
	}
	c.mu.Lock()
	c.dead["k"] = true // another system's token killed it
	c.mu.Unlock()
	var got Freshness
	for range 16 { // 32 s
		clk.Add(2 * time.Second)
		if got = r.Freshness(ctx, 20*time.Minute); got == Rejected {
			break
		}
	}
	if got != Rejected || kicks.Load() != 1 || c.calls.Load() != 2 {
		t.Errorf("after 30 s: %s, %d asks, %d self-checks", got, kicks.Load(), c.calls.Load())
	}
}

// Heal runs the self-check and, with the pair rejected, replaces it once;
// its metric line names the cause. A second ask finds the new pair
// accepted and replaces nothing.
func TestHealReplacesOnceWithTheCause(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	f := &rejectingFetcher{}
	clk := &clock{T: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	r := &Refresher{Store: st, WeBank: f, Interval: 20 * time.Minute, Now: clk.Now}
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	f.dead.Store("ticket-tok1")
	if out, err := r.Heal(ctx); err != nil || out != Replaced {
		t.Fatalf("heal: %v %v", out, err)
	}
	if out, err := r.Heal(ctx); err != nil || out != Skipped {
		t.Fatalf("second heal: %v %v", out, err)
	}
	if f.Tokens.Load() != 2 {
		t.Errorf("token fetches %d, want 2", f.Tokens.Load())
	}
}

// rejectingFetcher is the test fetcher with a self-check that rejects one
// ticket.
type rejectingFetcher struct {
	fakeFetcher
	dead atomic.Value
}

func (f *rejectingFetcher) CheckTicket(_ context.Context, ticket string) error {
	if d, _ := f.dead.Load().(string); d == ticket {
		return fmt.Errorf("rejected: %w", upstream.ErrCredentialsRejected)
	}
	return nil
}
