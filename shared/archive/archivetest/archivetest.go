// Package archivetest holds what every archive backend must pass: a
// conformance suite for archive.Bucket and an end-to-end check that
// concurrent deliveries of one upload submit it once. Each backend's tests
// run both against its fake (file, S3 via gofakes3, COS via a local fake).
package archivetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/resultfetch"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

// Conformance checks a Bucket's contract: Put then Open and Stat, missing
// objects wrapping archive.ErrNotExist, and Create succeeding exactly once
// among concurrent callers, the others wrapping archive.ErrExists.
func Conformance(t *testing.T, b archive.Bucket) {
	t.Helper()
	ctx := context.Background()
	if _, err := b.Stat(ctx, "conformance/missing.json"); !errors.Is(err, archive.ErrNotExist) {
		t.Errorf("Stat of a missing object: %v", err)
	}
	if _, _, err := b.Open(ctx, "conformance/missing.json"); !errors.Is(err, archive.ErrNotExist) {
		t.Errorf("Open of a missing object: %v", err)
	}
	data := []byte(`{"a":1}`)
	if err := b.Put(ctx, "conformance/put.json", data, "application/json"); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if err := b.Put(ctx, "conformance/put.json", data, "application/json"); err != nil {
		t.Fatalf("Put again (overwrite): %v", err)
	}
	if info, err := b.Stat(ctx, "conformance/put.json"); err != nil || info.Size != int64(len(data)) {
		t.Errorf("Stat: %+v %v", info, err)
	}
	rc, info, err := b.Open(ctx, "conformance/put.json")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) || info.Size != int64(len(data)) {
		t.Errorf("Open read %q (%+v)", got, info)
	}

	const n = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, exists := 0, 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.Create(ctx, "conformance/create.json", []byte{'0' + byte(i)}, "application/json")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case errors.Is(err, archive.ErrExists):
				exists++
			default:
				t.Errorf("Create: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 || exists != n-1 {
		t.Errorf("%d concurrent Creates: %d succeeded, %d found it existing; want 1 and %d", n, wins, exists, n-1)
	}
	if err := b.Create(ctx, "conformance/put.json", data, "application/json"); !errors.Is(err, archive.ErrExists) {
		t.Errorf("Create over an existing object: %v", err)
	}
}

// Upstream is an emulator with a refreshed ticket store and the OCR
// service on it, for resultfetch against a backend.
type Upstream struct {
	Emu *emulator.Emulator
	Svc *ocr.Service
}

// NewUpstream starts one.
func NewUpstream(t *testing.T) Upstream {
	t.Helper()
	emu := emulator.New(emulator.Config{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	svc := ServiceOn(t, srv.URL)
	emu.ResetCounts()
	return Upstream{Emu: emu, Svc: svc}
}

// ServiceOn returns the OCR service on the WeBank API at baseURL (an
// emulator, perhaps behind a wrapper of the test's), with a ticket pair
// refreshed into a temporary file store.
func ServiceOn(t *testing.T, baseURL string) *ocr.Service {
	t.Helper()
	ctx := context.Background()
	store, err := secretstore.Open(ctx, "file://"+filepath.Join(t.TempDir(), "tickets.json"))
	if err != nil {
		t.Fatal(err)
	}
	wb := webank.New(webank.Config{BaseURL: baseURL, AppID: emulator.DefaultAppID, Secret: emulator.DefaultSecret})
	quiet := slog.New(slog.DiscardHandler)
	if _, err := (&tickets.Refresher{Store: store, WeBank: wb, Interval: 20 * time.Minute, Logger: quiet}).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	return &ocr.Service{Providers: ocr.ProvidersOf(&webank.Provider{Client: wb, Tickets: &tickets.Reader{Store: store, TTL: time.Hour}}), Logger: quiet}
}

// ConcurrentDeliveriesSubmitOnce uploads a bank card to b (named bucket in
// events) under key, hands the object-created event that event makes (from
// key, size and ETag) to eight concurrent resultfetch invocations, and
// checks that exactly one submission reached the upstream, and that a later
// delivery archives it.
func ConcurrentDeliveriesSubmitOnce(t *testing.T, b archive.Bucket, bucket, key string, event func(key string, size int64, etag string) string) {
	t.Helper()
	ctx := context.Background()
	up := NewUpstream(t)
	h := &resultfetch.Handler{OCR: up.Svc, Archive: archive.New(b, "evidence"), Logger: slog.New(slog.DiscardHandler),
		Uploads: func(context.Context, string, string) (archive.Bucket, error) { return b, nil }}
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 808}.JPEG()
	if err := b.Put(ctx, key, img, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	info, err := b.Stat(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	ev := json.RawMessage(event(key, info.Size, info.ETag))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.Handle(ctx, ev) // the losers may fail (in flight) and be redelivered
		}()
	}
	wg.Wait()
	if n, a := up.Emu.Count(emulator.EndpointBankCardOCR), up.Emu.Count("accepted:"+emulator.EndpointBankCardOCR); n != 1 || a != 1 {
		t.Errorf("8 concurrent deliveries made %d submissions (%d accepted), want 1", n, a)
	}
	if _, err := h.Handle(ctx, ev); err != nil {
		t.Fatalf("a later delivery: %v", err)
	}
	orderNo := resultfetch.UploadOrderNo(bucket, key, info.ETag, info.Size)
	if done, err := h.Archive.Done(ctx, archive.KindBankCard, orderNo); err != nil || !done {
		t.Errorf("not archived: %v %v", done, err)
	}
	if n := up.Emu.Count(emulator.EndpointBankCardOCR); n != 1 {
		t.Errorf("%d submissions in all, want 1", n)
	}
}
