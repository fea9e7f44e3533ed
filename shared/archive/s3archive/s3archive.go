// Package s3archive is the Amazon S3 backend of the evidence archive.
// Importing it registers the s3:// scheme:
//
//	s3://bucket/prefix?region=…&sse=AES256|aws:kms&kmsKeyId=…&endpoint=…&pathStyle=true
//
// region defaults to AWS_REGION / AWS_DEFAULT_REGION; sse defaults to
// AES256 (SSE-S3); endpoint (S3-compatible stores, tests) defaults to
// AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL. Credentials come from the
// environment Lambda sets (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), as in secretstore/awssm, so the SDK's config package
// (SSO, STS, IMDS, INI) is not linked in. The five object calls are made
// here (REST, signed with the SDK's v4 signer), not by the SDK's S3 client,
// which was a sixth of every function's binary (README.md, "Performance").
//
// Permissions: s3:PutObject on prefix/*, s3:GetObject on prefix/_done/*,
// prefix/_pending/* and on the uploads, and s3:ListBucket on the bucket
// (so that a missing marker answers 404, not 403); kms:GenerateDataKey
// and kms:Decrypt when sse=aws:kms.
package s3archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cardocr/cardocr/shared/archive"
)

func init() { archive.Register("s3", open) }

// Server-side encryption modes.
const (
	SSES3  = "AES256"
	SSEKMS = "aws:kms"
)

// Config configures a Bucket.
type Config struct {
	Bucket      string
	Region      string
	Endpoint    string // optional base URL
	PathStyle   bool
	SSE         string // SSES3 (default) or SSEKMS
	KMSKeyID    string
	Credentials aws.CredentialsProvider
	HTTPClient  *http.Client
	Timeout     time.Duration // per call without a deadline; default 30s
}

// Bucket is an S3 bucket.
type Bucket struct {
	cfg    Config
	hc     *http.Client
	signer *v4.Signer
}

func open(_ context.Context, u *url.URL) (archive.Bucket, string, error) {
	q := u.Query()
	cfg := Config{
		Bucket:    u.Host,
		Region:    q.Get("region"),
		Endpoint:  q.Get("endpoint"),
		PathStyle: q.Get("pathStyle") == "true" || q.Get("pathStyle") == "1",
		SSE:       q.Get("sse"),
		KMSKeyID:  q.Get("kmsKeyId"),
	}
	if cfg.Region == "" {
		cfg.Region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if cfg.Endpoint == "" && !strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		cfg.Endpoint = firstEnv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	}
	id, key := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || key == "" {
		return nil, "", errors.New("archive: s3: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them; locally export them)")
	}
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: os.Getenv("AWS_SESSION_TOKEN"), Source: "environment"}, nil
	})
	b, err := New(cfg)
	if err != nil {
		return nil, "", err
	}
	return b, strings.Trim(u.Path, "/"), nil
}

// New returns a Bucket. It makes no network call.
func New(cfg Config) (*Bucket, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("archive: s3: no bucket name")
	}
	if cfg.Region == "" {
		return nil, errors.New("archive: s3: no region (set ?region= or AWS_REGION)")
	}
	if cfg.Credentials == nil {
		return nil, errors.New("archive: s3: no credentials")
	}
	switch cfg.SSE {
	case "":
		cfg.SSE = SSES3
	case SSES3, SSEKMS:
	default:
		return nil, fmt.Errorf("archive: s3: sse must be AES256 or aws:kms, not %q", cfg.SSE)
	}
	if cfg.Endpoint != "" {
		if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("archive: s3: endpoint must be an http(s) URL")
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: http.DefaultTransport}
	}
	// S3 signs the path as sent: escaped once, not twice as other services.
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	return &Bucket{cfg: cfg, hc: hc, signer: signer}, nil
}

func (b *Bucket) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.cfg.Timeout)
}

// target is the URL of key ("" for the bucket itself), virtual-hosted or
// path-style as configured.
func (b *Bucket) target(key string) *url.URL {
	u, _ := url.Parse(b.URL()) // checked in New
	p := u.Path
	if key != "" || p == "" {
		p += "/" + key
	}
	u.Path, u.RawPath = p, escapePath(p)
	return u
}

// escapePath escapes every byte of p but RFC 3986's unreserved characters
// and "/", as S3 (and the SDK) encode an object key in a path.
func escapePath(p string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// maxAttempts: a call answered 500/503 (S3's InternalError and SlowDown) or
// not answered is tried again, as the SDK's standard retryer does, with
// jittered exponential backoff capped at 2 s. Bodies are in memory, so a
// retry sends the same bytes.
const maxAttempts = 3

// do sends one signed request; the caller closes the answer's body.
func (b *Bucket) do(ctx context.Context, op, method, key string, query url.Values, body []byte, hdr http.Header) (*http.Response, error) {
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	var last error
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if attempt > 0 {
			wait := time.Duration(100<<(2*(attempt-1))) * time.Millisecond // 100 ms, 400 ms
			t := time.NewTimer(min(wait, 2*time.Second))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("archive: s3 %s: %w", op, ctx.Err())
			case <-t.C:
			}
		}
		u := b.target(key)
		if query != nil {
			u.RawQuery = strings.ReplaceAll(query.Encode(), "+", "%20")
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("archive: s3 %s: %w", op, err)
		}
		req.ContentLength = int64(len(body))
		for k, vs := range hdr {
			req.Header[k] = vs
		}
		req.Header.Set("X-Amz-Content-Sha256", payload)
		creds, err := b.cfg.Credentials.Retrieve(ctx)
		if err != nil {
			return nil, fmt.Errorf("archive: s3 %s: credentials: %w", op, err)
		}
		if err := b.signer.SignHTTP(ctx, creds, req, payload, "s3", b.cfg.Region, time.Now()); err != nil {
			return nil, fmt.Errorf("archive: s3 %s: sign: %w", op, err)
		}
		resp, err := b.hc.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // never the URL
			}
			last = fmt.Errorf("archive: s3 %s: %w", op, err)
			if ctx.Err() != nil {
				return nil, last
			}
			continue
		}
		if resp.StatusCode == http.StatusInternalServerError || resp.StatusCode == http.StatusServiceUnavailable {
			last = answerError(op, resp)
			continue
		}
		return resp, nil
	}
	return nil, last
}

