package wechat

import (
	"context"
	"errors"
	"fmt"
	"github.com/cardocr/cardocr/shared/upstream"
	"log/slog"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tickets"
)

// The WeChat stable access token (docs/protocol.md §7) lives in the tickets
// document under "wechat", written by the same one writer (the tickets
// Refresher, through TokenKeeper as one of its Members).
//
// Policy:
//   - The refresher calls cgi-bin/stable_token in normal mode on every run.
//     Normal mode returns the platform's current token and invalidates
//     nothing, so a schedule that fires twice costs nothing. It writes only
//     when the token changed.
//   - Only the refresher ever asks for force_refresh (which kills the
//     current token for every instance at once), and only through
//     TokenKeeper.Force, which runs when an operator or the local stack reports a
//     40001 on the token the platform still hands out; never twice within
//     30 s (the time of the last forced refresh is stored with the token).
//   - Readers cache the stored token until five minutes before it expires,
//     and on 40001/42001/40014 reload it from the store and retry once.
//     Readers never force a refresh. When the store holds nothing newer
//     than the rejected or expiring token, a reader given Fallback may ask
//     stable_token in normal mode itself (harmless: it returns the same
//     current token to everybody); it keeps that token in memory only.

// Member is the tickets document member holding the WeChat token.
const Member = "wechat"

// StoredToken is the stored WeChat stable access token.
type StoredToken struct {
	AppID       string    `json:"appId"`
	AccessToken string    `json:"accessToken"`
	ExpiresAt   time.Time `json:"expiresAt"`
	FetchedAt   time.Time `json:"fetchedAt"`
	ForcedAt    time.Time `json:"forcedAt,omitzero"` // the last force_refresh
}

// TokenMargin is how long before its expiry a token is no longer handed
// out from a reader's cache (the platform renews stable tokens then).
const TokenMargin = 5 * time.Minute

// Usable reports whether the token can still be used at now.
func (t *StoredToken) Usable(now time.Time) bool {
	return t != nil && t.AccessToken != "" && now.Before(t.ExpiresAt)
}

// fresh reports whether the token is outside its last five minutes.
func (t *StoredToken) fresh(now time.Time) bool {
	return t.Usable(now) && now.Before(t.ExpiresAt.Add(-TokenMargin))
}

// StoredTokenOf returns the WeChat token stored in doc, nil when there is none.
func StoredTokenOf(doc tickets.Document) (*StoredToken, error) {
	var t StoredToken
	ok, err := doc.Member(Member, &t)
	if !ok || err != nil {
		return nil, err
	}
	return &t, nil
}

// TokenFetcher gets WeChat stable tokens (a *Client).
type TokenFetcher interface {
	AppID() string
	StableToken(ctx context.Context, force bool) (upstream.Credential, error)
}

// TokenKeeper is the refresher's side of the policy: a tickets.Member that
// asks stable_token in normal mode on every run and stores the token when
// it changed, and the only place a forced refresh is made (Force).
type TokenKeeper struct {
	Fetcher   TokenFetcher
	Refresher *tickets.Refresher // for Force: the one writer's lock, lease and store
	Now       func() time.Time
	Logger    *slog.Logger
}

func (k *TokenKeeper) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *TokenKeeper) logger() *slog.Logger {
	if k.Logger != nil {
		return k.Logger
	}
	return slog.Default()
}

// Renew asks stable_token in normal mode and puts the token in doc when it
// is not the stored one. A failure is logged and changes nothing: it never
// stops the WeBank refresh.
func (k *TokenKeeper) Renew(ctx context.Context, doc *tickets.Document) bool {
	log := k.logger()
	old, err := StoredTokenOf(*doc)
	if err != nil {
		log.WarnContext(ctx, "stored WeChat token unreadable; replacing it")
		old = nil
	}
	tok, err := k.Fetcher.StableToken(ctx, false)
	if err != nil {
		log.ErrorContext(ctx, "WeChat stable token fetch failed; stored token kept", "err", err)
		return false
	}
	now := k.now()
	appID := k.Fetcher.AppID()
	if old != nil && old.AppID == appID && old.AccessToken == tok.Value {
		return false
	}
	t := &StoredToken{AppID: appID, AccessToken: tok.Value, ExpiresAt: now.Add(tok.ExpiresIn - 5*time.Second), FetchedAt: now}
	if old != nil && old.AppID == t.AppID {
		t.ForcedAt = old.ForcedAt
	}
	if err := doc.SetMember(Member, t); err != nil {
		log.ErrorContext(ctx, "WeChat token not stored", "err", err)
		return false
	}
	log.InfoContext(ctx, "WeChat token renewed", "expiresIn", t.ExpiresAt.Sub(t.FetchedAt).Round(time.Second).String())
	return true
}

