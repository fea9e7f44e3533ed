package secretstore

import (
	"errors"
	"strings"
)

// Error kinds beyond ErrNotFound. Backends return an *Error whose chain
// holds exactly one of these (or none, for a request the store refused for
// another reason), so callers branch with errors.Is and never parse text.
var (
	// ErrThrottled: the store rate-limited the call. A retry after a
	// backoff can help.
	ErrThrottled = errors.New("secretstore: throttled by the store")
	// ErrUnavailable: the store failed (5xx), the network failed, or the
	// call timed out. A retry can help.
	ErrUnavailable = errors.New("secretstore: store unavailable")
	// ErrMalformed: the store answered with a body that is not what its
	// protocol promises. A retry rarely helps: check the endpoint.
	ErrMalformed = errors.New("secretstore: malformed answer from the store")
	// ErrDenied: credentials, permissions or the secret's state (disabled,
	// pending deletion, key not usable) forbid the call. A retry does not
	// help: fix the configuration.
	ErrDenied = errors.New("secretstore: access denied by the store")
	// ErrConflict: a conditional write lost (the version exists with other
	// content). Used by leases; a retry of the same write cannot succeed.
	ErrConflict = errors.New("secretstore: conditional write conflict")
)

// Retryable reports whether err is a kind of failure that another attempt,
// after a backoff, may not repeat (throttling, outage, timeout).
func Retryable(err error) bool {
	return errors.Is(err, ErrThrottled) || errors.Is(err, ErrUnavailable)
}

// Error is a store failure described without the secret's value: the
// backend, the operation, the secret's name, the kind (one of the Err*
// sentinels, or nil), the service's error code and request id as received,
// a fixed description, and the cause.
//
// Backends must not put a cause in Err whose text may echo a response body
// (that may be the secret); they set HideCause for causes that may, so that
// Error() leaves the cause's text out while errors.Is/As still see it.
type Error struct {
	Backend   string // "awssm", "tencentssm", "file"
	Op        string // the service operation, e.g. "GetSecretValue"
	Secret    string // the secret's name (never its value)
	Kind      error  // ErrNotFound, ErrThrottled, …, or nil
	Code      string // service error code, e.g. "ThrottlingException"
	RequestID string
	Msg       string // what happened and what to do; never secret material
	Err       error  // cause (may be a context error), or nil
	HideCause bool   // leave Err's text out of Error()
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("secretstore: ")
	b.WriteString(e.Backend)
	if e.Op != "" {
		b.WriteString(" ")
		b.WriteString(e.Op)
	}
	if e.Secret != "" {
		b.WriteString(" ")
		b.WriteString(quote(e.Secret))
	}
	b.WriteString(": ")
	if e.Msg != "" {
		b.WriteString(e.Msg)
	} else if e.Kind != nil {
		b.WriteString(strings.TrimPrefix(e.Kind.Error(), "secretstore: "))
	} else {
		b.WriteString("failed")
	}
	if e.Code != "" || e.RequestID != "" {
		b.WriteString(" (")
		if e.Code != "" {
			b.WriteString("code ")
			b.WriteString(e.Code)
		}
		if e.RequestID != "" {
			if e.Code != "" {
				b.WriteString(", ")
			}
			b.WriteString("request ")
			b.WriteString(e.RequestID)
		}
		b.WriteString(")")
	}
	switch {
	case e.Kind == nil:
		b.WriteString("; retrying will not help")
	case e.Kind == ErrThrottled:
		b.WriteString("; retry later with backoff")
	case e.Kind == ErrUnavailable:
		b.WriteString("; a retry may help")
	case e.Kind == ErrMalformed:
		b.WriteString("; a retry rarely helps, check the endpoint")
	case e.Kind == ErrDenied:
		b.WriteString("; retrying will not help, fix credentials, permissions or the secret's state")
	}
	if e.Err != nil && !e.HideCause {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap exposes the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func quote(s string) string {
	if len(s) > 128 {
		s = s[:128] + "…"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
