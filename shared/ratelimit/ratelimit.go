// Package ratelimit paces calls with token buckets kept in one instance's
// memory. Rates that are a budget for the whole deployment (a provider's
// documented QPS, a tenant's rate) are divided by the deployment's
// concurrency cap before they get here: each instance takes its share, so
// the sum over every instance stays within the budget without a shared
// store on the request path.
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"
)

// DefaultMaxWait is how long a call waits for a token before it is turned
// away.
const DefaultMaxWait = time.Second

// Limited is the answer for a call that would have waited longer than
// MaxWait: it was not paced, and may try again after RetryAfter.
type Limited struct {
	Key        string
	RetryAfter time.Duration
}

func (e *Limited) Error() string {
	return fmt.Sprintf("ratelimit: %s is over its rate; try again in %s", e.Key, e.RetryAfter.Round(time.Millisecond))
}

// Limiter holds one bucket per key. The zero value is ready to use.
type Limiter struct {
	MaxWait time.Duration    // 0: DefaultMaxWait
	Now     func() time.Time // nil: time.Now
	// Sleep waits d or until ctx ends (nil: a timer); tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error

	mu sync.Mutex
	b  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter) sleep(ctx context.Context, d time.Duration) error {
	if l.Sleep != nil {
		return l.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Wait takes one token from key's bucket, which refills at perSecond up to
// burst (at least 1). When none is left it waits for the next one, up to
// MaxWait and within ctx; a longer wait is not started and *Limited is
// returned. perSecond <= 0 means no limit.
func (l *Limiter) Wait(ctx context.Context, key string, perSecond float64, burst int) error {
	if perSecond <= 0 || math.IsInf(perSecond, 1) || math.IsNaN(perSecond) {
		return nil
	}
	capacity := float64(max(burst, 1))
	maxWait := l.MaxWait
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	if d, ok := ctx.Deadline(); ok {
		maxWait = min(maxWait, time.Until(d))
	}

	l.mu.Lock()
	if l.b == nil {
		l.b = map[string]*bucket{}
	}
	now := l.now()
	b := l.b[key]
	if b == nil {
		b = &bucket{tokens: capacity, last: now}
		l.b[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(capacity, b.tokens+el*perSecond)
		b.last = now
	}
	// Reserve: a negative balance is the queue of callers already waiting.
	wait := time.Duration((1 - b.tokens) / perSecond * float64(time.Second))
	if b.tokens >= 1 {
		wait = 0
	}
	if wait > maxWait {
		l.mu.Unlock()
		return &Limited{Key: key, RetryAfter: wait}
	}
	b.tokens--
	l.mu.Unlock()

	if wait <= 0 {
		return nil
	}
	if err := l.sleep(ctx, wait); err != nil {
		l.mu.Lock()
		b.tokens = min(capacity, b.tokens+1) // the reservation is given back
		l.mu.Unlock()
		return err
	}
	return nil
}

// Share is one instance's part of a deployment-wide rate: perSecond and
// burst divided by the concurrency cap (the most instances that can run at
// once), the burst at least 1. cap <= 0 means unknown: the whole budget.
func Share(perSecond float64, burst, cap int) (float64, int) {
	if cap <= 1 {
		return perSecond, max(burst, 1)
	}
	return perSecond / float64(cap), max(burst/cap, 1)
}
