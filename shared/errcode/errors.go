// Package errcode is what every other package agrees on: errors with a
// code. Codes are mapped to HTTP statuses once, at the edge (package
// httpapi), in the style of benbjohnson/wtf. (The normalized card shapes
// live in package ocr, next to the service that produces them.)
package errcode

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error for callers. The string values are the public
// error codes of the HTTP API.
type Code string

const (
	Unauthorized         Code = "unauthorized"
	Forbidden            Code = "forbidden"
	InvalidRequest       Code = "invalid_request"
	InvalidImage         Code = "invalid_image"
	ImageTooLarge        Code = "image_too_large"
	UnsupportedMediaType Code = "unsupported_media_type"
	RequestTimeout       Code = "request_timeout"
	Busy                 Code = "busy"
	NotFound             Code = "not_found"
	OrderConflict        Code = "order_conflict"
	Erased               Code = "erased"
	// Pending: an uploaded order whose result is not there yet (202).
	Pending Code = "pending"
	// UploadExpired: an upload form expired with nothing uploaded.
	UploadExpired      Code = "upload_expired"
	StoreUnavailable   Code = "store_unavailable"
	RecognitionFailed  Code = "recognition_failed"
	QuotaExceeded      Code = "quota_exceeded"
	TicketsUnavailable Code = "tickets_unavailable"
	ProviderSuspended  Code = "provider_suspended"
	UpstreamError      Code = "upstream_error"
	UpstreamTimeout    Code = "upstream_timeout"
	Internal           Code = "internal"
)

// Error is a coded error. Message must never carry personal data, tokens,
// tickets, secrets or images: it is shown to callers and logged.
type Error struct {
	Code         Code
	Message      string
	Retryable    bool
	UpstreamCode string // the provider's code as received, when there was one
	// OrderNo is the order an upstream call was made under. After a
	// timeout or a 5xx the result may exist upstream, and the order number
	// is the only way to fetch it later, so callers must get it back.
	OrderNo string
	// RetryAfter, when set, is when trying again may succeed (a quota
	// renewing at midnight): the Retry-After header.
	RetryAfter time.Duration
	Err        error // cause, for errors.Is/As; never shown to callers
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Message
	if e.UpstreamCode != "" {
		s += " (upstream code " + e.UpstreamCode + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an Error around a cause.
func Wrap(code Code, err error, msg string) *Error {
	return &Error{Code: code, Message: msg, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, or
// Internal for any other non-nil error.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// AsError returns the *Error in err's chain, or an Internal one that hides
// the cause's text (it may carry anything).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Internal, Message: "internal error", Err: err}
}

// IsRetryable reports whether trying the same call again may succeed.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}
