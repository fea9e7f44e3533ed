package tickets

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/upstream"
)

// Reader caches the stored pair in memory for TTL. Concurrent callers share
// one load; a store outage is ridden out with the cached pair until that
// pair expires.
//
// When the upstream rejects the stored pair and the store has nothing newer
// (another system fetched a token with the same app id; the secret was
// rotated), the reader marks the pair rejected, asks the refresher to run now
// (Kick, at most once per KickEvery), answers tickets_unavailable at once
// without calling the upstream again with the dead ticket, and rereads the
// store every second until the refresher has stored a new pair. /healthz
// reports "rejected" meanwhile; an instance without traffic learns it from a
// self-check (Check) made for /healthz at most once per CheckEvery.
type Reader struct {
	Store  secretstore.Store
	TTL    time.Duration // TICKET_CACHE_TTL
	Now    func() time.Time
	Logger *slog.Logger
	// Kick asks the refresher to run now (nil: nobody is asked; the
	// schedule mends it).
	Kick Kicker
	// Check asks the upstream, with a call that costs nothing, whether it
	// accepts a ticket (nil: /healthz does not ask).
	Check TicketChecker
	// KickEvery and CheckEvery bound the asks per instance
	// [DefaultKickEvery, DefaultCheckEvery].
	KickEvery, CheckEvery time.Duration

	rejected  string // the SIGN ticket the upstream rejected, while stored
	lastKick  time.Time
	lastCheck time.Time

	mu       sync.Mutex
	pair     *Pair
	loadedAt time.Time
	loading  chan struct{} // closed when the load in flight ends
	loadErr  error
	degraded bool // the stored document says a refresh was left unfinished
}

// Kicker asks the refresher to run now: an asynchronous invoke of the
// refresher function (shared/kick), or the local stack's own refresher.
type Kicker interface {
	Kick(ctx context.Context) error
}

// KickFunc is a Kicker.
type KickFunc func(ctx context.Context) error

func (f KickFunc) Kick(ctx context.Context) error { return f(ctx) }

// Defaults of the rejection handling.
const (
	DefaultKickEvery  = 10 * time.Second
	DefaultCheckEvery = 30 * time.Second
	// rejectedReload: while the stored pair is known rejected, the store
	// is read again at most this often (the new pair shows up within it).
	rejectedReload = time.Second
)

// Freshness is what /healthz reports.
type Freshness string

const (
	Fresh   Freshness = "fresh"
	Stale   Freshness = "stale"
	Missing Freshness = "missing"
	// Degraded: the last refresh failed, or left a token without its
	// ticket; the refresher's next attempt mends it (see Refresher).
	Degraded Freshness = "degraded"
	// Rejected: the upstream rejects the stored pair; the refresher was
	// asked to replace it.
	Rejected Freshness = "rejected"
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
	if r.pair.Usable(now) && r.rejected == r.pair.SignTicket && now.Sub(r.loadedAt) < min(r.TTL, rejectedReload) {
		// Known dead, and the store was read a moment ago: no upstream
		// call with it, and no store read per request.
		r.mu.Unlock()
		return Pair{}, errRejected()
	}
	if r.pair.Usable(now) && now.Sub(r.loadedAt) < r.TTL && r.rejected != r.pair.SignTicket {
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
			return Pair{}, errcode.Wrap(errcode.TicketsUnavailable, ctx.Err(), "tickets not loaded in time")
		}
	}
	r.mu.Lock()
	if r.pair.Usable(r.now()) && r.rejected == r.pair.SignTicket {
		r.mu.Unlock()
		r.kick(ctx) // the refresher may not have heard yet (rate-limited)
		return Pair{}, errRejected()
	}
	defer r.mu.Unlock()
	if r.pair.Usable(r.now()) {
		return *r.pair, nil
	}
	if r.loadErr != nil {
		return Pair{}, r.loadErr
	}
	return Pair{}, errcode.Errorf(errcode.TicketsUnavailable, "no usable tickets")
}

