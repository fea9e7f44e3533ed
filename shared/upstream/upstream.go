// Package upstream is the plumbing every provider client shares, written
// once: default timeouts, bounded reads of answers, transport errors cleaned
// of URLs, and the one upstream error type that the OCR service inspects
// without knowing which provider made it.
package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Error is a provider's answer with an error code, or an HTTP, transport or
// decoding failure. It never carries secrets, tokens, tickets, signatures,
// URLs with their query, personal data or images: Msg is the upstream's own
// message, truncated, and Err has been through Clean.
type Error struct {
	Provider   string // webank, wechat, tencentcloud
	Op         string // the upstream operation (idcardocrapp, idcard, IDCardOCR, …)
	Code       string // the upstream's code as text ("" for transport failures)
	Msg        string // the upstream's message, truncated
	HTTPStatus int
	// CredentialsRejected: the stored credential the call was made with (a
	// SIGN ticket, an access token) was not accepted; reload it and retry
	// once.
	CredentialsRejected bool
	// Quota: a quota or the account's balance ran out, or the service is
	// not opened: an account-level state that holds for every request
	// until an operator acts (the breaker suspends the provider); nothing
	// was billed.
	Quota bool
	// Throttled: the upstream's rate limit answered; retry once after a
	// short delay, never another provider (a second bill for a transient
	// state).
	Throttled bool
	Retryable bool // the same call again may succeed
	// NotSent: the request provably never reached the upstream (the image
	// could not be opened, no connection was made), so nothing can have been
	// billed and no order number used up.
	NotSent bool
	// NotBilled: the upstream answered, and its documents say this answer
	// is not billed (WeBank's ID card error codes, "不收费"): the quota
	// store gives the call back.
	NotBilled bool
	Err       error
}

func (e *Error) Error() string {
	s := e.Provider + " " + e.Op
	if e.Code != "" {
		s += ": code " + e.Code
	}
	if e.Msg != "" {
		s += " (" + e.Msg + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Reached reports whether a failed call may have reached the upstream (and
// so been billed, or used up its order number). It is false only when it
// provably did not: the error is not an *Error (it failed before any call:
// no credential, bad input), or the *Error says NotSent.
func Reached(err error) bool {
	var ue *Error
	if !errors.As(err, &ue) {
		return false
	}
	return !ue.NotSent
}

// Billed reports whether a call that ended with err is billed: it reached
// the upstream and was not answered with a code its documents call free,
// an account-level refusal, a rate-limit answer or a rejected credential
// (nothing was done).
// nil is a billed success.
func Billed(err error) bool {
	if err == nil {
		return true
	}
	var ue *Error
	return errors.As(err, &ue) && !ue.NotSent && !ue.NotBilled && !ue.Quota && !ue.CredentialsRejected && !ue.Throttled
}

// Answered reports whether the upstream answered err with a code of its own
// (as opposed to a transport or HTTP failure).
func Answered(err error) bool {
	var ue *Error
	return errors.As(err, &ue) && ue.Code != ""
}

// WithDefaultTimeout bounds ctx by d when it has no deadline of its own.
func WithDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// ErrTooLarge is returned by ReadBody for an answer longer than its bound.
var ErrTooLarge = errors.New("answer too large")

// ReadBody reads at most limit bytes of an answer; a longer one is
// ErrTooLarge (photos make result answers megabytes; nothing unbounded is
// read). A known Content-Length is read into one buffer of that size:
// growing one by doubling would hold up to twice the answer.
func ReadBody(resp *http.Response, limit int64) ([]byte, error) {
	n := resp.ContentLength
	if n > limit {
		return nil, ErrTooLarge
	}
	if n >= 0 { // net/http never gives more than Content-Length
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}

// Transport cleans an error of http.Client.Do: the *url.Error around it
// repeats the URL with its query (secrets, tokens, signatures), so it is
// removed; a context error replaces what the cancellation caused; text that
// still quotes a URL is withheld. notSent reports a failed dial: no
// connection, so no request.
func Transport(ctx context.Context, err error) (clean error, notSent bool) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var oe *net.OpError
	notSent = errors.As(err, &oe) && oe.Op == "dial"
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = ctxErr
	}
	return Scrub(err), notSent
}

// Scrub withholds an error's text when it quotes a URL or a query.
func Scrub(err error) error {
	if err == nil {
		return nil
	}
	s := err.Error()
	if strings.Contains(s, "://") || strings.Contains(s, "?") || strings.Contains(s, "token") {
		return &scrubbed{err: err}
	}
	return err
}

type scrubbed struct{ err error }

func (s *scrubbed) Error() string { return "transport error (details withheld: they quote a URL)" }
func (s *scrubbed) Unwrap() error { return s.err }

// StatusError is the Error for an answer with an HTTP status other than 200.
func StatusError(provider, op string, resp *http.Response) *Error {
	return &Error{Provider: provider, Op: op, HTTPStatus: resp.StatusCode, Msg: "HTTP " + resp.Status,
		Retryable: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests}
}

// ReadError is the Error for an answer that could not be read whole.
func ReadError(ctx context.Context, provider, op string, status int, err error) *Error {
	if errors.Is(err, ErrTooLarge) {
		return &Error{Provider: provider, Op: op, HTTPStatus: status, Msg: "answer too large"}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = ctxErr
	}
	return &Error{Provider: provider, Op: op, HTTPStatus: status, Err: fmt.Errorf("reading the answer: %w", Scrub(err)), Retryable: true}
}

// IsTimeout reports whether err is a deadline or a network timeout.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Truncate shortens s to at most n bytes on a rune boundary.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Credential is a fetched access token or ticket and how long it lives.
type Credential struct {
	Value     string
	ExpiresIn time.Duration
}

// ErrCredentialsRejected is wrapped by a check's error when the upstream
// refused a stored credential (a ticket, its token, the signature made with
// it).
var ErrCredentialsRejected = errors.New("the upstream rejected the stored credential")