// ErrStoredForceTooSoon: a forced WeChat refresh was asked for within 30 s
// of the previous one (recorded in the store).
var ErrStoredForceTooSoon = errors.New("wechat: force refresh within 30 s of the previous one")

// Force replaces the WeChat token with force_refresh: every instance
// holding the old one gets 40001 and reloads. Use it only when the token
// the platform hands out in normal mode is itself rejected with 40001 (a
// leaked token, an upstream fault). It refuses within 30 s of the previous
// forced refresh (recorded in the store) and when another refresher holds
// the lease.
func (k *TokenKeeper) Force(ctx context.Context) error {
	r := k.Refresher
	if r == nil || k.Fetcher == nil {
		return errors.New("wechat: token keeper is not configured")
	}
	tooSoon := func(doc tickets.Document) bool {
		old, _ := StoredTokenOf(doc)
		now := k.now()
		return old != nil && !old.ForcedAt.IsZero() && now.Sub(old.ForcedAt) < ForceRefreshSpacing && !old.ForcedAt.After(now)
	}
	doc, err := r.Load(ctx)
	if err != nil {
		return err
	}
	if tooSoon(doc) {
		return ErrStoredForceTooSoon
	}
	var expiresIn time.Duration
	err = r.Update(ctx, fmt.Sprintf("wechat-force-%d", k.now().Unix()/30), ForceRefreshSpacing, func(doc *tickets.Document) error {
		if tooSoon(*doc) {
			return ErrStoredForceTooSoon
		}
		tok, err := k.Fetcher.StableToken(ctx, true)
		if err != nil {
			k.logger().ErrorContext(ctx, "WeChat forced refresh failed", "err", err)
			return fmt.Errorf("wechat: force refresh: %w", err)
		}
		at := k.now()
		expiresIn = tok.ExpiresIn
		return doc.SetMember(Member, &StoredToken{AppID: k.Fetcher.AppID(), AccessToken: tok.Value,
			ExpiresAt: at.Add(tok.ExpiresIn - 5*time.Second), FetchedAt: at, ForcedAt: at})
	})
	if errors.Is(err, tickets.ErrLeaseHeld) {
		return ErrStoredForceTooSoon
	}
	if err != nil {
		return err
	}
	k.logger().WarnContext(ctx, "WeChat token force-refreshed", "expiresIn", expiresIn.String())
	return nil
}

// TokenReader hands out the stored WeChat token, cached in memory until
// five minutes before it expires. Concurrent callers share one load.
type TokenReader struct {
	Store secretstore.Store
	AppID string // the configured WeChat appid: a token of another app is not used
	// Fallback, when set, is asked in normal mode (never forced) when the
	// store holds no token usable for five more minutes, or only the one
	// just rejected. Leave nil to rely on the refresher alone.
	Fallback TokenFetcher
	Now      func() time.Time
	Logger   *slog.Logger

	mu      sync.Mutex
	tok     *StoredToken
	loading chan struct{}
	loadErr error
	dead    string // a rejected token nothing could replace, and when
	deadAt  time.Time
	bad     [8]string // the last tokens WeChat rejected: never handed out again
	nbad    int
}

// isBad reports whether WeChat rejected tok before. Caller holds r.mu.
func (r *TokenReader) isBad(tok string) bool {
	for _, b := range r.bad {
		if b != "" && b == tok {
			return true
		}
	}
	return false
}

func (r *TokenReader) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *TokenReader) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Current returns a token to call WeChat with.
func (r *TokenReader) Current(ctx context.Context) (string, error) {
	return r.get(ctx, "")
}

// Rejected is called with a token WeChat refused (40001/42001/40014). It
// returns another token to retry once with, or an error when none is to
// be had. Many concurrent rejections of one token cause one reload.
func (r *TokenReader) Rejected(ctx context.Context, token string) (string, error) {
	return r.get(ctx, token)
}

// deadFor is how long a token that nothing could replace is not reloaded
// for again (every request would otherwise reload).
const deadFor = 5 * time.Second