func errRejected() error {
	return &errcode.Error{Code: errcode.TicketsUnavailable, Retryable: true,
		Message: "the upstream rejected the stored ticket; the refresher was asked to replace it"}
}

// markRejected records that the upstream rejected ticket, and asks the
// refresher to replace it.
func (r *Reader) markRejected(ctx context.Context, ticket string) {
	r.mu.Lock()
	first := r.rejected != ticket
	r.rejected = ticket
	r.mu.Unlock()
	if first && r.Logger != nil {
		r.Logger.WarnContext(ctx, "the upstream rejects the stored ticket; asking the refresher to replace it")
	}
	r.kick(ctx)
}

// kick asks the refresher to run, at most once per KickEvery per instance.
// It waits for the ask (an asynchronous invoke answers at once): a
// function frozen after its answer would never send it.
func (r *Reader) kick(ctx context.Context) {
	if r.Kick == nil {
		return
	}
	every := r.KickEvery
	if every <= 0 {
		every = DefaultKickEvery
	}
	r.mu.Lock()
	now := r.now()
	if !r.lastKick.IsZero() && now.Sub(r.lastKick) < every {
		r.mu.Unlock()
		return
	}
	r.lastKick = now
	r.mu.Unlock()
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	if err := r.Kick.Kick(kctx); err != nil {
		if r.Logger != nil {
			r.Logger.WarnContext(ctx, "could not ask the refresher to run; the schedule will", "err", err)
		}
		return
	}
	if r.Logger != nil {
		r.Logger.InfoContext(ctx, "asked the refresher to replace the rejected pair")
	}
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
		err = errcode.Errorf(errcode.TicketsUnavailable, "no tickets stored yet; the refresher has not run")
	case err != nil:
		err = errcode.Wrap(errcode.TicketsUnavailable, err, "the ticket store is unavailable")
	default:
		doc, perr := ParseDocument(b)
		degraded = perr == nil && doc.Degraded()
		if perr != nil || doc.WeBank == nil {
			err = errcode.Errorf(errcode.TicketsUnavailable, "no usable tickets stored")
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
		r.loadErr = errcode.Errorf(errcode.TicketsUnavailable, "the refresher has a new token but no SIGN ticket yet; it is retrying")
		if !r.pair.Usable(now) {
			r.pair = p
		}
	case p != nil:
		r.loadErr = errcode.Errorf(errcode.TicketsUnavailable, "the stored tickets have expired; is the refresher running?")
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
//
// A pair the upstream rejects is "rejected": known from requests, or from a
// self-check made here at most once per CheckEvery.
func (r *Reader) Freshness(ctx context.Context, interval time.Duration) Freshness {
	p, err := r.Get(ctx)
	r.mu.Lock()
	degraded := r.degraded
	rejected := r.pair != nil && r.rejected == r.pair.SignTicket && r.pair.Usable(r.now())
	r.mu.Unlock()
	if rejected {
		return Rejected
	}
	if err == nil && r.checkNow() {
		if cerr := r.Check.CheckTicket(ctx, p.SignTicket); errors.Is(cerr, upstream.ErrCredentialsRejected) {
			r.markRejected(ctx, p.SignTicket)
			return Rejected
		}
	}
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

// PairRejected reports, from memory, whether the upstream rejects the pair
// this reader holds (and the store had no newer one when it last looked).
func (r *Reader) PairRejected() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pair != nil && r.rejected == r.pair.SignTicket && r.pair.Usable(r.now())
}

// checkNow reports whether a self-check is due (and takes the turn).
func (r *Reader) checkNow() bool {
	if r.Check == nil {
		return false
	}
	every := r.CheckEvery
	if every <= 0 {
		every = DefaultCheckEvery
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if !r.lastCheck.IsZero() && now.Sub(r.lastCheck) < every {
		return false
	}
	r.lastCheck = now
	return true
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
		r.markRejected(ctx, ticket)
		return "", errRejected()
	}
	return p.SignTicket, nil
}
