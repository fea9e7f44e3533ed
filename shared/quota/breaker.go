package quota

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/metrics"
)

// DefaultSuspension is how long an account-level error suspends a provider
// for every instance; then one request probes it again.
const DefaultSuspension = 5 * time.Minute

// Suspensions are the breaker's flags, in the quota store: every instance
// sees a provider suspended after one of them met an account-level error
// (arrears, quota used up, service not opened).
type Suspensions interface {
	Suspend(ctx context.Context, provider, reason string, until time.Time) error
	// Suspension returns a provider's flag; until is zero when none.
	Suspension(ctx context.Context, provider string) (reason string, until time.Time, err error)
}

// Breaker is ocr.Service's breaker on a Suspensions store. An instance
// reads a provider's flag at most once per CacheFor, so that the flag
// costs no store round trip per call.
type Breaker struct {
	Store    Suspensions
	For      time.Duration // [DefaultSuspension]
	CacheFor time.Duration // [5 s]
	Now      func() time.Time
	Metrics  *metrics.Recorder
	Logger   *slog.Logger

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	reason string
	until  time.Time
	read   time.Time
}

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Suspended returns why provider is suspended and for how long more; zero
// when it is not.
func (b *Breaker) Suspended(ctx context.Context, provider string) (string, time.Duration) {
	cacheFor := b.CacheFor
	if cacheFor <= 0 {
		cacheFor = 5 * time.Second
	}
	now := b.now()
	b.mu.Lock()
	c, ok := b.cache[provider]
	b.mu.Unlock()
	if !ok || now.Sub(c.read) >= cacheFor {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		reason, until, err := b.Store.Suspension(rctx, provider)
		cancel()
		if err != nil {
			reason, until = c.reason, c.until // keep what was known
		}
		c = cached{reason: reason, until: until, read: now}
		b.mu.Lock()
		if b.cache == nil {
			b.cache = map[string]cached{}
		}
		b.cache[provider] = c
		b.mu.Unlock()
	}
	if left := c.until.Sub(now); left > 0 {
		return c.reason, left
	}
	return "", 0
}

// Trip suspends provider for every instance, for For.
func (b *Breaker) Trip(ctx context.Context, provider, reason string) {
	d := b.For
	if d <= 0 {
		d = DefaultSuspension
	}
	until := b.now().Add(d)
	if err := b.Store.Suspend(context.WithoutCancel(ctx), provider, reason, until); err != nil && b.Logger != nil {
		b.Logger.WarnContext(ctx, "provider suspension not stored; this instance suspends it alone", "provider", provider, "err", err.Error())
	}
	b.mu.Lock()
	if b.cache == nil {
		b.cache = map[string]cached{}
	}
	b.cache[provider] = cached{reason: reason, until: until, read: b.now()}
	b.mu.Unlock()
	if b.Logger != nil {
		b.Logger.WarnContext(ctx, "provider suspended after an account-level error", "provider", provider, "upstreamCode", reason, "minutes", d.Minutes())
	}
	b.Metrics.Event(ctx, "provider_suspended", provider, slog.String("reason", reason))
}

// Status lists the providers this instance knows suspended, with why
// (/healthz).
func (b *Breaker) Status(ctx context.Context, providers []string) map[string]string {
	out := map[string]string{}
	for _, p := range providers {
		if reason, left := b.Suspended(ctx, p); left > 0 {
			out[p] = reason
		}
	}
	return out
}
