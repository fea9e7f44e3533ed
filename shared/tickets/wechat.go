package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/wechat"
)

// The WeChat stable access token (docs/protocol.md §7) lives in the tickets
// document under "wechat", written by the same one writer (Refresher).
//
// Policy:
//   - The refresher calls cgi-bin/stable_token in normal mode on every run.
//     Normal mode returns the platform's current token and invalidates
//     nothing, so a schedule that fires twice costs nothing. It writes only
//     when the token changed.
//   - Only the refresher ever asks for force_refresh (which kills the
//     current token for every instance at once), and only through
//     ForceWeChat, which runs when an operator or the local stack reports a
//     40001 on the token the platform still hands out; never twice within
//     30 s (the time of the last forced refresh is stored with the token).
//   - Readers cache the stored token until five minutes before it expires,
//     and on 40001/42001/40014 reload it from the store and retry once.
//     Readers never force a refresh. When the store holds nothing newer
//     than the rejected or expiring token, a reader given Fallback may ask
//     stable_token in normal mode itself (harmless: it returns the same
//     current token to everybody); it keeps that token in memory only.

// WeChatMember is the tickets document member holding the WeChat token.
const WeChatMember = "wechat"

// WeChatToken is the stored WeChat stable access token.
type WeChatToken struct {
	AppID       string    `json:"appId"`
	AccessToken string    `json:"accessToken"`
	ExpiresAt   time.Time `json:"expiresAt"`
	FetchedAt   time.Time `json:"fetchedAt"`
	ForcedAt    time.Time `json:"forcedAt,omitzero"` // the last force_refresh
}

// WeChatMargin is how long before its expiry a token is no longer handed
// out from a reader's cache (the platform renews stable tokens then).
const WeChatMargin = 5 * time.Minute

// Usable reports whether the token can still be used at now.
func (t *WeChatToken) Usable(now time.Time) bool {
	return t != nil && t.AccessToken != "" && now.Before(t.ExpiresAt)
}

// fresh reports whether the token is outside its last five minutes.
func (t *WeChatToken) fresh(now time.Time) bool {
	return t.Usable(now) && now.Before(t.ExpiresAt.Add(-WeChatMargin))
}

// WeChat returns the stored WeChat token, nil when there is none.
func (d Document) WeChat() (*WeChatToken, error) {
	raw, ok := d.Extra[WeChatMember]
	if !ok {
		return nil, nil
	}
	var t WeChatToken
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, errors.New("tickets: stored wechat member is not valid")
	}
	return &t, nil
}

// SetWeChat stores t under WeChatMember.
func (d *Document) SetWeChat(t *WeChatToken) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("tickets: encode wechat token: %w", err)
	}
	if d.Extra == nil {
		d.Extra = map[string]json.RawMessage{}
	}
	d.Extra[WeChatMember] = b
	return nil
}

// WeChatFetcher gets WeChat stable tokens (a *wechat.Client).
type WeChatFetcher interface {
	AppID() string
	StableToken(ctx context.Context, force bool) (wechat.Token, error)
}

// weChatToken asks stable_token in normal mode. It returns the token to
// store, or nil when the stored one (in doc) is already it. A failure is
// logged and gives nil: it never stops the WeBank refresh.
func (r *Refresher) weChatToken(ctx context.Context, doc Document) *WeChatToken {
	if r.WeChat == nil {
		return nil
	}
	log := r.logger()
	old, err := doc.WeChat()
	if err != nil {
		log.WarnContext(ctx, "stored WeChat token unreadable; replacing it")
		old = nil
	}
	tok, err := r.WeChat.StableToken(ctx, false)
	if err != nil {
		log.ErrorContext(ctx, "WeChat stable token fetch failed; stored token kept", "err", err)
		return nil
	}
	now := r.now()
	if old != nil && old.AppID == r.WeChat.AppID() && old.AccessToken == tok.Value {
		return nil
	}
	t := &WeChatToken{AppID: r.WeChat.AppID(), AccessToken: tok.Value, ExpiresAt: now.Add(tok.ExpiresIn - 5*time.Second), FetchedAt: now}
	if old != nil && old.AppID == t.AppID {
		t.ForcedAt = old.ForcedAt
	}
	return t
}

