package presign

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is an S3 error answer: the status and the code S3 gives.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Write answers the error as S3 does: an XML <Error> document.
func (e *Error) Write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	b, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
		Message string
	}{Code: e.Code, Message: e.Message})
	w.Write(append([]byte(xml.Header), b...))
}

func denied(msg string) *Error { return &Error{http.StatusForbidden, "AccessDenied", msg} }

// Secrets finds the secret key of an access key id ("" when unknown).
type Secrets func(accessKeyID string) string

// PostPolicy is a checked form's policy: what the file itself is held to.
type PostPolicy struct {
	MinBytes, MaxBytes int64 // content-length-range; MaxBytes < 0: none
}

// VerifyPost checks a POST form's fields as S3 does, before the file is
// read: the signature over the policy, the policy's expiry, each of its
// conditions, and that every field is covered by one. Field names are
// matched without regard to case. The returned policy bounds the file;
// CheckSize answers for its length.
func VerifyPost(fields map[string]string, bucket, region string, secrets Secrets, now time.Time) (PostPolicy, *Error) {
	f := make(map[string]string, len(fields))
	for k, v := range fields {
		f[strings.ToLower(k)] = v
	}
	for _, n := range []string{"policy", "x-amz-signature", "x-amz-credential", "x-amz-algorithm", "x-amz-date", "key"} {
		if _, ok := f[n]; !ok {
			return PostPolicy{}, &Error{http.StatusBadRequest, "InvalidArgument", "Bucket POST must contain a field named '" + n + "'."}
		}
	}
	if f["x-amz-algorithm"] != algorithm {
		return PostPolicy{}, &Error{http.StatusBadRequest, "InvalidArgument", "Only AWS4-HMAC-SHA256 is supported."}
	}
	parts := strings.Split(f["x-amz-credential"], "/")
	if len(parts) != 5 || parts[3] != "s3" || parts[4] != "aws4_request" || parts[2] != region {
		return PostPolicy{}, &Error{http.StatusBadRequest, "AuthorizationQueryParametersError", "The credential is not of the form <key>/<date>/" + region + "/s3/aws4_request."}
	}
	secret := secrets(parts[0])
	if secret == "" {
		return PostPolicy{}, &Error{http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."}
	}
	want := SignPolicy(secret, parts[1], region, f["policy"])
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(f["x-amz-signature"]))) {
		return PostPolicy{}, &Error{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."}
	}
	raw, err := base64.StdEncoding.DecodeString(f["policy"])
	if err != nil {
		return PostPolicy{}, &Error{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid 'Base64' encoding."}
	}
	var doc struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return PostPolicy{}, &Error{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON."}
	}
	exp, err := time.Parse(time.RFC3339, doc.Expiration)
	if err != nil {
		return PostPolicy{}, &Error{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid 'expiration' value."}
	}
	if !now.Before(exp) {
		return PostPolicy{}, denied("Invalid according to Policy: Policy expired.")
	}
	pol := PostPolicy{MaxBytes: -1}
	covered := map[string]bool{}
	for _, c := range doc.Conditions {
		var exact map[string]string
		if json.Unmarshal(c, &exact) == nil {
			for k, v := range exact {
				k = strings.ToLower(k)
				got, ok := f[k]
				if k == "bucket" {
					got, ok = bucket, true
				}
				if !ok || got != v {
					return PostPolicy{}, denied("Invalid according to Policy: Policy Condition failed: " + string(c))
				}
				covered[k] = true
			}
			continue
		}
		var arr []json.RawMessage
		if json.Unmarshal(c, &arr) != nil || len(arr) != 3 {
			return PostPolicy{}, &Error{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition: " + string(c)}
		}
		var op string
		json.Unmarshal(arr[0], &op)
		switch strings.ToLower(op) {
		case "eq", "starts-with":
			var name, v string
			if json.Unmarshal(arr[1], &name) != nil || json.Unmarshal(arr[2], &v) != nil || !strings.HasPrefix(name, "$") {
				return PostPolicy{}, &Error{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition: " + string(c)}
			}
			name = strings.ToLower(name[1:])
			got := f[name]
			if name == "bucket" {
				got = bucket
			}
			if op == "eq" && got != v || op == "starts-with" && !strings.HasPrefix(got, v) {
				return PostPolicy{}, denied("Invalid according to Policy: Policy Condition failed: " + string(c))
			}
			covered[name] = true
		case "content-length-range":
			if json.Unmarshal(arr[1], &pol.MinBytes) != nil || json.Unmarshal(arr[2], &pol.MaxBytes) != nil {
				return PostPolicy{}, &Error{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid content-length-range."}
			}
		default:
			return PostPolicy{}, &Error{http.StatusBadRequest, "InvalidPolicyDocument", "Invalid Policy: Invalid Condition: " + string(c)}
		}
	}
	for k := range f {
		switch {
		case k == "policy" || k == "x-amz-signature" || k == "file" || strings.HasPrefix(k, "x-ignore-") || covered[k]:
		default:
			return PostPolicy{}, denied("Invalid according to Policy: Extra input fields: " + k)
		}
	}
	return pol, nil
}

// CheckSize answers for a file of n bytes under p.
func (p PostPolicy) CheckSize(n int64) *Error {
	switch {
	case p.MaxBytes >= 0 && n > p.MaxBytes:
		return &Error{http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"}
	case n < p.MinBytes:
		return &Error{http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"}
	}
	return nil
}

// VerifyPut checks a presigned request (query-string authentication) as
// S3 does: the signature over the method, path, parameters and signed
// headers, then the expiry.
func VerifyPut(r *http.Request, region string, secrets Secrets, now time.Time) *Error {
	q := r.URL.Query()
	sig := q.Get("X-Amz-Signature")
	q.Del("X-Amz-Signature")
	parts := strings.Split(q.Get("X-Amz-Credential"), "/")
	if q.Get("X-Amz-Algorithm") != algorithm || sig == "" || len(parts) != 5 {
		return denied("Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Expires parameters.")
	}
	secret := secrets(parts[0])
	if secret == "" {
		return &Error{http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."}
	}
	headers := map[string]string{}
	for _, n := range strings.Split(q.Get("X-Amz-SignedHeaders"), ";") {
		switch n {
		case "host":
			headers[n] = r.Host
		case "content-length":
			headers[n] = strconv.FormatInt(r.ContentLength, 10)
		default:
			headers[n] = r.Header.Get(n)
		}
	}
	want := QuerySignature(secret, region, r.Method, r.URL.EscapedPath(), q, headers)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return &Error{http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."}
	}
	signedAt, err := time.Parse(amzDate, q.Get("X-Amz-Date"))
	secs, err2 := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || err2 != nil {
		return denied("X-Amz-Date or X-Amz-Expires is not valid.")
	}
	if now.After(signedAt.Add(time.Duration(secs) * time.Second)) {
		return denied("Request has expired")
	}
	return nil
}

// ObjectURL is the path-style URL of key in a bucket served at base.
func ObjectURL(base, key string) string {
	return strings.TrimSuffix(base, "/") + "/" + escapePath(key)
}
