package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/webank"
)

// Fetcher gets WeBank tokens and tickets (a *webank.Client).
type Fetcher interface {
	AppID() string
	AccessToken(ctx context.Context) (webank.Token, error)
	SignTicket(ctx context.Context, accessToken string) (webank.Ticket, error)
}

// Leaser is implemented by stores that can arbitrate between refreshers
// running at the same moment in different processes (a schedule that fires
// twice). TryLease returns held=false when another refresher holds slot.
type Leaser interface {
	TryLease(ctx context.Context, slot string, ttl time.Duration) (held bool, err error)
}

// Refresher fetches a token, then a SIGN ticket with it, and stores both.
type Refresher struct {
	Store    secretstore.Store
	WeBank   Fetcher
	Interval time.Duration // the schedule's cadence (20 minutes)
	Logger   *slog.Logger
	Now      func() time.Time
	// TicketAttempts bounds how often the ticket fetch is tried after a new
	// token was fetched (the new token has already doomed the stored pair,
	// so giving up early is the worst outcome). Default 3.
	TicketAttempts int
	// WeChat, when set, keeps the WeChat stable token in the same document
	// (wechat.go): asked in normal mode on every run, written when it changed.
	WeChat WeChatFetcher

	mu sync.Mutex // one refresh at a time in this process
}

// Outcome says what a refresh did.
type Outcome string

const (
	Refreshed Outcome = "refreshed"
	Skipped   Outcome = "skipped" // the stored pair is fresh
	Leased    Outcome = "leased"  // another refresher holds this slot
)

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

// Due reports whether a stored pair must be replaced. A pair younger than
// half the cadence is kept: schedules fire at least once and sometimes
// twice, and a full cadence would let a slightly early timer skip a whole
// period. A pair for another appId, or one that would expire before the
// next run, is replaced.
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

// Refresh runs one scheduled refresh: it skips while the stored pair is
// fresh (see Due). It never writes unless both the token and the ticket
// were fetched, so a failure leaves the stored pair untouched.
func (r *Refresher) Refresh(ctx context.Context) (Outcome, error) {
	return r.refresh(ctx, false)
}

// ForceRefresh replaces the stored pair even if it looks fresh: for an
// operator who changed the WeBank secret (which kills every token) or
// whose pair was killed by a token fetched elsewhere. It still takes the
// lease, so it is one writer among the scheduled runs.
func (r *Refresher) ForceRefresh(ctx context.Context) (Outcome, error) {
	return r.refresh(ctx, true)
}

func (r *Refresher) refresh(ctx context.Context, force bool) (Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.logger()
	now := r.now()

	doc, err := r.load(ctx)
	if err != nil {
		return "", err
	}
	if !force && !r.Due(doc.WeBank, now) {
		log.InfoContext(ctx, "tickets fresh, refresh skipped", "age", now.Sub(doc.WeBank.FetchedAt).Round(time.Second).String())
		return r.weChatOnly(ctx, doc, now)
	}
	if l, ok := r.Store.(Leaser); ok && r.Interval > 0 {
		// The lease only has to outlive one refresh: whoever comes later
		// re-reads the store below and finds the pair fresh (or, after a
		// failed refresh, takes a new lease once this one has expired).
		held, err := l.TryLease(ctx, LeaseSlot(doc.WeBank, force), leaseTTL(ctx, r.Interval))
		if err != nil {
			return "", fmt.Errorf("tickets: lease: %w", err)
		}
		if !held {
			log.InfoContext(ctx, "another refresher holds this slot, refresh skipped")
			return Leased, nil
		}
		// Another refresher may have finished between our read and the lease.
		if doc, err = r.load(ctx); err != nil {
			return "", err
		}
		if !force && !r.Due(doc.WeBank, now) {
			return Skipped, nil
		}
	}

	tok, err := r.WeBank.AccessToken(ctx)
	if err != nil {
		log.ErrorContext(ctx, "access token fetch failed; stored pair kept", "err", err)
		return "", fmt.Errorf("tickets: access token: %w", err)
	}
	tokenAt := r.now()
	attempts := r.TicketAttempts
	if attempts <= 0 {
		attempts = 3
	}
	var tk webank.Ticket
	for i := 0; ; i++ {
		tk, err = r.WeBank.SignTicket(ctx, tok.Value)
		if err == nil {
			break
		}
		if i+1 >= attempts || ctx.Err() != nil {
			log.ErrorContext(ctx, "SIGN ticket fetch failed after a new token; stored pair kept", "err", err, "attempts", i+1)
			return "", fmt.Errorf("tickets: SIGN ticket: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(i+1) * 200 * time.Millisecond):
		}
	}
	p := &Pair{
		AppID:           r.WeBank.AppID(),
		AccessToken:     tok.Value,
		TokenExpiresAt:  tokenAt.Add(tok.ExpiresIn),
		SignTicket:      tk.Value,
		TicketExpiresAt: r.now().Add(tk.ExpiresIn),
		FetchedAt:       tokenAt,
	}
	// Seconds of safety: our clock started after the upstream's.
	p.TokenExpiresAt = p.TokenExpiresAt.Add(-5 * time.Second)
	p.TicketExpiresAt = p.TicketExpiresAt.Add(-5 * time.Second)
	if p.TicketExpiresAt.After(p.TokenExpiresAt) {
		p.TicketExpiresAt = p.TokenExpiresAt // a ticket dies with its token
	}
	doc.WeBank = p
	r.refreshWeChat(ctx, &doc)
	b, err := json.Marshal(doc)
	if err != nil {
		return "", fmt.Errorf("tickets: encode: %w", err)
	}
	if err := r.Store.Put(ctx, b); err != nil {
		log.ErrorContext(ctx, "storing the new pair failed", "err", err)
		return "", fmt.Errorf("tickets: store: %w", err)
	}
	log.InfoContext(ctx, "tickets refreshed", "tokenExpiresIn", tok.ExpiresIn.String(), "ticketExpiresIn", tk.ExpiresIn.String())
	return Refreshed, nil
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
