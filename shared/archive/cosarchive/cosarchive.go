// Package cosarchive is the Tencent Cloud COS backend of the evidence
// archive. Importing it registers the cos:// scheme:
//
//	cos://bucket-appid?region=ap-guangzhou&prefix=cardocr&endpoint=…
//
// Objects are written with x-cos-server-side-encryption: AES256 (SSE-COS).
// region is required; endpoint (tests, private endpoints) replaces the
// bucket URL https://bucket-appid.cos.region.myqcloud.com for every bucket.
// Credentials come from the environment SCF sets for the function's role
// (TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY, TENCENTCLOUD_SESSIONTOKEN).
//
// Permissions (CAM): cos:PutObject on prefix/*, cos:GetObject and
// cos:HeadObject on prefix/_done/*, prefix/_pending/* and on the uploads.
package cosarchive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	cos "github.com/tencentyun/cos-go-sdk-v5"

	"github.com/cardocr/cardocr/shared/archive"
)

func init() { archive.Register("cos", open) }

// Config configures a Bucket.
type Config struct {
	Bucket       string // name-appid
	Region       string // e.g. ap-guangzhou
	Endpoint     string // optional base URL replacing the bucket URL
	SecretID     string
	SecretKey    string
	SessionToken string
	Transport    http.RoundTripper // default http.DefaultTransport
	Timeout      time.Duration     // per call without a deadline; default 30s
}

// Bucket is a COS bucket.
type Bucket struct {
	client *cos.Client
	cfg    Config
}

