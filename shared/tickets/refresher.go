package tickets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/upstream"
)

// Fetcher gets WeBank tokens and tickets (a *webank.Client).
type Fetcher interface {
	AppID() string
	AccessToken(ctx context.Context) (upstream.Credential, error)
	SignTicket(ctx context.Context, accessToken string) (upstream.Credential, error)
}

// Leaser is implemented by stores that can arbitrate between refreshers
// running at the same moment in different processes (a schedule that fires
// twice). TryLease returns held=false when another refresher holds slot.
type Leaser interface {
	TryLease(ctx context.Context, slot string, ttl time.Duration) (held bool, err error)
}

// TicketChecker is implemented by fetchers that can tell, with a call that
// costs nothing, whether the upstream accepts a SIGN ticket (a
// *webank.Client): nil if it does, an error wrapping
// upstream.ErrCredentialsRejected if it does not, any other error if it cannot
// tell.
type TicketChecker interface {
	CheckTicket(ctx context.Context, ticket string) error
}

// Refresher fetches a token, then a SIGN ticket with it, and stores both.
//
// A run first records its attempt in the tickets document: a store that
// refuses that write stops it before any token is fetched (a token it
// could not store would kill the stored pair a minute later). After a new
// token, the ticket fetch is retried for TicketPatience, while the old pair
// still serves; if it still fails, the token is stored with TicketMissing
// and the next run fetches only a ticket. A failed run marks its attempt
// failed (so the next run is not locked out by its lease) and returns an
// error (so the platform retries). After every run the stored pair is
// checked upstream (TicketChecker); a pair the upstream rejects is
// replaced however young it is.
type Refresher struct {
	Store    secretstore.Store
	WeBank   Fetcher
	Interval time.Duration // the schedule's cadence (20 minutes)
	Logger   *slog.Logger
	Metrics  *metrics.Recorder // the selfcheck metric; nil: none
	Now      func() time.Time
	// TicketPatience bounds the retries of the ticket fetch after a new
	// token [DefaultTicketPatience], and never runs within a few seconds
	// of the context's deadline.
	TicketPatience time.Duration
	// Members keep other providers' credentials in the same document
	// (the WeChat token): asked on every run, written when they changed.
	Members []Member

	mu     sync.Mutex // one refresh at a time in this process
	holder string
}

// DefaultTicketPatience: a new token leaves the old pair about a minute;
// retrying the ticket for 50 s keeps clients served across a short outage
// of the ticket endpoint and leaves time to store the token.
const DefaultTicketPatience = 50 * time.Second

// Outcome says what a refresh did.
type Outcome string

const (
	Refreshed Outcome = "refreshed"
	Skipped   Outcome = "skipped"  // the stored pair is fresh (and accepted upstream)
	Leased    Outcome = "leased"   // another refresher holds this slot
	Replaced  Outcome = "replaced" // the stored pair looked fresh but the upstream rejected it
)

// ErrNoUsablePair is returned by a run that left no usable pair stored
// (another refresher is at work, or this one failed): the platform should
// retry soon rather than wait for the next scheduled run.
var ErrNoUsablePair = errors.New("tickets: no usable pair is stored")

func (r *Refresher) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Refresher) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

func (r *Refresher) holderID() string {
	if r.holder == "" {
		r.holder = secretstore.NewHolderID()
	}
	return r.holder
}

// Due reports whether a stored pair must be replaced. A pair younger than
// half the cadence is kept: schedules fire at least once and sometimes
// twice, and a full cadence would let a slightly early timer skip a whole
// period. A pair for another appId, one without a ticket, or one that
// would expire before the next run, is replaced.
func (r *Refresher) Due(p *Pair, now time.Time) bool {
	if p == nil || p.AppID != r.WeBank.AppID() || p.SignTicket == "" || p.AccessToken == "" {
		return true
	}
	if now.Sub(p.FetchedAt) >= r.Interval/2 || p.FetchedAt.After(now.Add(time.Minute)) {
		return true
	}
	next := now.Add(r.Interval)
	return !next.Before(p.TicketExpiresAt) || !next.Before(p.TokenExpiresAt)
}

// due adds the document's attempt to Due: a stored pair is never trusted
// while an attempt to replace it is recorded, finished or not, since a
// token may have been fetched (which kills the pair a minute later).
func (r *Refresher) due(doc Document, now time.Time) bool {
	return doc.Refresh != nil || r.Due(doc.WeBank, now)
}

