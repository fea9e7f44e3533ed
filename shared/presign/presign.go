// Package presign writes presigned uploads: browser-based POST forms with
// a signed policy (S3 Signature Version 4, COS POST Object) and presigned
// PUT URLs (S3 query-string authentication), so that a phone sends its
// photo to object storage directly, never through a function's 6 MB
// request limit. It also checks them as S3 does, for the local stack's
// form target and the tests.
//
// The documents followed:
//   - https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
//   - https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html (a test vector)
//   - https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html (a test vector)
//   - https://cloud.tencent.com/document/product/436/14690 (COS POST Object)
package presign

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxExpiry is the longest a form is issued for.
const MaxExpiry = 15 * time.Minute

// Form is a presigned upload, as the API hands it out: a multipart POST of
// Fields plus the file under FileField, or a PUT of the bytes with
// Headers.
type Form struct {
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Fields    map[string]string `json:"fields,omitempty"`
	FileField string            `json:"fileField,omitempty"`
	Headers   map[string]string `json:"headers,omitempty"`
}

// Upload is what a form allows: one object key, one content type, a
// length (a range up to MaxBytes for a POST, exactly Size for a PUT), until
// Expires.
type Upload struct {
	Key         string
	ContentType string
	MaxBytes    int64
	Size        int64
	Expires     time.Time
}

func (u Upload) check(now time.Time) error {
	switch {
	case u.Key == "" || strings.HasPrefix(u.Key, "/"):
		return errors.New("presign: no object key")
	case u.ContentType == "":
		return errors.New("presign: no content type")
	case !u.Expires.After(now) || u.Expires.Sub(now) > MaxExpiry+time.Second:
		return errors.New("presign: the expiry must be within 15 minutes")
	}
	return nil
}

// S3 signs for an S3 bucket (or an S3-compatible server).
type S3 struct {
	AccessKeyID, SecretAccessKey, SessionToken string
	Region                                     string
	Bucket                                     string
	// BucketURL is where the bucket answers: https://{bucket}.s3.{region}.amazonaws.com
	// (virtual-hosted), or a path-style URL ending in the bucket's name.
	BucketURL string
}

const (
	algorithm = "AWS4-HMAC-SHA256"
	amzDate   = "20060102T150405Z"
)

func (s S3) scope(t time.Time) string {
	return t.UTC().Format("20060102") + "/" + s.Region + "/s3/aws4_request"
}

// signingKey is SigV4's derived key for a day, region and service.
func signingKey(secret, day, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), day)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

// SignPolicy is the x-amz-signature of a Base64 policy: the policy is the
// string to sign.
func SignPolicy(secret, day, region, policyB64 string) string {
	return hex.EncodeToString(hmacSHA256(signingKey(secret, day, region, "s3"), policyB64))
}