var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*-[0-9]+$`)

func open(_ context.Context, u *url.URL) (archive.Bucket, string, error) {
	q := u.Query()
	cfg := Config{
		Bucket:       u.Host,
		Region:       q.Get("region"),
		Endpoint:     q.Get("endpoint"),
		SecretID:     os.Getenv("TENCENTCLOUD_SECRETID"),
		SecretKey:    os.Getenv("TENCENTCLOUD_SECRETKEY"),
		SessionToken: os.Getenv("TENCENTCLOUD_SESSIONTOKEN"),
	}
	prefix := q.Get("prefix")
	if prefix == "" {
		prefix = u.Path
	}
	b, err := New(cfg)
	if err != nil {
		return nil, "", err
	}
	return b, strings.Trim(prefix, "/"), nil
}

// New returns a Bucket. It makes no network call.
func New(cfg Config) (*Bucket, error) {
	if !bucketName.MatchString(cfg.Bucket) {
		return nil, errors.New("archive: cos: the bucket must be named name-appid (cos://examplebucket-1250000000?region=…)")
	}
	if cfg.Region == "" {
		return nil, errors.New("archive: cos: no region (cos://bucket-appid?region=ap-guangzhou)")
	}
	if cfg.SecretID == "" || cfg.SecretKey == "" {
		return nil, errors.New("archive: cos: TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY are not set (SCF sets them for the function's role)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	var bu *url.URL
	var err error
	if cfg.Endpoint != "" {
		bu, err = url.Parse(cfg.Endpoint)
		if err == nil && (bu.Scheme != "http" && bu.Scheme != "https" || bu.Host == "") {
			err = errors.New("not an http(s) URL")
		}
	} else {
		bu, err = cos.NewBucketURL(cfg.Bucket, cfg.Region, true)
	}
	if err != nil {
		return nil, fmt.Errorf("archive: cos: bad bucket URL: %w", err)
	}
	tr := cfg.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	hc := &http.Client{Transport: &cos.AuthorizationTransport{
		SecretID: cfg.SecretID, SecretKey: cfg.SecretKey, SessionToken: cfg.SessionToken, Transport: tr,
	}}
	return &Bucket{client: cos.NewClient(&cos.BaseURL{BucketURL: bu}, hc), cfg: cfg}, nil
}

func (b *Bucket) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.cfg.Timeout)
}

// Put stores data with SSE-COS (AES256).
func (b *Bucket) Put(ctx context.Context, key string, data []byte, contentType string) error {
	if err := b.put(ctx, key, data, contentType, false); err != nil {
		return mapError("PutObject", err)
	}
	return nil
}

// Create stores data only if key does not exist (x-cos-forbid-overwrite:
// true). The documents do not pin the refusal's status, so any refusal is
// followed by a HEAD: an existing object means the write lost.
func (b *Bucket) Create(ctx context.Context, key string, data []byte, contentType string) error {
	err := b.put(ctx, key, data, contentType, true)
	if ce, ok := cos.IsCOSError(err); ok && ce.Response != nil && ce.Response.StatusCode >= 400 && ce.Response.StatusCode < 500 {
		if _, serr := b.Stat(ctx, key); serr == nil {
			return fmt.Errorf("archive: cos PutObject: %w", archive.ErrExists)
		}
	}
	if err != nil {
		return mapError("PutObject", err)
	}
	return nil
}

func (b *Bucket) put(ctx context.Context, key string, data []byte, contentType string, create bool) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	opt := &cos.ObjectPutOptions{ObjectPutHeaderOptions: &cos.ObjectPutHeaderOptions{
		ContentType: contentType, ContentLength: int64(len(data)), XCosServerSideEncryption: "AES256",
	}}
	if create {
		opt.XOptionHeader = &http.Header{}
		opt.XOptionHeader.Set("x-cos-forbid-overwrite", "true")
	}
	resp, err := b.client.Object.Put(ctx, key, bytes.NewReader(data), opt)
	if err != nil {
		return err // mapped by the callers
	}
	resp.Body.Close()
	return nil
}

// Open streams an object: the body is read as the caller reads it.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error) {
	resp, err := b.client.Object.Get(ctx, key, nil)
	if err != nil {
		return nil, archive.ObjectInfo{}, mapError("GetObject", err)
	}
	return resp.Body, info(resp), nil
}

// Stat describes an object (HeadObject).
func (b *Bucket) Stat(ctx context.Context, key string) (archive.ObjectInfo, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	resp, err := b.client.Object.Head(ctx, key, nil)
	if err != nil {
		return archive.ObjectInfo{}, mapError("HeadObject", err)
	}
	resp.Body.Close()
	return info(resp), nil
}

// OpenBucket returns another bucket of the same account (the bucket a COS
// event names, as name-appid). region may be the event's short form ("gz").
func (b *Bucket) OpenBucket(_ context.Context, name, region string) (archive.Bucket, error) {
	if name == "" || name == b.cfg.Bucket {
		return b, nil
	}
	cfg := b.cfg
	cfg.Bucket = name
	if r := longRegion(region); r != "" {
		cfg.Region = r
	}
	return New(cfg)
}

// shortRegions maps the short region names of COS events to region IDs.
var shortRegions = map[string]string{
	"bj": "ap-beijing", "sh": "ap-shanghai", "gz": "ap-guangzhou", "cd": "ap-chengdu",
	"cq": "ap-chongqing", "nj": "ap-nanjing", "hk": "ap-hongkong", "sgp": "ap-singapore",
}

func longRegion(r string) string {
	if strings.Contains(r, "-") {
		return r
	}
	return shortRegions[r]
}

func info(resp *cos.Response) archive.ObjectInfo {
	return archive.ObjectInfo{Size: resp.ContentLength, ETag: strings.Trim(resp.Header.Get("ETag"), `"`)}
}

// mapError keeps the operation, HTTP status and COS error code; never the
// request URL (the SDK's error text repeats it, object key included).
func mapError(op string, err error) error {
	if cos.IsNotFoundError(err) {
		return fmt.Errorf("archive: cos %s: %w", op, archive.ErrNotExist)
	}
	if ce, ok := cos.IsCOSError(err); ok {
		st := 0
		if ce.Response != nil {
			st = ce.Response.StatusCode
		}
		return fmt.Errorf("archive: cos %s: HTTP %d %s (request %s)", op, st, ce.Code, ce.RequestID)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error repeats the URL
	}
	return fmt.Errorf("archive: cos %s: %w", op, err)
}
