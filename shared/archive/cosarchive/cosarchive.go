// Package cosarchive is the Tencent Cloud COS backend of the evidence
// archive. Importing it registers the cos:// scheme:
//
//	cos://bucket-appid?region=ap-guangzhou&prefix=cardocr&endpoint=…&sse=cos/kms&kmsKeyId=…
//
// Objects are written with x-cos-server-side-encryption: AES256 (SSE-COS),
// or with sse=cos/kms under the operator's KMS key (SSE-KMS; kmsKeyId names
// the key, else COS's default key for the account).
// region is required; endpoint (tests, private endpoints) replaces the
// bucket URL https://bucket-appid.cos.region.myqcloud.com for every bucket.
// Credentials come from the environment SCF sets for the function's role
// (TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY, TENCENTCLOUD_SESSIONTOKEN).
//
// Permissions (CAM): cos:PutObject, cos:GetObject, cos:HeadObject and
// cos:DeleteObject on prefix/* and on the uploads, cos:GetBucket (list, for
// erasures); with SSE-KMS, kms:Encrypt, kms:Decrypt and kms:GenerateDataKey.
package cosarchive

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
)

// The client is written here on net/http rather than with cos-go-sdk-v5:
// three object calls and the documented request signature
// (https://cloud.tencent.com/document/product/436/7778) need none of the
// SDK's weight (about 1 MB of every resultfetch binary on SCF). Its tests
// check the signature against the SDK's own signer.

func init() { archive.Register("cos", open) }

// Config configures a Bucket.
type Config struct {
	Bucket       string // name-appid
	Region       string // e.g. ap-guangzhou
	Endpoint     string // optional base URL replacing the bucket URL
	SecretID     string
	SecretKey    string
	SessionToken string
	SSE          string            // "AES256" (default) or "cos/kms"
	KMSKeyID     string            // with cos/kms; empty: COS's default key
	Transport    http.RoundTripper // default http.DefaultTransport
	Timeout      time.Duration     // per call without a deadline; default 30s
}

// Bucket is a COS bucket.
type Bucket struct {
	cfg  Config
	base *url.URL
	hc   *http.Client
}