// Post returns a browser-based POST form for u, signed at now.
func (s S3) Post(u Upload, now time.Time) (Form, error) {
	if err := u.check(now); err != nil {
		return Form{}, err
	}
	if u.MaxBytes <= 0 {
		return Form{}, errors.New("presign: no size limit")
	}
	cred := s.AccessKeyID + "/" + s.scope(now)
	date := now.UTC().Format(amzDate)
	conds := []any{
		map[string]string{"bucket": s.Bucket},
		[]any{"eq", "$key", u.Key},
		[]any{"eq", "$Content-Type", u.ContentType},
		[]any{"content-length-range", 1, u.MaxBytes},
		map[string]string{"x-amz-algorithm": algorithm},
		map[string]string{"x-amz-credential": cred},
		map[string]string{"x-amz-date": date},
	}
	fields := map[string]string{"key": u.Key, "Content-Type": u.ContentType,
		"x-amz-algorithm": algorithm, "x-amz-credential": cred, "x-amz-date": date}
	if s.SessionToken != "" {
		conds = append(conds, map[string]string{"x-amz-security-token": s.SessionToken})
		fields["x-amz-security-token"] = s.SessionToken
	}
	policy, err := json.Marshal(map[string]any{"expiration": u.Expires.UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": conds})
	if err != nil {
		return Form{}, err
	}
	p64 := base64.StdEncoding.EncodeToString(policy)
	fields["policy"] = p64
	fields["x-amz-signature"] = SignPolicy(s.SecretAccessKey, now.UTC().Format("20060102"), s.Region, p64)
	return Form{Method: "POST", URL: s.BucketURL, Fields: fields, FileField: "file"}, nil
}

// Put returns a presigned PUT of exactly u.Size bytes of u.ContentType.
func (s S3) Put(u Upload, now time.Time) (Form, error) {
	if err := u.check(now); err != nil {
		return Form{}, err
	}
	if u.Size <= 0 {
		return Form{}, errors.New("presign: no size")
	}
	obj, err := url.Parse(strings.TrimSuffix(s.BucketURL, "/") + "/" + escapePath(u.Key))
	if err != nil {
		return Form{}, err
	}
	headers := map[string]string{"Content-Type": u.ContentType, "Content-Length": strconv.FormatInt(u.Size, 10)}
	q := obj.Query()
	q.Set("X-Amz-Algorithm", algorithm)
	q.Set("X-Amz-Credential", s.AccessKeyID+"/"+s.scope(now))
	q.Set("X-Amz-Date", now.UTC().Format(amzDate))
	q.Set("X-Amz-Expires", strconv.FormatInt(int64(u.Expires.Sub(now).Round(time.Second)/time.Second), 10))
	if s.SessionToken != "" {
		q.Set("X-Amz-Security-Token", s.SessionToken)
	}
	signed := map[string]string{"content-length": headers["Content-Length"], "content-type": u.ContentType, "host": obj.Host}
	q.Set("X-Amz-SignedHeaders", signedNames(signed))
	sig := QuerySignature(s.SecretAccessKey, s.Region, "PUT", obj.EscapedPath(), q, signed)
	obj.RawQuery = canonicalQuery(q) + "&X-Amz-Signature=" + sig
	return Form{Method: "PUT", URL: obj.String(), Headers: headers}, nil
}

// QuerySignature is the X-Amz-Signature of a presigned request: q holds
// the X-Amz-* parameters but the signature, headers the signed headers
// (lower-case names), the payload unsigned.
func QuerySignature(secret, region, method, escapedPath string, q url.Values, headers map[string]string) string {
	var canon strings.Builder
	canon.WriteString(method + "\n" + escapedPath + "\n" + canonicalQuery(q) + "\n")
	names := strings.Split(signedNames(headers), ";")
	for _, n := range names {
		canon.WriteString(n + ":" + strings.TrimSpace(headers[n]) + "\n")
	}
	canon.WriteString("\n" + strings.Join(names, ";") + "\nUNSIGNED-PAYLOAD")
	date := q.Get("X-Amz-Date")
	day := ""
	if len(date) >= 8 {
		day = date[:8]
	}
	sum := sha256.Sum256([]byte(canon.String()))
	sts := algorithm + "\n" + date + "\n" + day + "/" + region + "/s3/aws4_request\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(signingKey(secret, day, region, "s3"), sts))
}

func signedNames(h map[string]string) string {
	names := make([]string, 0, len(h))
	for n := range h {
		names = append(names, strings.ToLower(n))
	}
	sort.Strings(names)
	return strings.Join(names, ";")
}

// canonicalQuery sorts the parameters and encodes them as SigV4 does
// (RFC 3986: space as %20, '/' encoded).
func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			parts = append(parts, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	return strings.Join(parts, "&")
}

// escapePath encodes an object key for a URL path, '/' kept.
func escapePath(key string) string { return uriEncode(key, false) }

func uriEncode(s string, slash bool) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !slash {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

// COS signs for a Tencent Cloud COS bucket.
type COS struct {
	SecretID, SecretKey, SessionToken string
	// BucketURL is https://{bucket-appid}.cos.{region}.myqcloud.com.
	BucketURL string
}

// COSPolicySignature is the q-signature of a POST Object policy (the JSON
// text, before Base64): SignKey = HMAC-SHA1(SecretKey, KeyTime);
// StringToSign = SHA1(policy); Signature = HMAC-SHA1(SignKey,
// StringToSign), each as lower-case hex.
func COSPolicySignature(secretKey, keyTime string, policy []byte) string {
	signKey := hex.EncodeToString(hmacSHA1([]byte(secretKey), keyTime))
	sum := sha1.Sum(policy)
	return hex.EncodeToString(hmacSHA1([]byte(signKey), hex.EncodeToString(sum[:])))
}

// Post returns a COS POST Object form for u, signed at now.
func (c COS) Post(u Upload, now time.Time) (Form, error) {
	if err := u.check(now); err != nil {
		return Form{}, err
	}
	if u.MaxBytes <= 0 {
		return Form{}, errors.New("presign: no size limit")
	}
	keyTime := strconv.FormatInt(now.Unix(), 10) + ";" + strconv.FormatInt(u.Expires.Unix(), 10)
	conds := []any{
		[]any{"eq", "$key", u.Key},
		[]any{"eq", "$Content-Type", u.ContentType},
		[]any{"content-length-range", 1, u.MaxBytes},
		map[string]string{"q-sign-algorithm": "sha1"},
		map[string]string{"q-ak": c.SecretID},
		map[string]string{"q-sign-time": keyTime},
	}
	fields := map[string]string{"key": u.Key, "Content-Type": u.ContentType,
		"q-sign-algorithm": "sha1", "q-ak": c.SecretID, "q-key-time": keyTime}
	if c.SessionToken != "" {
		conds = append(conds, map[string]string{"x-cos-security-token": c.SessionToken})
		fields["x-cos-security-token"] = c.SessionToken
	}
	policy, err := json.Marshal(map[string]any{"expiration": u.Expires.UTC().Format("2006-01-02T15:04:05.000Z"), "conditions": conds})
	if err != nil {
		return Form{}, err
	}
	fields["policy"] = base64.StdEncoding.EncodeToString(policy)
	fields["q-signature"] = COSPolicySignature(c.SecretKey, keyTime, policy)
	return Form{Method: "POST", URL: c.BucketURL, Fields: fields, FileField: "file"}, nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func hmacSHA1(key []byte, msg string) []byte {
	h := hmac.New(sha1.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
