package resultfetch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/webank"
)

type staticTickets struct{}

func (staticTickets) Current(context.Context) (string, error) { return "ticket-for-tests", nil }
func (staticTickets) Rejected(context.Context, string) (string, error) {
	return "", errors.New("no other ticket")
}

// streamingUpstream checks a submission without holding it: it finds the
// image member, decodes its base64 on the fly into a hash, and compares
// the bytes it received with the declared Content-Length.
type streamingUpstream struct {
	mu            sync.Mutex
	contentLength int64
	chunked       bool
	received      int64
	imageSHA      [32]byte
	imageBytes    int64
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// untilQuote reads up to (not including) the next '"'.
type untilQuote struct {
	r    *bufio.Reader
	done bool
}

func (u *untilQuote) Read(p []byte) (int, error) {
	if u.done {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) {
		c, err := u.r.ReadByte()
		if err != nil {
			return n, err
		}
		if c == '"' {
			u.done = true
			return n, nil
		}
		p[n] = c
		n++
	}
	return n, nil
}

func (s *streamingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet { // the query for the photos, after the submit
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"code":"0","msg":"请求成功","result":{"orderNo":"x","frontCode":"0","backCode":"66660020","name":"测试","sex":"男","nation":"汉","birth":"19900101","address":"北京","idcard":"11010119900101001X","frontPhoto":"/9j/2w==","operateTime":"2026-06-01 10:00:00"}}`)
		return
	}
	cr := &countReader{r: r.Body}
	br := bufio.NewReaderSize(cr, 4<<10)
	marker := []byte(`"idcardStr":"`)
	var window []byte
	for !bytes.HasSuffix(window, marker) {
		c, err := br.ReadByte()
		if err != nil {
			http.Error(w, "no image member", 400)
			return
		}
		window = append(window, c)
		if len(window) > 4<<10 {
			http.Error(w, "head too long", 400)
			return
		}
	}
	h := sha256.New()
	n, err := io.Copy(h, base64.NewDecoder(base64.StdEncoding, &untilQuote{r: br}))
	if err != nil {
		http.Error(w, "bad base64", 400)
		return
	}
	io.Copy(io.Discard, br)
	s.mu.Lock()
	s.contentLength, s.chunked, s.received, s.imageBytes = r.ContentLength, len(r.TransferEncoding) > 0, cr.n, n
	copy(s.imageSHA[:], h.Sum(nil))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"code":"0","msg":"请求成功","result":{"orderNo":"x","name":"测试","sex":"男","nation":"汉","birth":"19900101","address":"北京","idcard":"11010119900101001X","warning":"00000000","clarity":"80"}}`)
}

func TestUploadIsStreamedNotBuffered(t *testing.T) {
	up := &streamingUpstream{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	dir := t.TempDir()
	b := &archive.FileBucket{Dir: filepath.Join(dir, "store")}
	svc := &ocr.Service{
		Providers: ocr.ProvidersOf(&webank.Provider{Client: webank.New(webank.Config{BaseURL: srv.URL, AppID: "IDATEST1"}), Tickets: staticTickets{}}),
		Logger:    slog.New(slog.DiscardHandler),
	}
	limited := &maxReadBucket{Bucket: b, max: 256 << 10}
	h := &Handler{OCR: svc, Archive: archive.New(b, "evidence"), Logger: slog.New(slog.DiscardHandler),
		Uploads: func(context.Context, string, string) (archive.Bucket, error) { return limited, nil }}

	// 15 MiB: the largest ID card image (its Base64 is the documented
	// 20971520 characters): a real JPEG padded after its end marker.
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 5, MinSize: webank.MaxIDCardImage}.JPEG()
	key := "uploads/idcard/front/big.jpg"
	if err := b.Put(context.Background(), key, img, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(img)
	event := s3Event("uploads", key, len(img))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out, err := h.Handle(ctx, json.RawMessage(event))
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if s := out.(Summary); s.Outcomes[string(Archived)] != 1 {
		t.Fatalf("%+v", s)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.chunked || up.contentLength != up.received || up.contentLength < int64(base64.StdEncoding.EncodedLen(len(img))) {
		t.Errorf("Content-Length %d, received %d, chunked %v", up.contentLength, up.received, up.chunked)
	}
	if up.imageBytes != int64(len(img)) || up.imageSHA != want {
		t.Errorf("the upstream got %d image bytes with another hash", up.imageBytes)
	}
	if limited.largest > limited.max {
		t.Errorf("a single read asked for %d bytes", limited.largest)
	}
	// Everything allocated while handling (both sides of the HTTP call in
	// this process) stays far below the image (15 MiB) and its base64 (20 MiB).
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("handling a 15 MiB upload allocated %d bytes: something buffers it", alloc)
	} else {
		t.Logf("allocated %d KiB while streaming a %d MiB upload", alloc>>10, len(img)>>20)
	}
}

// maxReadBucket makes any single read of more than max bytes fail.
type maxReadBucket struct {
	archive.Bucket
	max     int
	mu      sync.Mutex
	largest int
}

type maxReader struct {
	io.ReadCloser
	b *maxReadBucket
}

func (m *maxReader) Read(p []byte) (int, error) {
	m.b.mu.Lock()
	m.b.largest = max(m.b.largest, len(p))
	m.b.mu.Unlock()
	if len(p) > m.b.max {
		return 0, errors.New("a read of the whole object at once")
	}
	return m.ReadCloser.Read(p)
}

func (b *maxReadBucket) Open(ctx context.Context, key string) (io.ReadCloser, archive.ObjectInfo, error) {
	rc, info, err := b.Bucket.Open(ctx, key)
	if err != nil {
		return nil, info, err
	}
	return &maxReader{ReadCloser: rc, b: b}, info, nil
}
