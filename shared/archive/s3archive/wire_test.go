package s3archive

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The requests this package writes by hand have the shape aws-sdk-go-v2's
// S3 client gives the same calls (method, escaped path, query, the headers
// S3 reads), and their signature verifies on what was received: the path
// signed is the path sent, for a key that needs escaping.
func TestRequestsAreTheSDKs(t *testing.T) {
	type seen struct{ method, path, query, sse, ifNoneMatch, sha, auth string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !verifies(t, r) {
			t.Errorf("%s %s: the signature does not verify on the request received", r.Method, r.URL.EscapedPath())
		}
		mu.Lock()
		got = append(got, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("X-Amz-Server-Side-Encryption"),
			r.Header.Get("If-None-Match"), r.Header.Get("X-Amz-Content-Sha256"), r.Header.Get("Authorization")})
		mu.Unlock()
		if r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2" {
			w.Header().Set("Content-Type", "application/xml")
			w.Write([]byte(`<ListBucketResult><Contents><Key>a b/ü+c=.json</Key></Contents><IsTruncated>false</IsTruncated></ListBucketResult>`))
			return
		}
		w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
	})
	const key = "p/a b/ü+c=.json"
	ctx := context.Background()

	sdk := s3.New(s3.Options{Region: "us-east-1", Credentials: creds, UsePathStyle: true, BaseEndpoint: aws.String(srv.URL),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired, ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired})
	if _, err := sdk.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("evidence"), Key: aws.String(key), Body: strings.NewReader("{}"),
		ContentType: aws.String("application/json"), ServerSideEncryption: "AES256", IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatal(err)
	}
	if _, err := sdk.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("evidence"), Prefix: aws.String("p/a b")}); err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Bucket: "evidence", Region: "us-east-1", Endpoint: srv.URL, PathStyle: true, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, key, []byte("{}"), "application/json"); err != nil {
		t.Fatal(err)
	}
	keys, err := b.List(ctx, "p/a b")
	if err != nil || len(keys) != 1 || keys[0] != "a b/ü+c=.json" {
		t.Fatalf("List: %v %v", keys, err)
	}
	if len(got) != 4 {
		t.Fatalf("%d requests", len(got))
	}
	sdkPut, sdkList, put, list := got[0], got[1], got[2], got[3]
	if put.method != sdkPut.method || put.path != sdkPut.path || put.sse != sdkPut.sse || put.ifNoneMatch != sdkPut.ifNoneMatch {
		t.Errorf("PutObject: ours %+v, the SDK's %+v", put, sdkPut)
	}
	if !strings.Contains(put.auth, "SignedHeaders=") || !strings.Contains(put.auth, "/us-east-1/s3/aws4_request") || len(put.sha) != 64 {
		t.Errorf("PutObject signature: %+v", put)
	}
	if list.path != sdkList.path || !sameQuery(list.query, sdkList.query) {
		t.Errorf("ListObjectsV2: ours %s?%s, the SDK's %s?%s", list.path, list.query, sdkList.path, sdkList.query)
	}
}

// verifies signs the received request again (same headers, same time, the
// path and query as received) and compares the Authorization headers.
func verifies(t *testing.T, r *http.Request) bool {
	t.Helper()
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return false
	}
	again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.RequestURI, nil)
	auth := r.Header.Get("Authorization")
	_, signed, _ := strings.Cut(auth, "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			again.Header.Set(h, r.Header.Get(h))
		}
	}
	again.ContentLength = r.ContentLength
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}
	if err := signer.SignHTTP(context.Background(), creds, again, r.Header.Get("X-Amz-Content-Sha256"), "s3", "us-east-1", at); err != nil {
		return false
	}
	return again.Header.Get("Authorization") == auth
}

// sameQuery compares two raw queries as sets of their parameters, as sent
// (escaping included).
func sameQuery(a, b string) bool {
	set := func(q string) map[string]bool {
		m := map[string]bool{}
		for _, p := range strings.Split(q, "&") {
			m[p] = true
		}
		return m
	}
	sa, sb := set(a), set(b)
	for p := range sb {
		if strings.HasPrefix(p, "x-id=") {
			delete(sb, p) // the SDK's operation marker
		}
	}
	if len(sa) != len(sb) {
		return false
	}
	for p := range sa {
		if !sb[p] {
			return false
		}
	}
	return true
}