// Refresh runs one scheduled refresh: it skips while the stored pair is
// fresh (see Due) and accepted upstream.
func (r *Refresher) Refresh(ctx context.Context) (Outcome, error) {
	return r.refresh(ctx, false, "")
}

// CauseRejectedOnRequest is the cause of a run a request asked for after
// the upstream rejected the stored pair (Reader.Kick).
const CauseRejectedOnRequest = "rejected-on-request"

// Heal is the run a request asks for when the upstream rejected the stored
// pair and the store had nothing newer: a scheduled run (a pair that is
// fresh is not replaced blindly) whose self-check decides, and whose
// selfcheck metric line names the cause. However many instances ask, the
// lease keeps it to one replacement: later runs find the new pair accepted.
func (r *Refresher) Heal(ctx context.Context) (Outcome, error) {
	return r.refresh(ctx, false, CauseRejectedOnRequest)
}

// ForceRefresh replaces the stored pair even if it looks fresh: for an
// operator who changed the WeBank secret (which kills every token) or
// whose pair was killed by a token fetched elsewhere. It still takes the
// lease, so it is one writer among the scheduled runs. (The self-check
// after every run does the same on its own when the upstream rejects the
// stored pair.)
func (r *Refresher) ForceRefresh(ctx context.Context) (Outcome, error) {
	return r.refresh(ctx, true, "")
}

func (r *Refresher) refresh(ctx context.Context, force bool, cause string) (Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out, p, err := r.run(ctx, force)
	if err != nil || out == Leased {
		return out, err
	}
	return r.selfCheck(ctx, out, p, cause)
}

// selfCheck asks the upstream whether it accepts the stored pair, after
// every run that left one: a young pair may be dead (the secret changed
// in the console, or another system fetched a token with the same app
// id). A rejected pair is replaced at once, unless this run just fetched
// it (then only the next run tries again). Writes the selfcheck metric.
// Caller holds r.mu.
func (r *Refresher) selfCheck(ctx context.Context, out Outcome, p *Pair, cause string) (Outcome, error) {
	c, ok := r.WeBank.(TicketChecker)
	if !ok || p == nil || !p.Usable(r.now()) {
		return out, nil
	}
	log := r.logger()
	var attrs []slog.Attr
	if cause != "" {
		attrs = append(attrs, slog.String("cause", cause))
	}
	err := c.CheckTicket(ctx, p.SignTicket)
	switch {
	case err == nil:
		r.Metrics.Event(ctx, "selfcheck", "ok", attrs...)
		return out, nil
	case !errors.Is(err, upstream.ErrCredentialsRejected):
		log.WarnContext(ctx, "ticket self-check could not tell; stored pair kept", "err", err)
		r.Metrics.Event(ctx, "selfcheck", "failed", attrs...)
		return out, nil
	case out == Refreshed:
		log.ErrorContext(ctx, "the upstream rejects the pair just fetched; the next run tries again", "err", err)
		r.Metrics.Event(ctx, "selfcheck", "failed", attrs...)
		return out, fmt.Errorf("tickets: self-check of the new pair: %w", err)
	}
	log.WarnContext(ctx, "the upstream rejects the stored pair; replacing it", "err", err)
	rout, _, rerr := r.run(ctx, true)
	switch {
	case rerr != nil:
		r.Metrics.Event(ctx, "selfcheck", "failed", attrs...)
		return "", fmt.Errorf("tickets: replacing a rejected pair: %w", rerr)
	case rout == Leased:
		r.Metrics.Event(ctx, "selfcheck", "failed", attrs...)
		return Leased, fmt.Errorf("tickets: replacing a rejected pair: %w", ErrNoUsablePair)
	}
	r.Metrics.Event(ctx, "selfcheck", "replaced", attrs...)
	return Replaced, nil
}

// slot is the lease slot of the next attempt at replacing doc's pair: the
// pair's LeaseSlot, numbered past the attempts at it that failed (so a
// failed run's lease does not lock out the platform's retry).
func slot(doc Document, force bool) (lease, base string, n int) {
	base = LeaseSlot(doc.WeBank, force)
	if a := doc.Refresh; a != nil && a.Slot == base {
		n = a.N
		if a.Failed {
			n++
		}
	}
	return base + "#" + strconv.Itoa(n), base, n
}

