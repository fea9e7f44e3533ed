package wechat

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/upstream"
)

// WeChat's errors are upstream.Error marked Provider "wechat".
// CredentialsRejected is 40001/42001/40014: reload the token and retry
// once.

// Token errors: 40001 invalid credential (or not the latest), 42001
// expired, 40014 invalid access_token (old global table).
var tokenRejected = map[string]bool{"40001": true, "42001": true, "40014": true}

// kind classifies an answer by errcode and errmsg together: the OCR codes
// moved over the years (101002 once meant "not enough market quota"), so
// the wording decides when it is clear.
type kind int

const (
	kindOther kind = iota
	kindToken
	kindQuota
	kindBadURL
	kindNoCard
	kindBadImage
	kindBusy
	kindWhitelist
	kindBadCredential
)

func classify(code, msg string) kind {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "quota") || strings.Contains(m, "reach max api") || strings.Contains(m, "api freq out"):
		return kindQuota
	case code == "45009" || code == "45011" || code == "101003":
		return kindQuota
	case tokenRejected[code]:
		return kindToken
	case strings.Contains(m, "invalid image url") || code == "101000":
		return kindBadURL
	case strings.Contains(m, "certificate not found") || code == "101001":
		return kindNoCard
	case strings.Contains(m, "invalid image data") || strings.Contains(m, "decode image") || code == "101002":
		return kindBadImage
	case code == "-1" || strings.Contains(m, "system error") || strings.Contains(m, "system busy"):
		return kindBusy
	case code == "40164" || code == "61004" || strings.Contains(m, "whitelist"):
		return kindWhitelist
	case code == "40013" || code == "40125" || code == "40243" || code == "41002" || code == "41004":
		return kindBadCredential
	}
	return kindOther
}

func newAPIError(op, code, msg string) *upstream.Error {
	k := classify(code, msg)
	return &upstream.Error{
		Provider: "wechat", Op: op, Code: code, Msg: upstream.Truncate(msg, 80),
		CredentialsRejected: k == kindToken,
		Quota:               k == kindQuota && code != "45011",
		Throttled:           code == "45011", // "API 调用太频繁"
		Retryable:           k == kindBusy || code == "45011",
	}
}

// toDomain converts any error from this package into a *errcode.Error whose
// Err is the *APIError. The upstream errmsg is not shown to callers.
func toDomain(e *upstream.Error) *errcode.Error {
	de := &errcode.Error{Code: errcode.UpstreamError, UpstreamCode: e.Code, Retryable: e.Retryable, Err: e}
	if e.Code == "" {
		switch {
		case errors.Is(e.Err, ErrForceTooSoon):
			de.Message = "a forced token refresh was asked for too soon"
		case upstream.IsTimeout(e.Err):
			de.Code, de.Message, de.Retryable = errcode.UpstreamTimeout, "WeChat did not answer in time", true
		default:
			de.Message = "the WeChat call failed"
		}
		return de
	}
	switch classify(e.Code, e.Msg) {
	case kindQuota:
		de.Code, de.Message = errcode.QuotaExceeded, "the WeChat OCR quota is exhausted"
		if e.Code == "45011" {
			de.Code, de.Message = errcode.Busy, "the WeChat per-minute call limit was reached; try again shortly"
		}
	case kindToken:
		de.Message = "WeChat rejected the access token"
	case kindBadURL:
		de.Code, de.Message = errcode.InvalidImage, "WeChat could not download the image URL"
	case kindNoCard:
		de.Code, de.Message = errcode.RecognitionFailed, "no ID card was found in the image"
	case kindBadImage:
		de.Code, de.Message = errcode.InvalidImage, "WeChat could not read the image data"
	case kindBusy:
		de.Message = "WeChat reported a system error; try again"
	case kindWhitelist:
		de.Message = "WeChat refused our egress IP address (IP whitelist)"
	case kindBadCredential:
		de.Message = "WeChat rejected the configured appid or secret"
	default:
		de.Message = "WeChat answered with an error"
	}
	return de
}

func tooLarge(size int64) *errcode.Error {
	return errcode.Errorf(errcode.ImageTooLarge, "the image is %d bytes; WeChat takes less than %d", size, MaxImage+1)
}

// answer is a WeChat JSON answer read leniently: values may be strings or
// numbers ("errcode":"0" and "errcode":0 both occur in the examples).
type answer struct {
	m   map[string]json.RawMessage
	raw json.RawMessage
}

var errMalformed = errors.New("malformed JSON answer")

func parseAnswer(body []byte) (*answer, error) {
	a := &answer{raw: bytes.TrimSpace(body)}
	if err := json.Unmarshal(body, &a.m); err != nil || a.m == nil {
		return nil, errMalformed
	}
	return a, nil
}

// String returns the first of keys present, as text.
func (a *answer) String(keys ...string) string {
	for _, k := range keys {
		v, ok := a.m[k]
		if !ok {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case len(v) == 0 || string(v) == "null":
			continue
		case v[0] == '"':
			var s string
			if json.Unmarshal(v, &s) == nil {
				return strings.TrimSpace(s)
			}
			return ""
		case v[0] == '{' || v[0] == '[':
			return ""
		default:
			return string(v)
		}
	}
	return ""
}

func seconds(s string) (time.Duration, bool) {
	n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || n <= 0 {
		return 0, false
	}
	return time.Duration(n * float64(time.Second)), true
}
