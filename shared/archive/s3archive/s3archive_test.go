package s3archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/archive/archivetest"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/resultfetch"
	"github.com/cardocr/cardocr/shared/webank"
)

// fakeS3 is gofakes3 in process, recording the SSE header of every PUT.
type fakeS3 struct {
	url string
	mu  sync.Mutex
	sse map[string]string // key → x-amz-server-side-encryption
}

func startFakeS3(t *testing.T, buckets ...string) *fakeS3 {
	t.Helper()
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	f := &fakeS3{sse: map[string]string{}}
	h := gofakes3.New(be).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			f.mu.Lock()
			f.sse[strings.TrimPrefix(r.URL.Path, "/")] = r.Header.Get("X-Amz-Server-Side-Encryption")
			f.mu.Unlock()
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func newBucket(t *testing.T, f *fakeS3, bucket string) *Bucket {
	t.Helper()
	b, err := New(Config{
		Bucket: bucket, Region: "us-east-1", Endpoint: f.url, PathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"}, nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func read(t *testing.T, b archive.Bucket, key string) []byte {
	t.Helper()
	rc, _, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Stat, Open, Put and Create are TestS3BucketConformance's; here: objects
// are written with server-side encryption and have an ETag.
func TestEncryptedWithETag(t *testing.T) {
	f := startFakeS3(t, "evidence")
	b := newBucket(t, f, "evidence")
	ctx := context.Background()
	if err := b.Put(ctx, "p/a.json", []byte(`{"a":1}`), "application/json"); err != nil {
		t.Fatal(err)
	}
	if info, err := b.Stat(ctx, "p/a.json"); err != nil || info.ETag == "" {
		t.Fatalf("Stat: %+v %v", info, err)
	}
	if f.sse["evidence/p/a.json"] != "AES256" {
		t.Errorf("SSE header %q, want AES256", f.sse["evidence/p/a.json"])
	}
}

func TestOpenByURL(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	f := startFakeS3(t, "evidence")
	a, err := archive.Open(context.Background(), "s3://evidence/cardocr/prod?region=ap-east-1&pathStyle=true&endpoint="+url.QueryEscape(f.url))
	if err != nil {
		t.Fatal(err)
	}
	if a.Prefix != "cardocr/prod" {
		t.Errorf("prefix %q", a.Prefix)
	}
	if _, err := a.ClaimPending(context.Background(), "bankcard", "order1"); err != nil {
		t.Fatal(err)
	}
	if f.sse["evidence/cardocr/prod/_pending/bankcard/order1.json"] != "AES256" {
		t.Errorf("SSE: %v", f.sse)
	}
	for _, bad := range []string{"s3://evidence?sse=DES", "s3://?region=x"} {
		if _, err := archive.Open(context.Background(), bad+"&region=x"); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	if _, err := archive.Open(context.Background(), "s3://evidence?region=x"); err == nil {
		t.Errorf("no credentials: no error")
	}
}

// stack is the emulator behind a recorder, tickets, the OCR service and a
// resultfetch handler archiving to fake S3.
type stack struct {
	emu    *emulator.Emulator
	svc    *ocr.Service
	h      *resultfetch.Handler
	bucket *Bucket
	s3     *fakeS3

	mu            sync.Mutex
	contentLength []int64 // of submissions
	bodyBytes     []int64
}

func newStack(t *testing.T) *stack {
	t.Helper()
	st := &stack{emu: emulator.New(emulator.Config{})}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/paas/") {
			cr := &countingReader{r: r.Body}
			r.Body = io.NopCloser(cr)
			defer func() {
				st.mu.Lock()
				st.contentLength = append(st.contentLength, r.ContentLength)
				st.bodyBytes = append(st.bodyBytes, cr.n)
				st.mu.Unlock()
			}()
		}
		st.emu.ServeHTTP(w, r)
	}))
	t.Cleanup(up.Close)
	quiet := slog.New(slog.DiscardHandler)
	st.svc = archivetest.ServiceOn(t, up.URL)
	st.s3 = startFakeS3(t, "evidence", "uploads-bucket")
	st.bucket = newBucket(t, st.s3, "evidence")
	st.h = &resultfetch.Handler{OCR: st.svc, Archive: archive.New(st.bucket, "cardocr"), Logger: quiet}
	st.emu.ResetCounts()
	return st
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (st *stack) invoke(t *testing.T, event string) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return st.h.Handle(ctx, json.RawMessage(event))
}

func today() string { return time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006/01/02") }

func TestQueueMessageArchivesToS3(t *testing.T) {
	st := newStack(t)
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 5}.JPEG()
	if _, err := st.svc.SubmitBankCard(context.Background(), ocr.BankCardRequest{Image: ocr.BytesImage(img), OrderNo: "banks3q1"}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(`{"kind":"bankcard","orderNo":"banks3q1"}`)
	event := `{"Records":[{"messageId":"m1","body":` + string(body) + `,"eventSource":"aws:sqs"}]}`
	out, err := st.invoke(t, event)
	if b, _ := json.Marshal(out); err != nil || string(b) != `{"batchItemFailures":[]}` {
		t.Fatalf("%s %v", b, err)
	}
	dir := "cardocr/bankcard/" + today() + "/banks3q1/"
	for _, k := range []string{"result.json", "bankcardCropPhoto.jpg", "bankcardNoPhoto.jpg", "originBankcardPhoto.jpg"} {
		data := read(t, st.bucket, dir+k)
		if strings.HasSuffix(k, ".jpg") && !bytes.HasPrefix(data, []byte{0xFF, 0xD8, 0xFF}) {
			t.Errorf("%s is not a JPEG", k)
		}
		if st.s3.sse["evidence/"+dir+k] != "AES256" {
			t.Errorf("%s: SSE header %q", k, st.s3.sse["evidence/"+dir+k])
		}
	}
	if got := read(t, st.bucket, dir+"originBankcardPhoto.jpg"); !bytes.Equal(got, img) {
		t.Errorf("original photo differs")
	}
	var m archive.Marker
	json.Unmarshal(read(t, st.bucket, "cardocr/_done/bankcard/banks3q1.json"), &m)
	if m.Result != dir+"result.json" {
		t.Errorf("marker %+v", m)
	}
	if _, err := st.invoke(t, event); err != nil {
		t.Fatal(err)
	}
	if n := st.emu.Count(emulator.EndpointBankCardResult); n != 1 {
		t.Errorf("queries = %d after redelivery, want 1", n)
	}
}

// limitedBucket fails any single read asking for more than max bytes, and
// records the largest read.
type limitedBucket struct {
	archive.Bucket
	max     int
	mu      sync.Mutex
	largest int
}

type limitedReader struct {
	io.ReadCloser
	b *limitedBucket
}

func (l *limitedReader) Read(p []byte) (int, error) {
	l.b.mu.Lock()
	l.b.largest = max(l.b.largest, len(p))
	l.b.mu.Unlock()
	if len(p) > l.b.max {
		return 0, fmt.Errorf("read of %d bytes at once: the object is being buffered", len(p))
	}
	return l.ReadCloser.Read(p)
}

func (b *limitedBucket) Open(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error) {
	rc, info, err := b.Bucket.Open(ctx, key)
	if err != nil {
		return nil, info, err
	}
	return &limitedReader{ReadCloser: rc, b: b}, info, nil
}

func TestUploadEventStreamsFromS3(t *testing.T) {
	st := newStack(t)
	uploads := newBucket(t, st.s3, "uploads-bucket")
	lb := &limitedBucket{Bucket: uploads, max: 256 << 10}
	var gotBucket string
	st.h.Uploads = func(_ context.Context, bucket, _ string) (archive.Bucket, error) {
		gotBucket = bucket
		return lb, nil
	}
	// The largest ID card photo (its Base64 is the documented 20971520
	// characters), as a phone uploads it.
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 9, MinSize: webank.MaxIDCardImage}.JPEG()
	key := "uploads/idcard/front/user 9/photo.jpg"
	if err := uploads.Put(context.Background(), key, img, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	info, _ := uploads.Stat(context.Background(), key)
	event := `{"Records":[{"eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"uploads-bucket"},"object":{"key":"` +
		url.QueryEscape(key) + `","size":` + fmt.Sprint(len(img)) + `,"eTag":"` + info.ETag + `"}}}]}`
	out, err := st.invoke(t, event)
	if err != nil {
		t.Fatal(err)
	}
	if s := out.(resultfetch.Summary); s.Outcomes["archived"] != 1 || gotBucket != "uploads-bucket" {
		t.Fatalf("%+v bucket %q", s, gotBucket)
	}
	// The upstream request had the exact Content-Length of the streamed body.
	st.mu.Lock()
	cl, n := st.contentLength, st.bodyBytes
	st.mu.Unlock()
	if len(cl) != 1 || cl[0] <= int64(len(img))*4/3 || cl[0] != n[0] {
		t.Errorf("Content-Length %v, body bytes %v (image %d bytes)", cl, n, len(img))
	}
	if lb.largest > lb.max || lb.largest == 0 {
		t.Errorf("largest single read %d", lb.largest)
	}
	orderNo := resultfetch.UploadOrderNo("uploads-bucket", key, info.ETag, info.Size)
	var doc struct {
		Source archive.Source
		Result struct {
			Card struct{ IDNumber string }
		}
	}
	if err := json.Unmarshal(read(t, st.bucket, "cardocr/idcard/"+today()+"/"+orderNo+"/result.json"), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Source.Key != key || doc.Result.Card.IDNumber != emulator.Person(9).IDNumber {
		t.Errorf("archived %+v", doc)
	}
	if st.s3.sse["evidence/cardocr/_done/idcard/"+orderNo+".json"] != "AES256" {
		t.Errorf("done marker written without SSE")
	}
	// Redelivered: no second submission.
	if _, err := st.invoke(t, event); err != nil {
		t.Fatal(err)
	}
	if c := st.emu.Count(emulator.EndpointIDCardOCR); c != 1 {
		t.Errorf("submits = %d, want 1", c)
	}
}

func TestS3Erasure(t *testing.T) {
	f := startFakeS3(t, "erasure")
	archivetest.Erasure(t, newBucket(t, f, "erasure"))
}

func TestS3BucketConformance(t *testing.T) {
	f := startFakeS3(t, "conformance")
	archivetest.Conformance(t, newBucket(t, f, "conformance"))
}

// Eight simultaneous deliveries of one upload submit it once: the pending
// marker is a PutObject with If-None-Match: *, which the fake enforces.
func TestS3ConcurrentDeliveriesSubmitOnce(t *testing.T) {
	f := startFakeS3(t, "uploads-bucket")
	archivetest.ConcurrentDeliveriesSubmitOnce(t, newBucket(t, f, "uploads-bucket"), "uploads-bucket", "uploads/bankcard/808.jpg",
		func(key string, size int64, etag string) string {
			return fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"uploads-bucket"},"object":{"key":%q,"size":%d,"eTag":%q}}}]}`,
				url.QueryEscape(key), size, etag)
		})
}
