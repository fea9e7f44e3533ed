// Package tc3 is Tencent Cloud API 3.0's request signature
// (TC3-HMAC-SHA256, https://cloud.tencent.com/document/api/866/33519),
// written from the document: Verify for the fakes that stand in for
// Tencent Cloud services (the emulator's OCR endpoint, the SSM fake), and
// Call for the small clients that would otherwise link
// tencentcloud-sdk-go for one action (scfkick's Invoke, cmqqueue's
// PublishCmqMsg). Signature is tested against the SDK's signer.
package tc3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Credentials are what a request must be signed with.
type Credentials struct {
	SecretID, SecretKey string
	// Token, when set, must come as X-TC-Token (a role's temporary
	// credentials); when empty any token is accepted.
	Token string
}

// authRe is compiled on first use: only the fakes verify.
var authRe = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^TC3-HMAC-SHA256 Credential=([^/ ]+)/(\d{4}-\d{2}-\d{2})/([a-z0-9]+)/tc3_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)
})

// Verify checks a POST's timestamp (within five minutes of now), token and
// Authorization for service, and returns the API's error code and a
// message, or "" when the request is properly signed.
func Verify(r *http.Request, body []byte, service string, c Credentials, now time.Time) (code, msg string) {
	ts, err := strconv.ParseInt(r.Header.Get("X-TC-Timestamp"), 10, 64)
	if err != nil {
		return "MissingParameter", "X-TC-Timestamp is missing or not a number"
	}
	if d := now.Sub(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return "AuthFailure.SignatureExpire", "X-TC-Timestamp is more than five minutes off"
	}
	if c.Token != "" && r.Header.Get("X-TC-Token") != c.Token {
		return "AuthFailure.TokenFailure", "X-TC-Token is not the session token"
	}
	m := authRe().FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "AuthFailure.InvalidAuthorization", "Authorization is not TC3-HMAC-SHA256"
	}
	if m[1] != c.SecretID {
		return "AuthFailure.SecretIdNotFound", "the SecretId does not exist"
	}
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	if m[2] != date || m[3] != service {
		return "AuthFailure.InvalidAuthorization", "the credential scope is not <date of X-TC-Timestamp>/" + service + "/tc3_request"
	}
	signed := strings.Split(m[4], ";")
	if !slices.Contains(signed, "content-type") || !slices.Contains(signed, "host") {
		return "AuthFailure.InvalidAuthorization", "SignedHeaders must include content-type and host"
	}
	if !hmac.Equal([]byte(m[5]), []byte(Signature(r, body, signed, ts, service, c.SecretKey))) {
		return "AuthFailure.SignatureFailure", "signature mismatch"
	}
	return "", ""
}

// Signature computes the signature of r as the document describes: a
// canonical request (method, URI "/", empty query, the signed headers
// lower-cased with their values, the list of them, the payload's SHA-256),
// a string to sign scoped to date/service/tc3_request, and a key derived
// from "TC3"+key through the date, the service and "tc3_request".
func Signature(r *http.Request, body []byte, signed []string, ts int64, service, key string) string {
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	var headers strings.Builder
	for _, h := range signed {
		v := r.Header.Get(h)
		if h == "host" {
			v = r.Host
		}
		headers.WriteString(h + ":" + strings.ToLower(strings.TrimSpace(v)) + "\n")
	}
	payload := sha256.Sum256(body)
	canon := strings.Join([]string{r.Method, "/", "", headers.String(), strings.Join(signed, ";"), hex.EncodeToString(payload[:])}, "\n")
	ch := sha256.Sum256([]byte(canon))
	toSign := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + date + "/" + service + "/tc3_request\n" + hex.EncodeToString(ch[:])
	k := mac([]byte("TC3"+key), date)
	k = mac(k, service)
	k = mac(k, "tc3_request")
	return hex.EncodeToString(mac(k, toSign))
}

func mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
