package awssm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cardocr/cardocr/shared/awsreq"
	"github.com/cardocr/cardocr/shared/secretstore"
)

// Error codes of Secrets Manager and of the AWS JSON protocol in general.
var (
	throttleCodes = map[string]bool{
		"ThrottlingException": true, "Throttling": true, "TooManyRequestsException": true,
		"RequestLimitExceeded": true, "RequestThrottledException": true, "SlowDown": true,
	}
	deniedCodes = map[string]bool{
		"AccessDeniedException": true, "AccessDenied": true, "UnrecognizedClientException": true,
		"InvalidClientTokenId": true, "InvalidSignatureException": true, "SignatureDoesNotMatch": true,
		"IncompleteSignature": true, "IncompleteSignatureException": true, "ExpiredTokenException": true,
		"ExpiredToken": true, "MissingAuthenticationToken": true, "DecryptionFailure": true,
		"EncryptionFailure": true, "InvalidRequestException": true, // e.g. the secret is scheduled for deletion
	}
	unavailableCodes = map[string]bool{
		"InternalServiceError": true, "InternalFailure": true, "ServiceUnavailable": true,
		"RequestTimeout": true, "RequestTimeoutException": true,
	}
)

// client makes the two actions over awsJson1_1.
type client struct {
	endpoint, region string
	creds            aws.CredentialsProvider
	attempts         int
	hc               *http.Client
}

// call posts op with in and decodes the answer into out (nil: checked to
// be JSON, then dropped). Throttling, 5xx and calls without an answer are tried again up
// to attempts times, with jittered exponential backoff capped at 2 s, as
// the SDK's standard retryer does; the whole call is bounded by ctx. The
// error is a *secretstore.Error that never holds an answer's body: a call
// throttled and then out of time still says it was throttled.
func (c *client) call(ctx context.Context, op, secret string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return &secretstore.Error{Backend: "awssm", Op: op, Secret: secret, Msg: "cannot encode the request", Err: err}
	}
	var last *secretstore.Error
	for attempt := 0; attempt < max(c.attempts, 1); attempt++ {
		if attempt > 0 && !backoff(ctx, attempt) {
			break
		}
		creds, err := c.creds.Retrieve(ctx)
		if err != nil {
			return &secretstore.Error{Backend: "awssm", Op: op, Secret: secret, Kind: secretstore.ErrDenied, Msg: "no credentials", Err: err}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
		if err != nil {
			return &secretstore.Error{Backend: "awssm", Op: op, Secret: secret, Msg: "bad endpoint", Err: err}
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "secretsmanager."+op)
		ans, err := awsreq.Send(ctx, c.hc, req, body, "secretsmanager", c.region, creds, 16<<20)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			last = &secretstore.Error{Kind: secretstore.ErrUnavailable, Msg: "could not reach Secrets Manager", Err: err}
			continue
		}
		e := classify(ans)
		if e == nil {
			if out == nil {
				out = &map[string]any{} // an answer that is not JSON is still wrong
			}
			if err := json.Unmarshal(ans.Body, out); err != nil {
				return &secretstore.Error{Backend: "awssm", Op: op, Secret: secret, Kind: secretstore.ErrMalformed,
					Msg: "the answer could not be decoded", Err: err, HideCause: true}
			}
			return nil
		}
		last = e
		if !retryable(e) {
			break
		}
	}
	if ctx.Err() != nil {
		if last != nil && (last.Kind != nil || last.Code != "") {
			last.Msg += "; then the call ran out of time"
			last.Err = errors.Join(last.Err, ctx.Err())
		} else {
			last = &secretstore.Error{Kind: secretstore.ErrUnavailable, Msg: "no answer in time (call timed out or was canceled)",
				Err: ctx.Err(), HideCause: true}
		}
	}
	last.Backend, last.Op, last.Secret = "awssm", op, secret
	return last
}

// backoff waits before attempt (1, 2, …): a random time up to 100 ms ×
// 2^attempt, at most 2 s; false when ctx ended first.
func backoff(ctx context.Context, attempt int) bool {
	d := min(time.Duration(100<<attempt)*time.Millisecond, maxBackoff)
	d = time.Duration(mrand.Int64N(int64(d)) + 1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// retryable: the SDK's standard retryer's rule (throttling, server
// errors, no answer).
func retryable(e *secretstore.Error) bool {
	return e.Kind == secretstore.ErrThrottled && e.Code != "LimitExceededException" || e.Kind == secretstore.ErrUnavailable
}

// classify reads an error answer (nil for a 2xx): its code from the
// X-Amzn-ErrorType header or the body's __type, its message, its request
// id. The body itself is never kept.
func classify(ans awsreq.Answer) *secretstore.Error {
	if ans.Status/100 == 2 {
		return nil
	}
	e := &secretstore.Error{RequestID: ans.Header.Get("X-Amzn-Requestid"), HideCause: true}
	code, _, _ := strings.Cut(ans.Header.Get("X-Amzn-Errortype"), ":")
	if code == "" {
		code = awsreq.ErrorType(ans.Body)
	}
	e.Code = code
	var m struct {
		Message  string `json:"message"`
		Message2 string `json:"Message"`
	}
	_ = json.Unmarshal(ans.Body, &m)
	msg := m.Message
	if msg == "" {
		msg = m.Message2
	}
	isAPI := code != ""
	switch {
	case isAPI && code == "ResourceNotFoundException":
		e.Kind, e.Msg = secretstore.ErrNotFound, "secret or its current value not found"
	case isAPI && code == "ResourceExistsException":
		e.Kind, e.Msg = secretstore.ErrConflict, "a version with this ClientRequestToken exists with other content"
	case isAPI && throttleCodes[code], ans.Status == http.StatusTooManyRequests:
		e.Kind, e.Msg = secretstore.ErrThrottled, "throttled by Secrets Manager (after the retries)"
	case isAPI && code == "LimitExceededException":
		e.Kind, e.Msg = secretstore.ErrThrottled, "a Secrets Manager quota is exceeded (versions per secret or request rate)"
	case isAPI && deniedCodes[code]:
		e.Kind, e.Msg = secretstore.ErrDenied, "refused: "+msg
	case isAPI && unavailableCodes[code], ans.Status >= 500:
		e.Kind, e.Msg = secretstore.ErrUnavailable, "Secrets Manager failed (server error, after the retries)"
	case isAPI:
		e.Msg = "refused: " + msg
	default:
		e.Kind, e.Msg = secretstore.ErrMalformed, "an error answer without an error code (HTTP "+strconv.Itoa(ans.Status)+")"
	}
	return e
}