// run is one refresh; it returns the pair stored afterwards. Caller holds
// r.mu.
func (r *Refresher) run(ctx context.Context, force bool) (Outcome, *Pair, error) {
	log := r.logger()
	now := r.now()

	doc, err := r.load(ctx)
	if err != nil {
		return "", nil, err
	}
	if !force && !r.due(doc, now) {
		log.InfoContext(ctx, "tickets fresh, refresh skipped", "age", now.Sub(doc.WeBank.FetchedAt).Round(time.Second).String())
		out, err := r.membersOnly(ctx, doc)
		return out, doc.WeBank, err
	}
	sl, base, n := slot(doc, force)
	if l, ok := r.Store.(Leaser); ok && r.Interval > 0 {
		// The lease only has to outlive one refresh: whoever comes later
		// re-reads the store below and finds the pair fresh, or the
		// attempt failed (a new slot), or, if its holder died, takes the
		// same slot once the lease has expired.
		held, err := l.TryLease(ctx, sl, leaseTTL(ctx, r.Interval))
		if err != nil {
			return "", nil, fmt.Errorf("tickets: lease: %w", err)
		}
		if !held {
			if doc.WeBank.Usable(now) && !doc.WeBank.TicketMissing {
				log.InfoContext(ctx, "another refresher holds this slot, refresh skipped")
				return Leased, doc.WeBank, nil
			}
			log.WarnContext(ctx, "another refresher holds this slot and no usable pair is stored")
			return Leased, nil, fmt.Errorf("tickets: refresh in progress elsewhere: %w", ErrNoUsablePair)
		}
		// Another refresher may have finished between our read and the lease.
		if doc, err = r.load(ctx); err != nil {
			return "", nil, err
		}
		if !force && !r.due(doc, now) {
			return Skipped, doc.WeBank, nil
		}
	}

	// Record the attempt first: a store that refuses it stops the run
	// before a token is fetched.
	doc.Refresh = &Attempt{Slot: base, N: n, Holder: r.holderID(), StartedAt: now}
	if err := r.put(ctx, doc); err != nil {
		log.ErrorContext(ctx, "the ticket store refuses writes; no token fetched", "err", err)
		return "", nil, fmt.Errorf("tickets: recording the refresh (no token fetched): %w", err)
	}

	p, err := r.fetch(ctx, &doc, force)
	if err != nil {
		doc.Refresh.Failed, doc.Refresh.Reason = true, reason(err)
		if perr := r.put(ctx, doc); perr != nil {
			log.ErrorContext(ctx, "recording the failed refresh failed too", "err", perr)
		}
		return "", nil, err
	}
	doc.WeBank, doc.Refresh = p, nil
	r.renewMembers(ctx, &doc)
	if err := r.putRetrying(ctx, doc); err != nil {
		return "", nil, err
	}
	log.InfoContext(ctx, "tickets refreshed", "tokenExpiresIn", p.TokenExpiresAt.Sub(p.FetchedAt).Round(time.Second).String(),
		"ticketExpiresIn", p.TicketExpiresAt.Sub(now).Round(time.Second).String())
	return Refreshed, p, nil
}

// fetch gets the new pair: a token (or the stored one whose ticket is
// missing, while it lives), then its ticket, retried for TicketPatience. A
// new token without a ticket is stored in doc (TicketMissing) before the
// error is returned.
func (r *Refresher) fetch(ctx context.Context, doc *Document, force bool) (*Pair, error) {
	log := r.logger()
	appID := r.WeBank.AppID()
	var token string
	var tokenAt, tokenExpires time.Time
	if p := doc.WeBank; !force && p != nil && p.TicketMissing && p.AppID == appID && p.AccessToken != "" && r.now().Before(p.TokenExpiresAt.Add(-time.Minute)) {
		token, tokenAt, tokenExpires = p.AccessToken, p.FetchedAt, p.TokenExpiresAt
		log.InfoContext(ctx, "stored token has no ticket yet; fetching only the ticket")
	} else {
		tok, err := r.WeBank.AccessToken(ctx)
		if err != nil {
			log.ErrorContext(ctx, "access token fetch failed; stored pair kept", "err", err)
			return nil, fmt.Errorf("tickets: access token: %w", err)
		}
		tokenAt = r.now()
		token, tokenExpires = tok.Value, tokenAt.Add(tok.ExpiresIn).Add(-5*time.Second) // our clock started after the upstream's
	}
	tk, err := r.ticket(ctx, token)
	if err != nil {
		var ae *upstream.Error
		if errors.As(err, &ae) && ae.CredentialsRejected && doc.WeBank != nil && doc.WeBank.AccessToken == token {
			// The stored token is dead too: the next run fetches a new one.
			doc.WeBank.TicketMissing, doc.WeBank.AccessToken = false, ""
			log.ErrorContext(ctx, "the stored token was rejected; the next run fetches a new one", "err", err)
			return nil, fmt.Errorf("tickets: SIGN ticket: %w", err)
		}
		// The new token has doomed the old pair: keep the token, so the
		// next attempt fetches only a ticket.
		doc.WeBank = &Pair{AppID: appID, AccessToken: token, TokenExpiresAt: tokenExpires, FetchedAt: tokenAt, TicketMissing: true}
		log.ErrorContext(ctx, "SIGN ticket fetch failed after a new token; token stored without a ticket", "err", err)
		return nil, fmt.Errorf("tickets: SIGN ticket: %w", err)
	}
	p := &Pair{AppID: appID, AccessToken: token, TokenExpiresAt: tokenExpires, SignTicket: tk.Value,
		TicketExpiresAt: r.now().Add(tk.ExpiresIn).Add(-5 * time.Second), FetchedAt: tokenAt}
	if p.TicketExpiresAt.After(p.TokenExpiresAt) {
		p.TicketExpiresAt = p.TokenExpiresAt // a ticket dies with its token
	}
	return p, nil
}

