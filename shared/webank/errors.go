package webank

import (
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/upstream"
)

// WeBank's errors are upstream.Error marked Provider "webank".
// CredentialsRejected means the token, ticket or signature was not
// accepted: reload the pair and retry once.

// ticketRejectedCodes are the answers that mean the credentials used for the
// call are no longer (or never were) accepted: "15" token expired (face
// return-code tables; public clients refetch on it), "400101" invalid request
// (what a bad signature gets, per user reports), and third-party-reported
// "400106" signature verification failed, "1104" signature expired/invalid,
// "66660002" request expired (docs/protocol.md §6). Retrying after a reload costs
// one unbilled call when the guess is wrong.
var ticketRejectedCodes = map[string]bool{"15": true, "400101": true, "400106": true, "1104": true, "66660002": true}

// busyCodes are documented or reported "busy, try again" answers.
var busyCodes = map[string]bool{"999997": true, "999998": true, "999999": true, "66660004": true, "1506": true, "1507": true, "18": true}

// notBilledCodes are the ID card OCR answers the error code page
// (https://cloud.tencent.com/document/product/1007/47902) marks "不收费":
// the quota store gives them back. Other answers count: over-counting is
// the safe side of a spend cap.
var notBilledCodes = map[string]bool{"66660015": true, "66660020": true, "66661001": true, "66661003": true,
	"66661004": true, "66661005": true, "66661006": true, "66661007": true, "66661008": true, "66661010": true,
	"66661012": true, "66661099": true, "300101": true}

// throttleCodes are the reported rate answers ("too many requests",
// "concurrency limit": 1506, 1507, 66660004; no official page names them,
// see docs/protocol.md §6). They are retried once after a pause and never
// sent to another provider: if the guess is wrong, the cost is one retry.
var throttleCodes = map[string]bool{"1506": true, "1507": true, "66660004": true}

// domainCode maps an upstream answer to the API's error code.
func domainCode(op, code string) errcode.Code {
	switch code {
	case "66660020":
		return errcode.NotFound
	case "66660015", "66660016", "66661005", "66661010":
		return errcode.InvalidImage
	case "66661001", "66661003", "66661004", "66661006", "66661007", "66661008", "66661012",
		"-9011", "-9012", "-9013", "-9014":
		return errcode.RecognitionFailed
	case "66660003":
		return errcode.QuotaExceeded
	}
	return errcode.UpstreamError
}

// messages for codes whose meaning we know; the upstream msg is not shown to
// callers (it is untranslated and might echo input).
var codeMessages = map[string]string{
	"66660015": "the image could not be processed; try another image",
	"66660016": "the image could not be processed; try another image",
	"66660020": "no result for this order number",
	"66661001": "not recognized as an ID card; adjust the angle and keep the image sharp",
	"66661003": "the ID card has expired",
	"66661004": "the ID card's dates are not valid",
	"66661005": "the image could not be decoded",
	"66661006": "not the portrait side of an ID card",
	"66661007": "not the national emblem side of an ID card",
	"66661008": "name or ID number could not be recognized",
	"66661010": "the payload is not an image",
	"66661012": "the issuing authority could not be recognized",
	"66661099": "the upstream could not process the image",
	"66660003": "the upstream quota is exhausted",
	"-9011":    "the bank card could not be recognized",
	"-9012":    "the bank card image is blurred",
	"-9013":    "not a bank card",
	"-9014":    "the bank card information is not valid (reflection or occlusion)",
}

// toDomain converts any error from this package into a *errcode.Error whose
// Err is the *APIError, so callers can both map it to HTTP and inspect it.
func toDomain(e *upstream.Error) *errcode.Error {
	de := &errcode.Error{Code: errcode.UpstreamError, UpstreamCode: e.Code, Retryable: e.Retryable, Err: e}
	switch {
	case e.Code == "" && isTimeout(e.Err):
		de.Code, de.Message, de.Retryable = errcode.UpstreamTimeout, "the upstream did not answer in time", true
	case e.Code == "":
		de.Message = "the upstream call failed"
	case e.CredentialsRejected:
		de.Message = "the upstream rejected our credentials"
	case e.Throttled:
		de.Code, de.Message, de.Retryable = errcode.Busy, "WeBank's rate limit answered; try again shortly", true
	default:
		de.Code = domainCode(e.Op, e.Code)
		if m, ok := codeMessages[e.Code]; ok {
			de.Message = m
		} else {
			de.Message = "the upstream answered with an error"
		}
	}
	return de
}

func isTimeout(err error) bool { return upstream.IsTimeout(err) }
