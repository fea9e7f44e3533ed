package tickets

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/secretstore"
)

// Reader caches the stored pair in memory for TTL. Concurrent callers share
// one load; a store outage is ridden out with the cached pair until that
// pair expires.
type Reader struct {
	Store  secretstore.Store
	TTL    time.Duration // TICKET_CACHE_TTL
	Now    func() time.Time
	Logger *slog.Logger

	mu       sync.Mutex
	pair     *Pair
	loadedAt time.Time
	loading  chan struct{} // closed when the load in flight ends
	loadErr  error
	degraded bool // the stored document says a refresh was left unfinished
}

// Freshness is what /healthz reports.
type Freshness string

const (
	Fresh   Freshness = "fresh"
	Stale   Freshness = "stale"
	Missing Freshness = "missing"
	// Degraded: the last refresh failed, or left a token without its
	// ticket; the refresher's next attempt mends it (see Refresher).
	Degraded Freshness = "degraded"
)

func (r *Reader) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Get returns a usable pair, or a tickets_unavailable error.
func (r *Reader) Get(ctx context.Context) (Pair, error) {
	r.mu.Lock()
	now := r.now()
	if r.pair.Usable(now) && now.Sub(r.loadedAt) < r.TTL {
		p := *r.pair
		r.mu.Unlock()
		return p, nil
	}
	wait := r.loading
	if wait == nil {
		wait = make(chan struct{})
		r.loading = wait
		r.mu.Unlock()
		r.load(ctx, wait)
	} else {
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Pair{}, domain.Wrap(domain.TicketsUnavailable, ctx.Err(), "tickets not loaded in time")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pair.Usable(r.now()) {
		return *r.pair, nil
	}
	if r.loadErr != nil {
		return Pair{}, r.loadErr
	}
	return Pair{}, domain.Errorf(domain.TicketsUnavailable, "no usable tickets")
}

// load reads the store once and publishes the result to every waiter. On a
// store error the cached pair stays in use while it is still usable.
func (r *Reader) load(ctx context.Context, done chan struct{}) {
	// The load must not fail for every waiter because the first caller's
	// context ended; bound it on its own.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	b, err := r.Store.Get(lctx)
	var p *Pair
	degraded := false
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		err = domain.Errorf(domain.TicketsUnavailable, "no tickets stored yet; the refresher has not run")
	case err != nil:
		err = domain.Wrap(domain.TicketsUnavailable, err, "the ticket store is unavailable")
	default:
		doc, perr := ParseDocument(b)
		degraded = perr == nil && doc.Degraded()
		if perr != nil || doc.WeBank == nil {
			err = domain.Errorf(domain.TicketsUnavailable, "no usable tickets stored")
		} else {
			p = doc.WeBank
		}
	}
	r.mu.Lock()
	if err == nil || p != nil {
		r.degraded = degraded
	}
	now := r.now()
	switch {
	case p != nil && p.Usable(now):
		r.pair, r.loadedAt, r.loadErr = p, now, nil
	case p != nil && p.TicketMissing:
		r.loadErr = domain.Errorf(domain.TicketsUnavailable, "the refresher has a new token but no SIGN ticket yet; it is retrying")
		if !r.pair.Usable(now) {
			r.pair = p
		}
	case p != nil:
		r.loadErr = domain.Errorf(domain.TicketsUnavailable, "the stored tickets have expired; is the refresher running?")
		if !r.pair.Usable(now) {
			r.pair = p
		}
	default:
		r.loadErr = err
		if r.pair.Usable(now) {
			// Keep serving the cached pair through the outage, but look
			// again soon rather than after a whole TTL.
			r.loadedAt = now.Add(-r.TTL).Add(time.Second)
			if r.Logger != nil {
				r.Logger.WarnContext(ctx, "ticket store unavailable; serving the cached pair", "err", err)
			}
		}
	}
	r.loading = nil
	r.mu.Unlock()
	close(done)
}

// Invalidate drops the cached pair if it is still the one a caller saw
// rejected, so that many concurrent rejections cause one reload.
func (r *Reader) Invalidate(rejected Pair) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pair != nil && r.pair.SignTicket == rejected.SignTicket {
		r.loadedAt = time.Time{}
	}
}

// Freshness tells /healthz how the pair looks, loading it if needed.
// interval is the refresher's cadence: a pair older than twice that is
// stale (the refresher is not running).
func (r *Reader) Freshness(ctx context.Context, interval time.Duration) Freshness {
	p, err := r.Get(ctx)
	r.mu.Lock()
	degraded := r.degraded
	r.mu.Unlock()
	if degraded {
		return Degraded
	}
	if err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.pair != nil {
			return Stale
		}
		return Missing
	}
	if r.now().Sub(p.FetchedAt) > 2*interval {
		return Stale
	}
	return Fresh
}

// Current returns the stored SIGN ticket (the reader as the WeBank
// provider's credential source).
func (r *Reader) Current(ctx context.Context) (string, error) {
	p, err := r.Get(ctx)
	if err != nil {
		return "", err
	}
	return p.SignTicket, nil
}

// Rejected is told about a ticket the upstream refused: it reloads the pair
// from the store and returns its ticket to retry once with, or
// tickets_unavailable when the store holds no other one (the pair is dead:
// a token fetched elsewhere, a rotated secret; only the refresher can mend
// that). Many concurrent rejections of one ticket cause one reload.
func (r *Reader) Rejected(ctx context.Context, ticket string) (string, error) {
	r.Invalidate(Pair{SignTicket: ticket})
	p, err := r.Get(ctx)
	if err != nil {
		return "", err
	}
	if p.SignTicket == ticket {
		return "", &domain.Error{Code: domain.TicketsUnavailable, Retryable: true,
			Message: "the upstream rejected the stored ticket; the refresher has not replaced it yet"}
	}
	return p.SignTicket, nil
}