func (r *TokenReader) get(ctx context.Context, rejected string) (string, error) {
	r.mu.Lock()
	now := r.now()
	if t := r.tok; t.fresh(now) && t.AccessToken != rejected {
		r.mu.Unlock()
		return t.AccessToken, nil
	}
	if rejected != "" && rejected == r.dead && now.Sub(r.deadAt) < deadFor {
		r.mu.Unlock()
		return "", errNoNewer()
	}
	if rejected != "" && !r.isBad(rejected) {
		r.bad[r.nbad%len(r.bad)] = rejected
		r.nbad++
	}
	wait := r.loading
	if wait == nil {
		wait = make(chan struct{})
		r.loading = wait
		r.mu.Unlock()
		err := r.load(ctx, rejected)
		r.mu.Lock()
		r.loading, r.loadErr = nil, err
		if rejected != "" && (r.tok == nil || r.tok.AccessToken == rejected) {
			r.dead, r.deadAt = rejected, r.now()
		}
		r.mu.Unlock()
		close(wait)
	} else {
		r.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return "", errcode.Wrap(errcode.TicketsUnavailable, ctx.Err(), "WeChat token not loaded in time")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.tok
	switch {
	case t.Usable(r.now()) && t.AccessToken != rejected:
		return t.AccessToken, nil
	case rejected != "" && t != nil && t.AccessToken == rejected:
		return "", errNoNewer()
	case r.loadErr != nil:
		return "", r.loadErr
	}
	return "", errcode.Errorf(errcode.TicketsUnavailable, "no usable WeChat token")
}

func errNoNewer() error {
	return &errcode.Error{Code: errcode.TicketsUnavailable, Retryable: true,
		Message: "WeChat rejected the stored access token; no newer one is available yet"}
}

// load reads the store and, when that gives no token usable for five more
// minutes (other than rejected), asks Fallback. What it finds goes to r.tok.
func (r *TokenReader) load(ctx context.Context, rejected string) error {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	stored, err := r.fromStore(lctx)
	now := r.now()
	r.mu.Lock()
	bad := stored != nil && r.isBad(stored.AccessToken)
	r.mu.Unlock()
	good := stored != nil && !bad && stored.Usable(now)
	if good {
		r.publish(stored)
		if stored.fresh(now) {
			return nil
		}
	}
	// Nothing of ours stored at all means the refresher has not run (or
	// the store is down): that is for the refresher to fix, not readers.
	if r.Fallback == nil || (stored == nil && rejected == "") {
		switch {
		case good:
			return nil // valid for a few more minutes
		case err != nil:
			return err
		case bad:
			return nil // the caller learns there is nothing newer
		}
		return errcode.Errorf(errcode.TicketsUnavailable, "the stored WeChat token has expired; is the refresher running?")
	}
	tok, ferr := r.Fallback.StableToken(lctx, false)
	if ferr != nil {
		r.logger().WarnContext(ctx, "WeChat stable_token (normal mode) failed", "err", ferr)
		if good {
			return nil
		}
		return errcode.Wrap(errcode.TicketsUnavailable, ferr, "no usable WeChat token")
	}
	at := r.now()
	r.publish(&StoredToken{AppID: r.AppID, AccessToken: tok.Value, ExpiresAt: at.Add(tok.ExpiresIn - 5*time.Second), FetchedAt: at})
	if tok.Value == rejected {
		r.logger().WarnContext(ctx, "WeChat still hands out the rejected token in normal mode; only a forced refresh by the refresher can replace it")
	} else {
		r.logger().InfoContext(ctx, "WeChat token taken from stable_token (normal mode) ahead of the refresher")
	}
	return nil
}

func (r *TokenReader) publish(t *StoredToken) {
	r.mu.Lock()
	r.tok = t
	r.mu.Unlock()
}

// fromStore returns the stored token of r.AppID; (nil, coded error) when
// there is none or the store fails.
func (r *TokenReader) fromStore(ctx context.Context) (*StoredToken, error) {
	b, err := r.Store.Get(ctx)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		return nil, errcode.Errorf(errcode.TicketsUnavailable, "no WeChat token stored yet; the refresher has not run")
	case err != nil:
		return nil, errcode.Wrap(errcode.TicketsUnavailable, err, "the ticket store is unavailable")
	}
	doc, err := tickets.ParseDocument(b)
	if err != nil {
		return nil, errcode.Errorf(errcode.TicketsUnavailable, "no usable WeChat token stored")
	}
	t, err := StoredTokenOf(doc)
	if err != nil || t == nil || t.AppID != r.AppID {
		return nil, errcode.Errorf(errcode.TicketsUnavailable, "no WeChat token stored yet; the refresher has not run")
	}
	return t, nil
}