// refreshWeChat puts a new WeChat token in doc (the WeBank refresh then
// writes both in one write). It reports whether doc changed.
func (r *Refresher) refreshWeChat(ctx context.Context, doc *Document) bool {
	t := r.weChatToken(ctx, *doc)
	if t == nil {
		return false
	}
	if err := doc.SetWeChat(t); err != nil {
		r.logger().ErrorContext(ctx, "WeChat token not stored", "err", err)
		return false
	}
	r.logger().InfoContext(ctx, "WeChat token renewed", "expiresIn", t.ExpiresAt.Sub(t.FetchedAt).Round(time.Second).String())
	return true
}

// weChatOnly runs when the WeBank pair is fresh: it writes only if the
// platform hands out another WeChat token than the stored one, under the
// same lease as a WeBank refresh (so that it never writes back a pair a
// concurrent refresher has just replaced). Caller holds r.mu.
func (r *Refresher) weChatOnly(ctx context.Context, doc Document, now time.Time) (Outcome, error) {
	if r.weChatToken(ctx, doc) == nil {
		return Skipped, nil
	}
	if l, ok := r.Store.(Leaser); ok && r.Interval > 0 {
		// The WeBank refresh's slot for this pair: a refresher replacing
		// the pair and this write exclude each other. The lease only has to
		// cover the load and write below.
		sl, _, _ := slot(doc, false)
		held, err := l.TryLease(ctx, sl, min(r.Interval/2, time.Minute))
		if err != nil {
			return "", fmt.Errorf("tickets: lease: %w", err)
		}
		if !held {
			return Leased, nil
		}
	}
	doc, err := r.load(ctx) // again: another writer may have written meanwhile
	if err != nil {
		return "", err
	}
	if !r.refreshWeChat(ctx, &doc) {
		return Skipped, nil
	}
	if err := r.put(ctx, doc); err != nil {
		return "", err
	}
	return Refreshed, nil
}

// ErrForceTooSoon: a forced WeChat refresh was asked for within 30 s of the
// previous one.
var ErrForceTooSoon = errors.New("tickets: WeChat force refresh within 30 s of the previous one")

// ForceWeChat replaces the WeChat token with force_refresh: every instance
// holding the old one gets 40001 and reloads. Use it only when the token
// the platform hands out in normal mode is itself rejected with 40001 (a
// leaked token, an upstream fault). It refuses within 30 s of the previous
// forced refresh (recorded in the store) and when another refresher holds
// the lease.
func (r *Refresher) ForceWeChat(ctx context.Context) error {
	if r.WeChat == nil {
		return errors.New("tickets: WeChat is not configured")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	doc, err := r.load(ctx)
	if err != nil {
		return err
	}
	old, _ := doc.WeChat()
	if old != nil && !old.ForcedAt.IsZero() && now.Sub(old.ForcedAt) < wechat.ForceRefreshSpacing && !old.ForcedAt.After(now) {
		return ErrForceTooSoon
	}
	if l, ok := r.Store.(Leaser); ok {
		held, err := l.TryLease(ctx, fmt.Sprintf("wechat-force-%d", now.Unix()/30), wechat.ForceRefreshSpacing)
		if err != nil {
			return fmt.Errorf("tickets: lease: %w", err)
		}
		if !held {
			return ErrForceTooSoon
		}
		if doc, err = r.load(ctx); err != nil {
			return err
		}
	}
	tok, err := r.WeChat.StableToken(ctx, true)
	if err != nil {
		r.logger().ErrorContext(ctx, "WeChat forced refresh failed", "err", err)
		return fmt.Errorf("tickets: WeChat force refresh: %w", err)
	}
	at := r.now()
	t := &WeChatToken{AppID: r.WeChat.AppID(), AccessToken: tok.Value, ExpiresAt: at.Add(tok.ExpiresIn - 5*time.Second), FetchedAt: at, ForcedAt: at}
	if err := doc.SetWeChat(t); err != nil {
		return err
	}
	if err := r.put(ctx, doc); err != nil {
		return err
	}
	r.logger().WarnContext(ctx, "WeChat token force-refreshed", "expiresIn", tok.ExpiresIn.String())
	return nil
}

func (r *Refresher) put(ctx context.Context, doc Document) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("tickets: encode: %w", err)
	}
	if err := r.Store.Put(ctx, b); err != nil {
		r.logger().ErrorContext(ctx, "storing the tickets document failed", "err", err)
		return fmt.Errorf("tickets: store: %w", err)
	}
	return nil
}

