package presign

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The credentials of AWS's worked examples.
const (
	exampleKeyID  = "AKIAIOSFODNN7EXAMPLE"
	exampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

// AWS's "Example: Browser-Based Upload using HTTP POST (Using AWS Signature
// Version 4)" (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-post-example.html):
// the policy as the page prints it (CRLF line ends), its Base64 as the
// page's form carries it, and the signature the page gives.
const (
	examplePolicy = "{ \"expiration\": \"2015-12-30T12:00:00.000Z\",\r\n" +
		"  \"conditions\": [\r\n" +
		"    {\"bucket\": \"sigv4examplebucket\"},\r\n" +
		"    [\"starts-with\", \"$key\", \"user/user1/\"],\r\n" +
		"    {\"acl\": \"public-read\"},\r\n" +
		"    {\"success_action_redirect\": \"http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html\"},\r\n" +
		"    [\"starts-with\", \"$Content-Type\", \"image/\"],\r\n" +
		"    {\"x-amz-meta-uuid\": \"14365123651274\"},\r\n" +
		"    {\"x-amz-server-side-encryption\": \"AES256\"},\r\n" +
		"    [\"starts-with\", \"$x-amz-meta-tag\", \"\"],\r\n" +
		"\r\n" +
		"    {\"x-amz-credential\": \"AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request\"},\r\n" +
		"    {\"x-amz-algorithm\": \"AWS4-HMAC-SHA256\"},\r\n" +
		"    {\"x-amz-date\": \"20151229T000000Z\" }\r\n" +
		"  ]\r\n" +
		"}"
	examplePolicyB64 = "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJzaWd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdWJsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0sDQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iOiAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYWwiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3JpdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
	exampleSignature = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"
)

func TestAWSPostExample(t *testing.T) {
	if got := base64.StdEncoding.EncodeToString([]byte(examplePolicy)); got != examplePolicyB64 {
		t.Fatalf("the policy's Base64 differs from the page's:\n%s", got)
	}
	if got := SignPolicy(exampleSecret, "20151229", "us-east-1", examplePolicyB64); got != exampleSignature {
		t.Fatalf("signature %s, the page gives %s", got, exampleSignature)
	}
	// The page's form passes our check of it, at a time before its expiry
	// (x-amz-meta-tag is the form's field the starts-with condition covers).
	fields := map[string]string{
		"key": "user/user1/MyPhoto.jpg", "acl": "public-read",
		"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html",
		"Content-Type":            "image/jpeg", "x-amz-meta-uuid": "14365123651274", "x-amz-server-side-encryption": "AES256",
		"X-Amz-Credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
		"X-Amz-Date": "20151229T000000Z", "x-amz-meta-tag": "", "Policy": examplePolicyB64, "X-Amz-Signature": exampleSignature,
	}
	secrets := func(id string) string {
		if id == exampleKeyID {
			return exampleSecret
		}
		return ""
	}
	if _, err := VerifyPost(fields, "sigv4examplebucket", "us-east-1", secrets, time.Date(2015, 12, 29, 1, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("the page's form is refused: %v", err)
	}
	if _, err := VerifyPost(fields, "sigv4examplebucket", "us-east-1", secrets, time.Date(2015, 12, 30, 12, 0, 1, 0, time.UTC)); err == nil || err.Message != "Invalid according to Policy: Policy expired." {
		t.Fatalf("after its expiry: %v", err)
	}
}

// AWS's "Authenticating Requests: Using Query Parameters" example
// (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html):
// GET /test.txt of examplebucket, signed 2013-05-24 for 86400 s.
func TestAWSQueryExample(t *testing.T) {
	q := url.Values{}
	q.Set("X-Amz-Algorithm", "AWS4-HMAC-SHA256")
	q.Set("X-Amz-Credential", "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request")
	q.Set("X-Amz-Date", "20130524T000000Z")
	q.Set("X-Amz-Expires", "86400")
	q.Set("X-Amz-SignedHeaders", "host")
	got := QuerySignature(exampleSecret, "us-east-1", "GET", "/test.txt", q, map[string]string{"host": "examplebucket.s3.amazonaws.com"})
	if want := "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"; got != want {
		t.Fatalf("signature %s, the page gives %s", got, want)
	}
}

// A presigned PUT is signed as the AWS SDK's own signer signs it.
func TestPutMatchesSDK(t *testing.T) {
	now := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	s := S3{AccessKeyID: exampleKeyID, SecretAccessKey: exampleSecret, SessionToken: "tok/en+=", Region: "ap-east-1", Bucket: "b",
		BucketURL: "https://b.s3.ap-east-1.amazonaws.com"}
	f, err := s.Put(Upload{Key: "uploads/idcard/front/api/acme/order 1.jpg", ContentType: "image/jpeg", Size: 12345, Expires: now.Add(15 * time.Minute)}, now)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(f.URL)
	ours := u.Query().Get("X-Amz-Signature")

	// The same request, presigned by aws-sdk-go-v2's signer.
	q := u.Query()
	q.Del("X-Amz-Signature")
	for _, k := range []string{"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Security-Token"} {
		q.Del(k)
	}
	req, _ := http.NewRequest("PUT", u.Scheme+"://"+u.Host+u.EscapedPath()+"?"+q.Encode(), nil)
	req.Header.Set("Content-Type", "image/jpeg")
	req.ContentLength = 12345
	// S3 signs the path as it is sent, escaped once (the S3 client sets
	// this option; the generic signer escapes twice).
	s3Signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	signed, hdr, err := s3Signer.PresignHTTP(context.Background(),
		aws.Credentials{AccessKeyID: exampleKeyID, SecretAccessKey: exampleSecret, SessionToken: "tok/en+="},
		req, "UNSIGNED-PAYLOAD", "s3", "ap-east-1", now)
	if err != nil {
		t.Fatal(err)
	}
	su, _ := url.Parse(signed)
	if sh := su.Query().Get("X-Amz-SignedHeaders"); sh != u.Query().Get("X-Amz-SignedHeaders") {
		t.Fatalf("signed headers: SDK %q (%v), ours %q", sh, hdr, u.Query().Get("X-Amz-SignedHeaders"))
	}
	if theirs := su.Query().Get("X-Amz-Signature"); theirs != ours {
		t.Fatalf("signature: SDK %s, ours %s", theirs, ours)
	}
	// And our check of it agrees, until it expires.
	put := func(at time.Time, ct string) *Error {
		r, _ := http.NewRequest("PUT", f.URL, strings.NewReader(strings.Repeat("x", 12345)))
		r.Header.Set("Content-Type", ct)
		return VerifyPut(r, "ap-east-1", func(string) string { return exampleSecret }, at)
	}
	if err := put(now.Add(time.Minute), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	if err := put(now.Add(16*time.Minute), "image/jpeg"); err == nil || err.Code != "AccessDenied" {
		t.Fatalf("expired: %v", err)
	}
	if err := put(now.Add(time.Minute), "image/png"); err == nil || err.Code != "SignatureDoesNotMatch" {
		t.Fatalf("another content type: %v", err)
	}
}

func TestVerifyPost(t *testing.T) {
	now := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	s := S3{AccessKeyID: "local", SecretAccessKey: "s3cret", Region: "local", Bucket: "uploads", BucketURL: "http://127.0.0.1/_local/uploads"}
	form, err := s.Post(Upload{Key: "uploads/bankcard/api/_/o1.jpg", ContentType: "image/jpeg", MaxBytes: 1000, Expires: now.Add(15 * time.Minute)}, now)
	if err != nil {
		t.Fatal(err)
	}
	secrets := func(id string) string {
		if id == "local" {
			return "s3cret"
		}
		return ""
	}
	with := func(k, v string) map[string]string {
		f := map[string]string{}
		for a, b := range form.Fields {
			f[a] = b
		}
		if v == "\x00" {
			delete(f, k)
		} else {
			f[k] = v
		}
		return f
	}
	tampered := func() string {
		raw, _ := base64.StdEncoding.DecodeString(form.Fields["policy"])
		return base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), `1000`, `9000`, 1)))
	}()
	for _, tc := range []struct {
		name   string
		fields map[string]string
		at     time.Time
		size   int64
		code   string
		says   string
	}{
		{"as issued", form.Fields, now, 1000, "", ""},
		{"field names in another case", map[string]string{}, now, 10, "", ""},
		{"expired", form.Fields, now.Add(15*time.Minute + time.Second), 10, "AccessDenied", "Policy expired"},
		{"another key", with("key", "uploads/bankcard/api/_/other.jpg"), now, 10, "AccessDenied", "Policy Condition failed"},
		{"another content type", with("Content-Type", "image/png"), now, 10, "AccessDenied", "Policy Condition failed"},
		{"an extra field", with("x-amz-meta-x", "1"), now, 10, "AccessDenied", "Extra input fields"},
		{"a changed policy", with("policy", tampered), now, 10, "SignatureDoesNotMatch", ""},
		{"a wrong signature", with("x-amz-signature", strings.Repeat("0", 64)), now, 10, "SignatureDoesNotMatch", ""},
		{"an unknown key id", with("x-amz-credential", strings.Replace(form.Fields["x-amz-credential"], "local/", "other/", 1)), now, 10, "InvalidAccessKeyId", ""},
		{"no signature", with("x-amz-signature", "\x00"), now, 10, "InvalidArgument", ""},
		{"too large", form.Fields, now, 1001, "EntityTooLarge", ""},
		{"empty", form.Fields, now, 0, "EntityTooSmall", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := tc.fields
			if len(fields) == 0 {
				fields = map[string]string{}
				for k, v := range form.Fields {
					fields[strings.ToUpper(k)] = v
				}
			}
			pol, err := VerifyPost(fields, "uploads", "local", secrets, tc.at)
			if err == nil {
				err = pol.CheckSize(tc.size)
			}
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code != "" && (err == nil || err.Code != tc.code || !strings.Contains(err.Message, tc.says)):
				t.Fatalf("got %v, want %s %q", err, tc.code, tc.says)
			}
		})
	}
	// The policy pins what the issue asks: the exact key and type, the
	// length range, at most 15 minutes.
	raw, _ := base64.StdEncoding.DecodeString(form.Fields["policy"])
	for _, want := range []string{`["eq","$key","uploads/bankcard/api/_/o1.jpg"]`, `["eq","$Content-Type","image/jpeg"]`, `["content-length-range",1,1000]`, `"expiration":"2026-12-04T08:15:00.000Z"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("policy %s lacks %s", raw, want)
		}
	}
	if _, err := s.Post(Upload{Key: "k", ContentType: "image/jpeg", MaxBytes: 1, Expires: now.Add(16 * time.Minute)}, now); err == nil {
		t.Error("a 16-minute form was issued")
	}
}

// COS POST Object: the signature steps as COS documents them, computed
// by openssl (code we did not write) over the same policy.
func TestCOSPolicySignature(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed (.ci/run installs it)")
	}
	now := time.Unix(1733299200, 0)
	c := COS{SecretID: "AKIDEXAMPLE", SecretKey: "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz", BucketURL: "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"}
	f, err := c.Post(Upload{Key: "uploads/bankcard/api/_/o1.jpg", ContentType: "image/jpeg", MaxBytes: 20 << 20, Expires: now.Add(10 * time.Minute)}, now)
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := base64.StdEncoding.DecodeString(f.Fields["policy"])
	openssl := func(stdin string, args ...string) string {
		cmd := exec.Command("openssl", args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		s := strings.TrimSpace(string(out))
		return s[strings.LastIndex(s, " ")+1:]
	}
	signKey := openssl(f.Fields["q-key-time"], "dgst", "-sha1", "-hmac", c.SecretKey)
	stringToSign := openssl(string(policy), "dgst", "-sha1")
	want := openssl(stringToSign, "dgst", "-sha1", "-hmac", signKey)
	if f.Fields["q-signature"] != want {
		t.Fatalf("q-signature %s, openssl %s", f.Fields["q-signature"], want)
	}
	var doc struct {
		Conditions []json.RawMessage `json:"conditions"`
	}
	if err := json.Unmarshal(policy, &doc); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"q-sign-algorithm":"sha1"}`, `{"q-ak":"AKIDEXAMPLE"}`, `{"q-sign-time":"` + f.Fields["q-key-time"] + `"}`} {
		if !strings.Contains(string(policy), want) {
			t.Errorf("policy %s lacks %s", policy, want)
		}
	}
	if _, err := hex.DecodeString(f.Fields["q-signature"]); err != nil || len(f.Fields["q-signature"]) != 40 {
		t.Errorf("q-signature %q", f.Fields["q-signature"])
	}
}

func FuzzVerifyPost(f *testing.F) {
	f.Add(examplePolicyB64, exampleSignature, "user/user1/a.jpg")
	f.Add(base64.StdEncoding.EncodeToString([]byte(`{"expiration":"2030-01-01T00:00:00Z","conditions":[["content-length-range",1,"x"]]}`)), "00", "k")
	f.Fuzz(func(t *testing.T, policy, sig, key string) {
		fields := map[string]string{"policy": policy, "x-amz-signature": sig, "key": key, "x-amz-algorithm": algorithm,
			"x-amz-credential": exampleKeyID + "/20151229/us-east-1/s3/aws4_request", "x-amz-date": "20151229T000000Z"}
		pol, err := VerifyPost(fields, "sigv4examplebucket", "us-east-1", func(string) string { return exampleSecret }, time.Date(2015, 12, 29, 1, 0, 0, 0, time.UTC))
		if err == nil && SignPolicy(exampleSecret, "20151229", "us-east-1", policy) != strings.ToLower(sig) {
			t.Fatal("accepted a wrong signature")
		}
		_ = pol
	})
}
