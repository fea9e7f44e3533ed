package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock; sleeping advances it.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	return nil
}
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestWaitBurstThenPaced(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	l := &Limiter{Now: c.now, Sleep: c.sleep}
	ctx := context.Background()
	// 2/s, burst 2: two at once, then one every 500 ms; the queue may hold
	// up to MaxWait (1 s) of waiting: two more.
	for i := range 4 {
		if err := l.Wait(ctx, "k", 2, 2); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if want := []time.Duration{500 * time.Millisecond, time.Second}; len(c.slept) != 2 || c.slept[0] != want[0] || c.slept[1] != want[1] {
		t.Fatalf("slept %v, want %v", c.slept, want)
	}
	err := l.Wait(ctx, "k", 2, 2)
	var lim *Limited
	if !errors.As(err, &lim) || lim.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("fifth call: %v", err)
	}
	// Another key has its own bucket.
	if err := l.Wait(ctx, "other", 2, 2); err != nil {
		t.Fatal(err)
	}
	// Time refills the bucket.
	c.advance(3 * time.Second)
	c.slept = nil
	if err := l.Wait(ctx, "k", 2, 2); err != nil || len(c.slept) != 0 {
		t.Fatalf("after refill: %v, slept %v", err, c.slept)
	}
}

func TestWaitNoLimit(t *testing.T) {
	var l Limiter
	for range 1000 {
		if err := l.Wait(context.Background(), "k", 0, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWaitCancelledGivesBack(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	cancelled := errors.New("cancelled")
	fail := true
	l := &Limiter{Now: c.now, Sleep: func(ctx context.Context, d time.Duration) error {
		if fail {
			return cancelled
		}
		return c.sleep(ctx, d)
	}}
	ctx := context.Background()
	_ = l.Wait(ctx, "k", 1, 1) // the burst
	if err := l.Wait(ctx, "k", 1, 1); !errors.Is(err, cancelled) {
		t.Fatalf("got %v", err)
	}
	// The cancelled reservation is back: the next caller waits 1 s, not 2.
	fail = false
	if err := l.Wait(ctx, "k", 1, 1); err != nil || len(c.slept) != 1 || c.slept[0] != time.Second {
		t.Fatalf("%v, slept %v", err, c.slept)
	}
}

func TestWaitWithinDeadline(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	l := &Limiter{Now: c.now, Sleep: c.sleep}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_ = l.Wait(ctx, "k", 1, 1)
	var lim *Limited
	if err := l.Wait(ctx, "k", 1, 1); !errors.As(err, &lim) {
		t.Fatalf("a wait past the deadline was started: %v", err)
	}
}

// Real time, many goroutines: over a window, no more than burst + rate×t
// calls get through.
func TestWaitConcurrent(t *testing.T) {
	l := &Limiter{MaxWait: 50 * time.Millisecond}
	var mu sync.Mutex
	ok, limited := 0, 0
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.Wait(context.Background(), "k", 20, 5)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else {
				limited++
			}
		}()
	}
	wg.Wait()
	// 5 at once and at most one more per 50 ms of queue: ≤ 6 (a slow
	// machine may refill a few more while the goroutines start).
	if ok < 5 || ok+limited != 64 || limited == 0 {
		t.Fatalf("ok %d, limited %d", ok, limited)
	}
}

func TestShare(t *testing.T) {
	for _, tc := range []struct {
		qps       float64
		burst     int
		cap       int
		wantQPS   float64
		wantBurst int
	}{
		{20, 20, 10, 2, 2},
		{10, 10, 10, 1, 1},
		{20, 0, 0, 20, 1},
		{5, 10, 20, 0.25, 1},
	} {
		q, b := Share(tc.qps, tc.burst, tc.cap)
		if q != tc.wantQPS || b != tc.wantBurst {
			t.Errorf("Share(%v,%d,%d) = %v,%d; want %v,%d", tc.qps, tc.burst, tc.cap, q, b, tc.wantQPS, tc.wantBurst)
		}
	}
}
