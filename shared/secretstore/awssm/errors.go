package awssm

import (
	"context"
	"errors"
	"net"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

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

// mapError turns an SDK error into a *secretstore.Error. last is the error
// of the call's last attempt as the retryer saw it (the SDK replaces it with
// a cancellation error when the context ends during a retry backoff), so a
// throttled call that then runs out of time still says it was throttled.
// It never includes a response body: decoding errors are kept as causes but
// their text is hidden.
func mapError(ctx context.Context, op, secret string, err, last error) error {
	e := classify(err)
	if ctx.Err() != nil || isContextErr(err) {
		if prev := classify(last); last != nil && !isContextErr(last) && (prev.Kind != nil || prev.Code != "") {
			prev.Msg += "; then the call ran out of time"
			prev.Err = errors.Join(last, ctx.Err())
			e = prev
		} else {
			e = &secretstore.Error{Kind: secretstore.ErrUnavailable, Msg: "no answer in time (call timed out or was canceled)",
				Err: errors.Join(err, ctx.Err()), HideCause: true}
		}
	}
	e.Backend, e.Op, e.Secret = "awssm", op, secret
	return e
}

func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// recorder keeps the error of each attempt of one call (see mapError).
type recorder struct {
	aws.RetryerV2
	last *error
}

func (r recorder) IsErrorRetryable(err error) bool {
	*r.last = err
	return r.RetryerV2.IsErrorRetryable(err)
}

// recordAttempts is a per-call option that makes the call's retryer note
// each attempt's error in *last.
func recordAttempts(last *error) func(*secretsmanager.Options) {
	return func(o *secretsmanager.Options) {
		if v2, ok := o.Retryer.(aws.RetryerV2); ok {
			o.Retryer = recorder{RetryerV2: v2, last: last}
		}
	}
}

func classify(err error) *secretstore.Error {
	e := &secretstore.Error{Err: err, HideCause: true}
	var rid interface{ ServiceRequestID() string }
	if errors.As(err, &rid) {
		e.RequestID = rid.ServiceRequestID()
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		status = re.HTTPStatusCode()
	}
	var api smithy.APIError
	isAPI := errors.As(err, &api)
	if isAPI {
		e.Code = api.ErrorCode()
	}
	var de *smithy.DeserializationError
	var qe ratelimit.QuotaExceededError
	var ne net.Error

	switch {
	case isAPI && e.Code == "ResourceNotFoundException":
		e.Kind, e.Msg = secretstore.ErrNotFound, "secret or its current value not found"
	case isAPI && e.Code == "ResourceExistsException":
		e.Kind, e.Msg = secretstore.ErrConflict, "a version with this ClientRequestToken exists with other content"
	case isAPI && throttleCodes[e.Code], status == 429:
		e.Kind, e.Msg = secretstore.ErrThrottled, "throttled by Secrets Manager (after the SDK's retries)"
	case isAPI && e.Code == "LimitExceededException":
		e.Kind, e.Msg = secretstore.ErrThrottled, "a Secrets Manager quota is exceeded (versions per secret or request rate)"
	case isAPI && deniedCodes[e.Code]:
		e.Kind, e.Msg = secretstore.ErrDenied, "refused: "+api.ErrorMessage()
	case isAPI && unavailableCodes[e.Code], status >= 500:
		e.Kind, e.Msg = secretstore.ErrUnavailable, "Secrets Manager failed (server error, after the SDK's retries)"
	case errors.As(err, &de):
		e.Kind, e.Msg = secretstore.ErrMalformed, "the answer could not be decoded"
	case errors.As(err, &qe):
		e.Kind, e.Msg = secretstore.ErrUnavailable, "the SDK's retry budget is spent after repeated failures"
		e.HideCause = false
	case isRequestSend(err) || errors.As(err, &ne):
		e.Kind, e.Msg = secretstore.ErrUnavailable, "could not reach Secrets Manager"
		e.HideCause = false // network errors name the host, not the secret
	case isAPI:
		e.Msg = "refused: " + api.ErrorMessage()
	default:
		e.Msg = "failed"
	}
	return e
}

func isRequestSend(err error) bool {
	var rs *smithyhttp.RequestSendError
	return errors.As(err, &rs)
}
