package tencentssm

import (
	"context"
	"errors"
	"strconv"
	"strings"

	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"

	"github.com/cardocr/cardocr/shared/secretstore"
)

// Answers this package rejects itself.
var (
	errNoResponse = errors.New("answer without a Response object")
	errNoValue    = errors.New("answer without SecretString or SecretBinary")
	errBadBinary  = errors.New("SecretBinary is not base64")
)

// mapError turns an SDK error into a *secretstore.Error. The SDK's own
// messages for ClientError.HttpStatusCodeError and ClientError.ParseJsonError
// quote the response body (which may be the secret): they are never shown
// or kept, only the HTTP status is.
func (s *Store) mapError(ctx context.Context, op, secret string, err, netErr error, rid string) *secretstore.Error {
	e := &secretstore.Error{Backend: "tencentssm", Op: op, Secret: secret, RequestID: rid}
	var sdk *tcerr.TencentCloudSDKError
	if !errors.As(err, &sdk) {
		// One of ours: the answer parsed but is not what SSM promises.
		e.Kind, e.Msg, e.Err = secretstore.ErrMalformed, "the answer is not what SSM sends", err
		return e
	}
	e.Code = sdk.Code
	if e.RequestID == "" {
		e.RequestID = sdk.RequestId
	}
	switch code := sdk.Code; {
	case code == "ClientError.NetworkError", code == "ClientError.IOError":
		e.Code = ""
		e.Kind = secretstore.ErrUnavailable
		if ctx.Err() != nil || isContextErr(netErr) {
			e.Msg = "no answer in time (call timed out or was canceled)"
			e.Err = errors.Join(netErr, ctx.Err())
			e.HideCause = true
		} else {
			e.Msg = "could not reach SSM"
			if code == "ClientError.IOError" {
				e.Msg = "the answer was cut short"
			}
			e.Err = netErr // a transport error names the host, not the secret
		}
	case code == "ClientError.HttpStatusCodeError":
		e.Code = ""
		status := httpStatus(sdk.Message)
		e.Msg = "unexpected HTTP status " + strconv.Itoa(status)
		switch {
		case status == 429:
			e.Kind = secretstore.ErrThrottled
		case status >= 500:
			e.Kind = secretstore.ErrUnavailable
			e.Msg = "SSM failed with HTTP status " + strconv.Itoa(status)
		default:
			e.Kind = secretstore.ErrMalformed
		}
	case code == "ClientError.ParseJsonError":
		e.Code = ""
		e.Kind, e.Msg = secretstore.ErrMalformed, "the answer is not the JSON SSM sends"
	case strings.HasPrefix(code, "ResourceNotFound"):
		e.Kind, e.Msg = secretstore.ErrNotFound, "secret or version not found: "+sdk.Message
	case code == "ResourceInUse.VersionIdExists":
		e.Kind, e.Msg = secretstore.ErrConflict, "the version exists already"
	case strings.HasPrefix(code, "RequestLimitExceeded"):
		e.Kind, e.Msg = secretstore.ErrThrottled, "throttled by SSM"
	case strings.HasPrefix(code, "InternalError"), code == "ServiceUnavailable", strings.HasPrefix(code, "ResourceUnavailable.ServiceBusy"):
		e.Kind, e.Msg = secretstore.ErrUnavailable, "SSM failed: "+sdk.Message
	case strings.HasPrefix(code, "AuthFailure"), strings.HasPrefix(code, "UnauthorizedOperation"),
		strings.HasPrefix(code, "OperationDenied"), strings.HasPrefix(code, "ResourceUnavailable"):
		e.Kind, e.Msg = secretstore.ErrDenied, "refused: "+sdk.Message
	case code == "LimitExceeded":
		e.Msg = "refused: " + sdk.Message + " (a secret holds at most 10 versions)"
	default:
		e.Msg = "refused: " + sdk.Message
	}
	return e
}

// httpStatus reads the status code out of the SDK's message
// "Request fail with http status code: 503 Service Unavailable, with body: …".
func httpStatus(msg string) int {
	const p = "http status code: "
	i := strings.Index(msg, p)
	if i < 0 {
		return 0
	}
	rest := msg[i+len(p):]
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, _ := strconv.Atoi(rest[:j])
	return n
}

func isContextErr(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

func isTimeout(e *secretstore.Error) bool { return isContextErr(e.Err) }

func isLimitExceeded(err error) bool {
	var e *secretstore.Error
	return errors.As(err, &e) && e.Code == "LimitExceeded"
}