// ticket fetches the SIGN ticket, retrying with backoff for TicketPatience
// (less near the deadline). A rejected token is not retried.
func (r *Refresher) ticket(ctx context.Context, token string) (upstream.Credential, error) {
	patience := r.TicketPatience
	if patience <= 0 {
		patience = DefaultTicketPatience
	}
	until := time.Now().Add(patience)
	if d, ok := ctx.Deadline(); ok && d.Add(-5*time.Second).Before(until) {
		until = d.Add(-5 * time.Second)
	}
	for attempt, delay := 1, 200*time.Millisecond; ; attempt, delay = attempt+1, min(2*delay, 5*time.Second) {
		tk, err := r.WeBank.SignTicket(ctx, token)
		if err == nil {
			return tk, nil
		}
		var ae *upstream.Error
		left := time.Until(until)
		if errors.As(err, &ae) && ae.CredentialsRejected || left <= 0 || ctx.Err() != nil {
			return tk, fmt.Errorf("%w (after %d attempts)", err, attempt)
		}
		r.logger().WarnContext(ctx, "SIGN ticket fetch failed; retrying", "err", err, "attempt", attempt)
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// putRetrying stores the new pair. Its token already doomed the old pair,
// and the attempt record was written moments ago, so a failure here is
// transient: retry a few times before giving up.
func (r *Refresher) putRetrying(ctx context.Context, doc Document) error {
	var err error
	for i := range 4 {
		if err = r.put(ctx, doc); err == nil || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(time.Duration(1<<i) * 250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return err
}

// reason is what a failed attempt records: the error's text, which never
// carries a token, ticket or secret (webank and secretstore errors leave
// them out), bounded.
func reason(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// leaseTTL is how long a refresh may hold its lease: until this invocation's
// deadline and a little more (so a platform retry of a failed run is not
// locked out for long), at most half the cadence and five minutes.
func leaseTTL(ctx context.Context, interval time.Duration) time.Duration {
	ttl := min(interval/2, 5*time.Minute)
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl) + 5*time.Second; d > 0 && d < ttl {
			ttl = d
		}
	}
	return ttl
}

// LeaseSlot names the lease a refresher takes before replacing p (nil:
// nothing usable stored yet): every refresher that read the same pair and
// found it due competes for the same slot, however far apart their clocks
// or fire times are. (Slots cut from the clock, such as now/(Interval/2),
// let two runs that fire on either side of a bucket boundary both fetch a
// token, and the second token kills the first pair.) A forced refresh has
// its own slot, so a scheduled run's lease does not block an operator.
func LeaseSlot(p *Pair, force bool) string {
	kind := "refresh"
	if force {
		kind = "force"
	}
	if p == nil || p.FetchedAt.IsZero() {
		return kind + "-after-none"
	}
	return kind + "-after-" + p.FetchedAt.UTC().Format(time.RFC3339Nano)
}

// load reads the document; a missing or unreadable one is empty (to be
// replaced), a store failure is an error (nothing is fetched then: a
// refresher that cannot write must not kill the stored token).
func (r *Refresher) load(ctx context.Context) (Document, error) {
	b, err := r.Store.Get(ctx)
	if errors.Is(err, secretstore.ErrNotFound) {
		return Document{}, nil
	}
	if err != nil {
		return Document{}, fmt.Errorf("tickets: read store: %w", err)
	}
	doc, err := ParseDocument(b)
	if err != nil {
		r.logger().WarnContext(ctx, "stored tickets unreadable; replacing them")
		return Document{}, nil
	}
	return doc, nil
}