// answerError reads S3's XML error (its Code, never the request URL) and
// closes the body.
func answerError(op string, resp *http.Response) error {
	defer resp.Body.Close()
	var e struct {
		Code string `xml:"Code"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = xml.Unmarshal(b, &e)
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("archive: s3 %s: %w", op, archive.ErrNotExist)
	case e.Code != "":
		return fmt.Errorf("archive: s3 %s: %s (HTTP %d)", op, e.Code, resp.StatusCode)
	}
	return fmt.Errorf("archive: s3 %s: HTTP %d", op, resp.StatusCode)
}

// ok drains and closes a 2xx answer, or returns its error.
func ok(op string, resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return answerError(op, resp)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return nil
}

// Put stores data with server-side encryption.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, contentType string) error {
	return b.put(ctx, key, data, contentType, false)
}

// Create stores data only if key does not exist: PutObject with
// If-None-Match: * (S3 answers 412 Precondition Failed, or 409 while a
// concurrent conditional write is in flight, when it does).
func (b *Bucket) Create(ctx context.Context, key string, data []byte, contentType string) error {
	return b.put(ctx, key, data, contentType, true)
}

func (b *Bucket) put(ctx context.Context, key string, data []byte, contentType string, create bool) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("X-Amz-Server-Side-Encryption", b.cfg.SSE)
	if b.cfg.KMSKeyID != "" && b.cfg.SSE == SSEKMS {
		h.Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", b.cfg.KMSKeyID)
	}
	if create {
		h.Set("If-None-Match", "*")
	}
	resp, err := b.do(ctx, "PutObject", http.MethodPut, key, nil, data, h)
	if err == nil && create && (resp.StatusCode == http.StatusPreconditionFailed || resp.StatusCode == http.StatusConflict) {
		resp.Body.Close()
		return fmt.Errorf("archive: s3 PutObject: %w", archive.ErrExists)
	}
	return ok("PutObject", resp, err)
}

// Open streams an object: the body is read as the caller reads it.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error) {
	resp, err := b.do(ctx, "GetObject", http.MethodGet, key, nil, nil, nil)
	if err != nil {
		return nil, archive.ObjectInfo{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, archive.ObjectInfo{}, answerError("GetObject", resp)
	}
	return resp.Body, info(resp), nil
}

func info(resp *http.Response) archive.ObjectInfo {
	n, _ := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if n == 0 && resp.ContentLength > 0 {
		n = resp.ContentLength
	}
	return archive.ObjectInfo{Size: n, ETag: strings.Trim(resp.Header.Get("ETag"), `"`)}
}

// Stat describes an object (HeadObject).
func (b *Bucket) Stat(ctx context.Context, key string) (archive.ObjectInfo, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	resp, err := b.do(ctx, "HeadObject", http.MethodHead, key, nil, nil, nil)
	if err != nil {
		return archive.ObjectInfo{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return archive.ObjectInfo{}, answerError("HeadObject", resp)
	}
	return info(resp), nil
}

// Delete removes an object (DeleteObject; S3 answers 204 for a missing
// key too).
func (b *Bucket) Delete(ctx context.Context, key string) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	resp, err := b.do(ctx, "DeleteObject", http.MethodDelete, key, nil, nil, nil)
	if err := ok("DeleteObject", resp, err); err != nil && !errors.Is(err, archive.ErrNotExist) {
		return err
	}
	return nil
}

// listPage is the part of ListObjectsV2's answer used here.
type listPage struct {
	Contents []struct {
		Key string `xml:"Key"`
	} `xml:"Contents"`
	IsTruncated           bool   `xml:"IsTruncated"`
	NextContinuationToken string `xml:"NextContinuationToken"`
}

// List returns the keys under prefix (ListObjectsV2, every page).
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	var keys []string
	token := ""
	for {
		q := url.Values{"list-type": {"2"}, "prefix": {prefix}}
		if token != "" {
			q.Set("continuation-token", token)
		}
		resp, err := b.do(ctx, "ListObjectsV2", http.MethodGet, "", q, nil, nil)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusOK {
			return nil, answerError("ListObjectsV2", resp)
		}
		var page listPage
		err = xml.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("archive: s3 ListObjectsV2: unreadable answer: %w", err)
		}
		for _, c := range page.Contents {
			keys = append(keys, c.Key)
		}
		if !page.IsTruncated || page.NextContinuationToken == "" || page.NextContinuationToken == token {
			return keys, nil
		}
		token = page.NextContinuationToken
	}
}

// OpenBucket returns another bucket with the same client settings (the
// bucket an S3 event names).
func (b *Bucket) OpenBucket(_ context.Context, name, _ string) (archive.Bucket, error) {
	if name == "" || name == b.cfg.Bucket {
		return b, nil
	}
	cfg := b.cfg
	cfg.Bucket = name
	return &Bucket{cfg: cfg, hc: b.hc, signer: b.signer}, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
