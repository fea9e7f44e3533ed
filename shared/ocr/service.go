// Package ocr is the card OCR service: it owns the image type, the
// normalized card shapes and the Provider interface every upstream
// implements. It checks input against the chosen provider's limits before
// any upstream call, hands the provider its stored credential (reloading it
// once when the upstream rejects it), falls back to the next provider on
// upstream trouble, and normalizes and checks what comes back.
package ocr

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ratelimit"
	"github.com/cardocr/cardocr/shared/upstream"
)

// Kinds of card, for per-route settings.
const (
	KindIDCard   = "idcard"
	KindBankCard = "bankcard"
)

// DefaultProvider answers requests that name none (and no fallback chain is
// configured), and is asked for the result of an order without a record
// (made before records, or by the queue and upload paths, which are its).
const DefaultProvider = "webank"

// Service runs OCR requests.
type Service struct {
	// Providers by name. A nil value is a provider this build knows but
	// this deployment has no credentials for: asking for it is a 400.
	Providers map[string]Provider
	// Fallback is the provider chain per kind (PROVIDER_FALLBACK): on
	// upstream trouble the providers after the one asked for are tried in
	// order, within the same request deadline. Its first entry is the
	// default provider of that kind.
	Fallback map[string][]string
	Metrics  *metrics.Recorder // daily call counters in the logs; nil: none
	// Orders is the shared store of order records (the archive). nil: no
	// records, and so no replays: a failed submit under a caller's order
	// number is answered with its error, never from a stored result whose
	// image cannot be compared.
	Orders Orders
	// Evidence archives, at submit, the results of providers that keep
	// none, and answers their queries (EVIDENCE=on); nil: off.
	Evidence Evidence
	// Quota counts each billable call before it is made, in a store every
	// instance shares (QUOTA_STORE_URL); nil: not counted.
	Quota Quota
	// Breaker suspends a provider for every instance after an
	// account-level error (arrears, quota used up, not opened): its calls
	// go to the next provider of the chain, or get provider_suspended.
	Breaker Breaker
	// Pace holds each instance to its share of a provider's QPS: the
	// provider's declared rate divided by ConcurrencyCap (the most
	// instances the function may run at once); nil: not paced.
	Pace           Pacer
	ConcurrencyCap int
	// Notifier is told of every order that reaches a final state: a
	// result, or an error about the image itself (callbacks); nil: none.
	Notifier Notifier
	// Fitter fits an image above the provider's byte limit before it is
	// sent (IMAGE_FIT); nil: such an image is refused with 413.
	Fitter Fitter
	// FitMaxBytes is the largest image taken to be fitted [DefaultFitMaxBytes].
	FitMaxBytes int64
	// PhotoWait bounds the re-queries of a result query whose photos are
	// late [DefaultPhotoWait]; negative: no re-query.
	PhotoWait time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// names lists the providers this build knows, sorted.
func (s *Service) names() []string {
	out := make([]string, 0, len(s.Providers))
	for n := range s.Providers {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// provider resolves a requested name ("" = the kind's default) to a
// configured provider offering kind, or a 400 saying why not.
func (s *Service) provider(kind, name string) (Provider, error) {
	if name == "" {
		name = DefaultProvider
		// The chain's first provider that reads this kind of card (a chain
		// for both routes may start with one that reads ID cards only).
		for _, n := range s.Fallback[kind] {
			if p := s.Providers[n]; p != nil && limit(p.Limits(), kind) > 0 {
				name = n
				break
			}
		}
	}
	p, known := s.Providers[name]
	switch {
	case !known:
		return nil, errcode.Errorf(errcode.InvalidRequest, "provider must be one of %s", strings.Join(s.names(), ", "))
	case p == nil:
		return nil, errcode.Errorf(errcode.InvalidRequest, "provider %q is not configured on this deployment (no credentials for it)", name)
	}
	if limit(p.Limits(), kind) == 0 {
		return nil, errcode.Errorf(errcode.InvalidRequest, "provider %q does not read %s", name, kindWords(kind))
	}
	return p, nil
}

func kindWords(kind string) string {
	if kind == KindBankCard {
		return "bank cards"
	}
	return "ID cards"
}

func limit(l Limits, kind string) int64 {
	if kind == KindBankCard {
		return l.BankCardImage
	}
	return l.IDCardImage
}

// DefaultFitMaxBytes is the largest photo fitted when FitMaxBytes is 0: a
// 48 MP phone JPEG.
const DefaultFitMaxBytes = 20 << 20

func (s *Service) fitMax() int64 {
	if s.Fitter == nil {
		return 0
	}
	if s.FitMaxBytes > 0 {
		return s.FitMaxBytes
	}
	return DefaultFitMaxBytes
}

// MaxImage is the largest image any configured provider takes for kind, or
// that is fitted to one: the bound for reading a request body (the chosen
// provider's own limit is checked after).
func (s *Service) MaxImage(kind string) int64 {
	var m int64
	for _, p := range s.Providers {
		if p != nil {
			m = max(m, limit(p.Limits(), kind))
		}
	}
	if m > 0 {
		m = max(m, s.fitMax())
	}
	return m
}

// MaxIDCardImage and MaxBankCardImage are MaxImage per kind.
func (s *Service) MaxIDCardImage() int64   { return s.MaxImage(KindIDCard) }
func (s *Service) MaxBankCardImage() int64 { return s.MaxImage(KindBankCard) }

// fallbacks returns the providers to try after first for kind: those after
// it in the kind's chain that are configured and offer kind.
func (s *Service) fallbacks(kind string, first Provider) []Provider {
	chain := s.Fallback[kind]
	i := 0
	for i < len(chain) && chain[i] != first.Name() {
		i++
	}
	if i == len(chain) {
		return nil
	}
	var out []Provider
	for _, n := range chain[i+1:] {
		if p := s.Providers[n]; p != nil && limit(p.Limits(), kind) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// Quota reserves a tenant's billable call before it is made (quota.Meter).
type Quota interface {
	// Reserve returns a release for a call that turned out not billed, or
	// quota_exceeded / store_unavailable: then no call may be made.
	Reserve(ctx context.Context, tenant string, limit int) (release func(), err error)
}

// reserve counts one call to p for a tenant; the returned done is told the
// call's error, gives the count back when the call did not reach the
// provider (not billed), and writes the billable-call metric when it did.
func (s *Service) reserve(ctx context.Context, p Provider, kind, tenant string, limit int) (done func(error), err error) {
	release := func() {}
	if s.Quota != nil {
		if release, err = s.Quota.Reserve(ctx, tenant, limit); err != nil {
			return nil, err
		}
	}
	return func(callErr error) {
		if !upstream.Billed(callErr) {
			release()
			return
		}
		if tenant == "" {
			tenant = "default"
		}
		s.Metrics.Billable(ctx, tenant, counter(p, kind))
	}, nil
}

// Breaker is the account-error breaker (quota.Breaker).
type Breaker interface {
	Suspended(ctx context.Context, provider string) (reason string, left time.Duration)
	Trip(ctx context.Context, provider, reason string)
}

// suspended is the answer for a provider the breaker holds.
func suspended(p Provider, reason string, left time.Duration) error {
	return &errcode.Error{Code: errcode.ProviderSuspended, Retryable: true, RetryAfter: left, UpstreamCode: reason,
		Message: "provider " + p.Name() + " is suspended after an account-level error (balance, quota or service not opened); an operator must act"}
}

// Pacer is a per-instance rate limiter (ratelimit.Limiter): Wait takes a
// token from key's bucket, waiting up to a second, or answers how long to
// wait (*ratelimit.Limited).
type Pacer interface {
	Wait(ctx context.Context, key string, perSecond float64, burst int) error
}

// pace holds the call to this instance's share of p's rate for kind; over
// it, 429 busy. Never a reason to fall back: the next provider would bill
// for a moment's congestion.
func (s *Service) pace(ctx context.Context, p Provider, kind string) error {
	if s.Pace == nil {
		return nil
	}
	l := p.Limits()
	qps := l.IDCardQPS
	if kind == KindBankCard {
		qps = l.BankCardQPS
	}
	if qps <= 0 {
		return nil
	}
	rate, burst := ratelimit.Share(qps, int(qps), s.ConcurrencyCap)
	err := s.Pace.Wait(ctx, p.Name()+"/"+kind, rate, burst)
	if err == nil {
		return nil
	}
	var lim *ratelimit.Limited
	if errors.As(err, &lim) {
		s.logger().WarnContext(ctx, "over this instance's share of the provider's rate", "provider", p.Name(), "kind", kind, "perSecond", rate)
		return &errcode.Error{Code: errcode.Busy, Retryable: true, RetryAfter: lim.RetryAfter,
			Message: "this deployment is at " + p.Name() + "'s documented call rate; try again shortly"}
	}
	return &errcode.Error{Code: errcode.Busy, Retryable: true, Err: err,
		Message: "the request ended while waiting for " + p.Name() + "'s call rate; try again shortly"}
}

// guard runs one provider's call under the breaker and the pace: a
// suspended provider is not called; an account-level answer suspends it.
func (s *Service) guard(ctx context.Context, p Provider, kind string, call func() error) error {
	if s.Breaker != nil {
		if reason, left := s.Breaker.Suspended(ctx, p.Name()); left > 0 {
			return suspended(p, reason, left)
		}
	}
	if err := s.pace(ctx, p, kind); err != nil {
		return err
	}
	err := call()
	var ue *upstream.Error
	if s.Breaker != nil && errors.As(err, &ue) && ue.Quota && ue.Code != "" {
		s.Breaker.Trip(ctx, p.Name(), ue.Code)
	}
	return err
}

// throttleRetry runs call; when the upstream's rate limit answers it, it
// waits a moment (jittered) and tries once more, within the deadline. A
// throttled call never falls back: another provider would bill for a
// transient state.
func throttleRetry[T any](ctx context.Context, call func() (T, error)) (T, error) {
	v, err := call()
	var ue *upstream.Error
	if err == nil || !errors.As(err, &ue) || !ue.Throttled {
		return v, err
	}
	wait := 200*time.Millisecond + time.Duration(rand.Int64N(int64(400*time.Millisecond)))
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait+2*time.Second {
		return v, err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return v, err
	case <-t.C:
	}
	return call()
}

// withFallback runs submit with first and, while a provider fails with
// trouble of its own, with the next provider of kind's chain that the input
// fits. from names the providers that failed before the answer.
func withFallback[R any](ctx context.Context, s *Service, kind string, first Provider, fit func(Provider) bool,
	submit func(context.Context, Provider) (R, error)) (res R, from string, err error) {
	chain := []Provider{first}
	for _, f := range s.fallbacks(kind, first) {
		if fit(f) { // one the input does not fit is skipped
			chain = append(chain, f)
		}
	}
	var failed []string
	for i, p := range chain {
		actx, cancel := attemptContext(ctx, i < len(chain)-1)
		res, err = submit(actx, p)
		cancel()
		if err == nil || i == len(chain)-1 || !fallsThrough(err) || ctx.Err() != nil || !upstream.Reached(err) && errcode.ErrorCode(err) == errcode.QuotaExceeded {
			return res, strings.Join(failed, ","), err
		}
		s.fellBack(ctx, kind, p, chain[i+1], err)
		failed = append(failed, p.Name())
	}
	return res, "", err // not reached: the chain's last provider returns
}

// fallsThrough reports whether a failed call is the provider's trouble,
// worth the next provider: never a recognition failure or bad input (the
// image is the problem then, and another provider would be billed for it).
func fallsThrough(err error) bool {
	switch errcode.ErrorCode(err) {
	case errcode.UpstreamError, errcode.UpstreamTimeout, errcode.TicketsUnavailable, errcode.QuotaExceeded, errcode.ProviderSuspended:
		return true
	}
	return false
}

// attemptContext leaves part of the request's time for the fallbacks: an
// attempt followed by others gets at most 60% of what is left.
func attemptContext(ctx context.Context, more bool) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !more || !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(d)*3/5)
}

// withCredentials runs call with p's stored credential; when the upstream
// rejects it, it asks for another one and, if the store holds one by now,
// retries once. Rejected calls are not billed, so the retry costs nothing.
func withCredentials[T any](ctx context.Context, s *Service, p Provider, op string, call func(cred string) (T, error)) (T, error) {
	var zero T
	creds := p.Credentials()
	if creds == nil {
		return call("")
	}
	c, err := creds.Current(ctx)
	if err != nil {
		return zero, err
	}
	v, err := call(c)
	var ue *upstream.Error
	if err == nil || !errors.As(err, &ue) || !ue.CredentialsRejected {
		return v, err
	}
	c2, rerr := creds.Rejected(ctx, c)
	if rerr != nil {
		// The stored credential is dead (a token fetched elsewhere, a
		// rotated secret): only the refresher can mend that.
		s.logger().WarnContext(ctx, "upstream rejected the stored credential and the store has no newer one",
			"provider", p.Name(), "op", op, "upstreamCode", ue.Code)
		de := errcode.AsError(rerr)
		return zero, &errcode.Error{Code: de.Code, Message: de.Message, Retryable: de.Retryable, UpstreamCode: ue.Code, Err: err}
	}
	s.logger().InfoContext(ctx, "upstream rejected the credential; retrying once with the reloaded one",
		"provider", p.Name(), "op", op, "upstreamCode", ue.Code)
	return call(c2)
}

// count records an upstream call's outcome; only calls that reached the
// provider are counted (they are the billed ones), plus local quota refusals.
func (s *Service) count(ctx context.Context, counter string, err error) {
	switch {
	case err == nil || upstream.Reached(err):
		s.Metrics.Call(ctx, counter, outcomeOf(err))
	case errcode.ErrorCode(err) == errcode.QuotaExceeded:
		s.Metrics.Call(ctx, counter, metrics.OutcomeLocalQuota)
	}
}

// counter names a provider's daily counter: bank card OCR is billed apart
// from ID cards.
func counter(p Provider, kind string) string {
	if kind == KindBankCard {
		return p.Name() + "_bankcard"
	}
	return p.Name()
}

// withOrderNo records on a failed upstream call's error the order number it
// was made under (see errcode.Error.OrderNo).
func withOrderNo(err error, orderNo string) error {
	err = asDomain(err)
	var de *errcode.Error
	if errors.As(err, &de) && de.Code != errcode.TicketsUnavailable { // no call took effect then
		de.OrderNo = orderNo
	}
	return err
}

// asDomain makes sure every failure surfaces with a code.
func asDomain(err error) error {
	if err == nil {
		return nil
	}
	var de *errcode.Error
	if errors.As(err, &de) {
		return err
	}
	return errcode.Wrap(errcode.Internal, err, "internal error")
}

// MayHaveReached reports whether a failed submission may have reached the
// upstream (and so used up its order number, or been billed). It is false
// only when it provably did not: no credential was there to sign with, the
// input was refused, the image could not be read, no connection was made.
func MayHaveReached(err error) bool { return upstream.Reached(err) }

// outcomeOf names an upstream call's outcome for the counters.
func outcomeOf(err error) string {
	if err == nil {
		return metrics.OutcomeOK
	}
	e := errcode.AsError(err)
	switch {
	case e.Code == errcode.QuotaExceeded:
		return metrics.OutcomeQuota
	case e.UpstreamCode != "":
		return metrics.OutcomeRejected
	}
	return metrics.OutcomeError
}

// fellBack logs and counts a fallback.
func (s *Service) fellBack(ctx context.Context, kind string, from, to Provider, err error) {
	s.logger().WarnContext(ctx, "provider failed; falling back to the next one", "kind", kind,
		"provider", from.Name(), "next", to.Name(), "code", string(errcode.ErrorCode(err)))
	s.Metrics.Event(ctx, "fallback", from.Name()+"_to_"+to.Name())
}

// Final is an order's final state, for its callback.
type Final struct {
	Kind, OrderNo string
	Owner         string // "" for the default tenant
	Result        any    // *IDCardResult or *BankCardResult when done
	Err           error  // the terminal error when failed
}

// Notifier is told of final orders (package callback). Notify must not
// block the answer for long, nor fail it.
type Notifier interface {
	Notify(ctx context.Context, f Final)
}

// Terminal reports whether an error is the order's final state: about
// the image itself, so that no retry of the same order can change it.
func Terminal(err error) bool {
	switch errcode.ErrorCode(err) {
	case errcode.RecognitionFailed, errcode.InvalidImage, errcode.ImageTooLarge, errcode.UnsupportedMediaType:
		return true
	}
	return false
}

func (s *Service) notify(ctx context.Context, kind, owner, orderNo string, res any, err error) {
	if s.Notifier == nil || err != nil && !Terminal(err) {
		return
	}
	s.Notifier.Notify(context.WithoutCancel(ctx), Final{Kind: kind, OrderNo: orderNo, Owner: OwnerOf(owner), Result: res, Err: err})
}