// WeChatReader hands out the stored WeChat token, cached in memory until
// five minutes before it expires. Concurrent callers share one load.
type WeChatReader struct {
	Store secretstore.Store
	AppID string // the configured WeChat appid: a token of another app is not used
	// Fallback, when set, is asked in normal mode (never forced) when the
	// store holds no token usable for five more minutes, or only the one
	// just rejected. Leave nil to rely on the refresher alone.
	Fallback WeChatFetcher
	Now      func() time.Time
	Logger   *slog.Logger

	mu      sync.Mutex
	tok     *WeChatToken
	loading chan struct{}
	loadErr error
	dead    string // a rejected token nothing could replace, and when
	deadAt  time.Time
	bad     [8]string // the last tokens WeChat rejected: never handed out again
	nbad    int
}

// isBad reports whether WeChat rejected tok before. Caller holds r.mu.
func (r *WeChatReader) isBad(tok string) bool {
	for _, b := range r.bad {
		if b != "" && b == tok {
			return true
		}
	}
	return false
}

func (r *WeChatReader) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *WeChatReader) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Token returns a token to call WeChat with.
func (r *WeChatReader) Token(ctx context.Context) (string, error) {
	return r.get(ctx, "")
}

// Rejected is called with a token WeChat refused (40001/42001/40014). It
// returns another token to retry once with, or an error when none is to
// be had. Many concurrent rejections of one token cause one reload.
func (r *WeChatReader) Rejected(ctx context.Context, token string) (string, error) {
	return r.get(ctx, token)
}

// deadFor is how long a token that nothing could replace is not reloaded
// for again (every request would otherwise reload).
const deadFor = 5 * time.Second

func (r *WeChatReader) get(ctx context.Context, rejected string) (string, error) {
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
			return "", domain.Wrap(domain.TicketsUnavailable, ctx.Err(), "WeChat token not loaded in time")
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
	return "", domain.Errorf(domain.TicketsUnavailable, "no usable WeChat token")
}

func errNoNewer() error {
	return &domain.Error{Code: domain.TicketsUnavailable, Retryable: true,
		Message: "WeChat rejected the stored access token; no newer one is available yet"}
}

// load reads the store and, when that gives no token usable for five more
// minutes (other than rejected), asks Fallback. What it finds goes to r.tok.
func (r *WeChatReader) load(ctx context.Context, rejected string) error {
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
		return domain.Errorf(domain.TicketsUnavailable, "the stored WeChat token has expired; is the refresher running?")
	}
	tok, ferr := r.Fallback.StableToken(lctx, false)
	if ferr != nil {
		r.logger().WarnContext(ctx, "WeChat stable_token (normal mode) failed", "err", ferr)
		if good {
			return nil
		}
		return domain.Wrap(domain.TicketsUnavailable, ferr, "no usable WeChat token")
	}
	at := r.now()
	r.publish(&WeChatToken{AppID: r.AppID, AccessToken: tok.Value, ExpiresAt: at.Add(tok.ExpiresIn - 5*time.Second), FetchedAt: at})
	if tok.Value == rejected {
		r.logger().WarnContext(ctx, "WeChat still hands out the rejected token in normal mode; only a forced refresh by the refresher can replace it")
	} else {
		r.logger().InfoContext(ctx, "WeChat token taken from stable_token (normal mode) ahead of the refresher")
	}
	return nil
}

func (r *WeChatReader) publish(t *WeChatToken) {
	r.mu.Lock()
	r.tok = t
	r.mu.Unlock()
}

// fromStore returns the stored token of r.AppID; (nil, coded error) when
// there is none or the store fails.
func (r *WeChatReader) fromStore(ctx context.Context) (*WeChatToken, error) {
	b, err := r.Store.Get(ctx)
	switch {
	case errors.Is(err, secretstore.ErrNotFound):
		return nil, domain.Errorf(domain.TicketsUnavailable, "no WeChat token stored yet; the refresher has not run")
	case err != nil:
		return nil, domain.Wrap(domain.TicketsUnavailable, err, "the ticket store is unavailable")
	}
	doc, err := ParseDocument(b)
	if err != nil {
		return nil, domain.Errorf(domain.TicketsUnavailable, "no usable WeChat token stored")
	}
	t, err := doc.WeChat()
	if err != nil || t == nil || t.AppID != r.AppID {
		return nil, domain.Errorf(domain.TicketsUnavailable, "no WeChat token stored yet; the refresher has not run")
	}
	return t, nil
}
