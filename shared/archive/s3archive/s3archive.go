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
// (SSO, STS, IMDS, INI) is not linked in.
//
// Permissions: s3:PutObject on prefix/*, s3:GetObject on prefix/_done/*,
// prefix/_pending/* and on the uploads, and s3:ListBucket on the bucket
// (so that a missing marker answers 404, not 403); kms:GenerateDataKey
// and kms:Decrypt when sse=aws:kms.
package s3archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cardocr/cardocr/shared/archive"
)

func init() { archive.Register("s3", open) }

// Config configures a Bucket.
type Config struct {
	Bucket      string
	Region      string
	Endpoint    string // optional base URL
	PathStyle   bool
	SSE         string // "AES256" (default) or "aws:kms"
	KMSKeyID    string
	Credentials aws.CredentialsProvider
	HTTPClient  *http.Client
	Timeout     time.Duration // per call without a deadline; default 30s
}

// Bucket is an S3 bucket.
type Bucket struct {
	client *s3.Client
	cfg    Config
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
	cfg.Credentials = aws.NewCredentialsCache(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: os.Getenv("AWS_SESSION_TOKEN"), Source: "environment"}, nil
	}))
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
		cfg.SSE = string(types.ServerSideEncryptionAes256)
	case string(types.ServerSideEncryptionAes256), string(types.ServerSideEncryptionAwsKms):
	default:
		return nil, fmt.Errorf("archive: s3: sse must be AES256 or aws:kms, not %q", cfg.SSE)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	o := s3.Options{
		Region:       cfg.Region,
		Credentials:  cfg.Credentials,
		UsePathStyle: cfg.PathStyle,
		Retryer: retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.MaxBackoff = 2 * time.Second
		}),
		// Checksums only where the API requires them: the bodies are small
		// and known, and S3-compatible stores differ in trailer support.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	if cfg.HTTPClient != nil {
		o.HTTPClient = cfg.HTTPClient
	}
	if cfg.Endpoint != "" {
		o.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	return &Bucket{client: s3.New(o), cfg: cfg}, nil
}

func (b *Bucket) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.cfg.Timeout)
}

// Put stores data with server-side encryption.
func (b *Bucket) Put(ctx context.Context, key string, data []byte, contentType string) error {
	return b.put(ctx, key, data, contentType, false)
}

// Create stores data only if key does not exist: PutObject with
// If-None-Match: * (S3 answers 412 Precondition Failed, or 409 while a
// concurrent conditional write is in flight, when it does).
func (b *Bucket) Create(ctx context.Context, key string, data []byte, contentType string) error {
	err := b.put(ctx, key, data, contentType, true)
	var re *smithyhttp.ResponseError
	if err != nil && errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed || re.HTTPStatusCode() == http.StatusConflict) {
		return fmt.Errorf("archive: s3 PutObject: %w", archive.ErrExists)
	}
	return err
}

func (b *Bucket) put(ctx context.Context, key string, data []byte, contentType string, create bool) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	in := &s3.PutObjectInput{
		Bucket:               aws.String(b.cfg.Bucket),
		Key:                  aws.String(key),
		Body:                 bytes.NewReader(data),
		ContentLength:        aws.Int64(int64(len(data))),
		ContentType:          aws.String(contentType),
		ServerSideEncryption: types.ServerSideEncryption(b.cfg.SSE),
	}
	if b.cfg.KMSKeyID != "" && b.cfg.SSE == string(types.ServerSideEncryptionAwsKms) {
		in.SSEKMSKeyId = aws.String(b.cfg.KMSKeyID)
	}
	if create {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := b.client.PutObject(ctx, in); err != nil {
		return mapError("PutObject", err)
	}
	return nil
}

// Open streams an object: the body is read as the caller reads it.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return nil, archive.ObjectInfo{}, mapError("GetObject", err)
	}
	return out.Body, archive.ObjectInfo{Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`)}, nil
}

// Stat describes an object (HeadObject).
func (b *Bucket) Stat(ctx context.Context, key string) (archive.ObjectInfo, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		return archive.ObjectInfo{}, mapError("HeadObject", err)
	}
	return archive.ObjectInfo{Size: aws.ToInt64(out.ContentLength), ETag: strings.Trim(aws.ToString(out.ETag), `"`)}, nil
}

// Delete removes an object (DeleteObject; S3 answers 204 for a missing
// key too).
func (b *Bucket) Delete(ctx context.Context, key string) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(b.cfg.Bucket), Key: aws.String(key)}); err != nil {
		if err := mapError("DeleteObject", err); errors.Is(err, archive.ErrNotExist) {
			return nil
		} else {
			return err
		}
	}
	return nil
}

// List returns the keys under prefix (ListObjectsV2, every page).
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.cfg.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapError("ListObjectsV2", err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// OpenBucket returns another bucket with the same client settings (the
// bucket an S3 event names).
func (b *Bucket) OpenBucket(_ context.Context, name, _ string) (archive.Bucket, error) {
	if name == "" || name == b.cfg.Bucket {
		return b, nil
	}
	cfg := b.cfg
	cfg.Bucket = name
	return &Bucket{client: b.client, cfg: cfg}, nil
}

// mapError keeps the operation and the service's error code, never the
// request URL.
func mapError(op string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var re *smithyhttp.ResponseError
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf):
		return fmt.Errorf("archive: s3 %s: %w", op, archive.ErrNotExist)
	case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound:
		return fmt.Errorf("archive: s3 %s: %w", op, archive.ErrNotExist)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("archive: s3 %s: %s: %w", op, ae.ErrorCode(), err)
	}
	return fmt.Errorf("archive: s3 %s: %w", op, err)
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
