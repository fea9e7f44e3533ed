// Package callback pushes an order's final state to the caller's URL:
// POST {"orderNo","kind","status","result"|"error"} (never an image),
// signed as Stripe signs webhooks:
//
//	Cardocr-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// Delivery is at least once, through the queue resultfetch reads, with
// backoff for up to MaxAge; the receiver dedupes by orderNo and status
// (docs/callbacks.md). The body waits in the archive bucket (encrypted,
// erased with the order), the queue carries only its name.
package callback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Header is the signature's header.
const Header = "Cardocr-Signature"

// Statuses of a final order.
const (
	Done   = "done"
	Failed = "failed"
)

// Body is what the receiver gets.
type Body struct {
	OrderNo string          `json:"orderNo"`
	Kind    string          `json:"kind"`
	Status  string          `json:"status"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Error is a failed order's error, as the API answers it.
type Error struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	UpstreamCode string `json:"upstreamCode,omitempty"`
}

// Sign returns the header value for body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts + "."))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Tolerance is how old a signature a receiver accepts (a replayed
// delivery older than this is refused).
const Tolerance = 5 * time.Minute

// ErrSignature is a header that does not verify.
var ErrSignature = errors.New("callback: the signature does not verify")

// Verify checks a delivery as a receiver does: a v1 signature over
// "<t>.<body>" with the shared secret, t within tolerance of now.
func Verify(secret, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: no t= or v1=", ErrSignature)
	}
	if d := now.Sub(time.Unix(t, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: the timestamp is outside the tolerance", ErrSignature)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrSignature
}

// Job is the queue message of a delivery: which body, the how-manieth
// attempt, since when. It carries no result and no secret.
type Job struct {
	Tenant  string `json:"tenant,omitempty"`
	Kind    string `json:"kind"`
	OrderNo string `json:"orderNo"`
	Status  string `json:"status"`
	Attempt int    `json:"attempt"`
	Since   int64  `json:"since"` // unix seconds of the first attempt
}

// MaxAge is how long deliveries are tried before the order is marked
// callbackFailed and the message goes to the dead-letter queue.
const MaxAge = 24 * time.Hour

// Backoff is the wait before attempt n+1: 10 s doubling, at most 15
// minutes (SQS's largest message delay).
func Backoff(attempt int, base time.Duration) time.Duration {
	if base <= 0 {
		base = 10 * time.Second
	}
	d := base
	for i := 0; i < attempt && d < 15*time.Minute; i++ {
		d *= 2
	}
	return min(d, 15*time.Minute)
}