// bucketName is compiled on first use (a regexp at init costs every cold start).
var bucketName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9-]*-[0-9]+$`) })

func open(_ context.Context, u *url.URL) (archive.Bucket, string, error) {
	q := u.Query()
	cfg := Config{
		Bucket:       u.Host,
		Region:       q.Get("region"),
		Endpoint:     q.Get("endpoint"),
		SecretID:     os.Getenv("TENCENTCLOUD_SECRETID"),
		SecretKey:    os.Getenv("TENCENTCLOUD_SECRETKEY"),
		SessionToken: os.Getenv("TENCENTCLOUD_SESSIONTOKEN"),
		SSE:          q.Get("sse"),
		KMSKeyID:     q.Get("kmsKeyId"),
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
	if !bucketName().MatchString(cfg.Bucket) {
		return nil, errors.New("archive: cos: the bucket must be named name-appid (cos://examplebucket-1250000000?region=…)")
	}
	if cfg.Region == "" {
		return nil, errors.New("archive: cos: no region (cos://bucket-appid?region=ap-guangzhou)")
	}
	if cfg.SecretID == "" || cfg.SecretKey == "" {
		return nil, errors.New("archive: cos: TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY are not set (SCF sets them for the function's role)")
	}
	switch cfg.SSE {
	case "":
		cfg.SSE = "AES256"
	case "AES256", "cos/kms":
	default:
		return nil, fmt.Errorf("archive: cos: sse must be AES256 or cos/kms, not %q", cfg.SSE)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://" + cfg.Bucket + ".cos." + cfg.Region + ".myqcloud.com"
	}
	bu, err := url.Parse(endpoint)
	if err == nil && (bu.Scheme != "http" && bu.Scheme != "https" || bu.Host == "") {
		err = errors.New("not an http(s) URL")
	}
	if err != nil {
		return nil, fmt.Errorf("archive: cos: bad bucket URL: %w", err)
	}
	tr := cfg.Transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	return &Bucket{cfg: cfg, base: bu, hc: &http.Client{Transport: tr}}, nil
}

// statusError is a COS answer with an error status; Code and RequestID
// come from its XML body and headers.
type statusError struct {
	Status          int
	Code, RequestID string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("HTTP %d %s (request %s)", e.Status, e.Code, e.RequestID)
}

// do sends one signed object request. A status of 300 or more is a
// *statusError (the body is read for its code and closed).
func (b *Bucket) do(ctx context.Context, method, key string, query url.Values, body []byte, header http.Header) (*http.Response, error) {
	u := *b.base
	u.RawQuery = query.Encode()
	u.Path = strings.TrimRight(u.Path, "/") + "/" + key
	u.RawPath = ""
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.ContentLength = int64(len(body))
	}
	if b.cfg.SessionToken != "" {
		req.Header.Set("x-cos-security-token", b.cfg.SessionToken)
	}
	now := time.Now()
	req.Header.Set("Authorization", Sign(req, b.cfg.SecretID, b.cfg.SecretKey, now.Add(-time.Minute), now.Add(time.Hour)))
	resp, err := b.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	e := &statusError{Status: resp.StatusCode, RequestID: resp.Header.Get("x-cos-request-id")}
	if xml, err := io.ReadAll(io.LimitReader(resp.Body, 8<<10)); err == nil {
		e.Code = between(string(xml), "<Code>", "</Code>")
	}
	return nil, e
}

func between(s, open, close string) string {
	_, rest, ok := strings.Cut(s, open)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, close)
	return v
}

// Sign returns the Authorization value of req, valid from start to end:
// "q-sign-algorithm=sha1&q-ak=…&q-sign-time=…&q-key-time=…&q-header-list=…
// &q-url-param-list=…&q-signature=…", over the method, the path, every
// query parameter and the host, Content-* and x-cos-* headers, as COS's
// request signature document describes.
func Sign(req *http.Request, secretID, secretKey string, start, end time.Time) string {
	keyTime := strconv.FormatInt(start.Unix(), 10) + ";" + strconv.FormatInt(end.Unix(), 10)
	headers := http.Header{}
	for k, v := range req.Header {
		lk := strings.ToLower(k)
		if lk == "content-type" || lk == "content-md5" || strings.HasPrefix(lk, "x-cos-") {
			headers[lk] = v
		}
	}
	headers["host"] = []string{req.Host}
	if req.Host == "" {
		headers["host"] = []string{req.URL.Host}
	}
	if req.ContentLength > 0 {
		headers["content-length"] = []string{strconv.FormatInt(req.ContentLength, 10)}
	}
	hdrList, hdrString := signList(headers)
	paramList, paramString := signList(http.Header(req.URL.Query()))
	httpString := strings.ToLower(req.Method) + "\n" + req.URL.Path + "\n" + paramString + "\n" + hdrString + "\n"
	sum := sha1.Sum([]byte(httpString))
	stringToSign := "sha1\n" + keyTime + "\n" + hex.EncodeToString(sum[:]) + "\n"
	signKey := hex.EncodeToString(hmacSHA1([]byte(secretKey), keyTime))
	sig := hex.EncodeToString(hmacSHA1([]byte(signKey), stringToSign))
	return "q-sign-algorithm=sha1&q-ak=" + secretID + "&q-sign-time=" + keyTime + "&q-key-time=" + keyTime +
		"&q-header-list=" + hdrList + "&q-url-param-list=" + paramList + "&q-signature=" + sig
}

// signList encodes keys (lower-cased) and values, sorts them by key and
// returns "k1;k2" and "k1=v1&k2=v2".
func signList(m map[string][]string) (list, pairs string) {
	type kv struct{ k, v string }
	var all []kv
	for k, vs := range m {
		for _, v := range vs {
			all = append(all, kv{strings.ToLower(uriEncode(k)), uriEncode(v)})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].k < all[j].k || all[i].k == all[j].k && all[i].v < all[j].v })
	keys := make([]string, len(all))
	kvs := make([]string, len(all))
	for i, p := range all {
		keys[i], kvs[i] = p.k, p.k+"="+p.v
	}
	return strings.Join(keys, ";"), strings.Join(kvs, "&")
}

// uriEncode escapes everything but RFC 3986's unreserved characters.
func uriEncode(s string) string {
	var b strings.Builder
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func hmacSHA1(key []byte, msg string) []byte {
	h := hmac.New(sha1.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func (b *Bucket) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.cfg.Timeout)
}

// Put stores data with server-side encryption (SSE-COS or SSE-KMS).
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
	if se := (*statusError)(nil); errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
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
	h := http.Header{}
	h.Set("Content-Type", contentType)
	h.Set("x-cos-server-side-encryption", b.cfg.SSE)
	if b.cfg.SSE == "cos/kms" && b.cfg.KMSKeyID != "" {
		h.Set("x-cos-server-side-encryption-cos-kms-key-id", b.cfg.KMSKeyID)
	}
	if create {
		h.Set("x-cos-forbid-overwrite", "true")
	}
	if data == nil {
		data = []byte{}
	}
	resp, err := b.do(ctx, http.MethodPut, key, nil, data, h)
	if err != nil {
		return err // mapped by the callers
	}
	resp.Body.Close()
	return nil
}

// Open streams an object: the body is read as the caller reads it.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error) {
	resp, err := b.do(ctx, http.MethodGet, key, nil, nil, nil)
	if err != nil {
		return nil, archive.ObjectInfo{}, mapError("GetObject", err)
	}
	return resp.Body, info(resp), nil
}

// Stat describes an object (HeadObject).
func (b *Bucket) Stat(ctx context.Context, key string) (archive.ObjectInfo, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	resp, err := b.do(ctx, http.MethodHead, key, nil, nil, nil)
	if err != nil {
		return archive.ObjectInfo{}, mapError("HeadObject", err)
	}
	resp.Body.Close()
	return info(resp), nil
}

// Delete removes an object (DELETE Object; COS answers 204, also for a
// missing key).
func (b *Bucket) Delete(ctx context.Context, key string) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	resp, err := b.do(ctx, http.MethodDelete, key, nil, nil, nil)
	if err != nil {
		if err := mapError("DeleteObject", err); !errors.Is(err, archive.ErrNotExist) {
			return err
		}
		return nil
	}
	resp.Body.Close()
	return nil
}

// listResult is the part of GET Bucket's ListBucketResult the archive reads.
type listResult struct {
	Contents    []struct{ Key string } `xml:"Contents"`
	IsTruncated bool                   `xml:"IsTruncated"`
	NextMarker  string                 `xml:"NextMarker"`
}

// List returns the keys under prefix (GET Bucket with prefix and marker,
// every page).
func (b *Bucket) List(ctx context.Context, prefix string) ([]string, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	var keys []string
	marker := ""
	for {
		q := url.Values{"prefix": {prefix}, "max-keys": {"1000"}}
		if marker != "" {
			q.Set("marker", marker)
		}
		resp, err := b.do(ctx, http.MethodGet, "", q, nil, nil)
		if err != nil {
			return nil, mapError("GetBucket", err)
		}
		var lr listResult
		err = xml.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&lr)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("archive: cos GetBucket: %w", err)
		}
		for _, c := range lr.Contents {
			keys = append(keys, c.Key)
		}
		if !lr.IsTruncated || len(lr.Contents) == 0 {
			return keys, nil
		}
		marker = lr.NextMarker
		if marker == "" {
			marker = lr.Contents[len(lr.Contents)-1].Key
		}
	}
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

func info(resp *http.Response) archive.ObjectInfo {
	return archive.ObjectInfo{Size: resp.ContentLength, ETag: strings.Trim(resp.Header.Get("ETag"), `"`)}
}

// mapError keeps the operation, HTTP status and COS error code; never the
// request URL (a transport error's text repeats it, object key included).
func mapError(op string, err error) error {
	var se *statusError
	if errors.As(err, &se) {
		if se.Status == http.StatusNotFound {
			return fmt.Errorf("archive: cos %s: %w", op, archive.ErrNotExist)
		}
		return fmt.Errorf("archive: cos %s: %w", op, se)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // url.Error repeats the URL
	}
	return fmt.Errorf("archive: cos %s: %w", op, err)
}
