// Package archivetest holds what every archive backend must pass: a
// conformance suite for archive.Bucket and an end-to-end check that
// concurrent deliveries of one upload submit it once. Each backend's tests
// run both against its fake (file, S3 via gofakes3, COS via a local fake).
package archivetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
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

	// List: every key under a prefix, in order, nothing beside it.
	for _, k := range []string{"conformance/list/b/2.json", "conformance/list/a/1.json", "conformance/list/a/2.jpg", "conformance/listed-not.json"} {
		if err := b.Put(ctx, k, data, "application/json"); err != nil {
			t.Fatalf("Put %s: %v", k, err)
		}
	}
	keys, err := b.List(ctx, "conformance/list/")
	if want := []string{"conformance/list/a/1.json", "conformance/list/a/2.jpg", "conformance/list/b/2.json"}; err != nil || !slices.Equal(keys, want) {
		t.Errorf("List: %q %v; want %q", keys, err, want)
	}
	if keys, err := b.List(ctx, "conformance/nothing-here/"); err != nil || len(keys) != 0 {
		t.Errorf("List of an empty prefix: %q %v", keys, err)
	}

	// Delete: gone for Stat, Open and List; a missing key is no error.
	if err := b.Delete(ctx, "conformance/list/a/1.json"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.Stat(ctx, "conformance/list/a/1.json"); !errors.Is(err, archive.ErrNotExist) {
		t.Errorf("Stat after Delete: %v", err)
	}
	if err := b.Delete(ctx, "conformance/list/a/1.json"); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
	if keys, err := b.List(ctx, "conformance/list/a/"); err != nil || !slices.Equal(keys, []string{"conformance/list/a/2.jpg"}) {
		t.Errorf("List after Delete: %q %v", keys, err)
	}
	// A deleted key can be created again.
	if err := b.Create(ctx, "conformance/list/a/1.json", data, "application/json"); err != nil {
		t.Errorf("Create after Delete: %v", err)
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

// Erasure checks an order's erasure on b: every object of the order (result,
// photos, markers, the upload it came from) goes, another order stays, the
// order's record becomes a tombstone without content, and each erasure
// writes one audit record that holds no personal data. A dry run deletes
// nothing.
func Erasure(t *testing.T, b archive.Bucket) {
	t.Helper()
	ctx := context.Background()
	a := archive.New(b, "evidence")
	a.Uploads = func(context.Context, string) (archive.Bucket, error) { return b, nil }
	const name, idNumber = "某某某", "11010519491231002X" // GB 11643's worked example
	photo := []byte(base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 9}.JPEG()))
	upload := "uploads/idcard/front/erase-me.jpg"
	if err := b.Put(ctx, upload, []byte("image"), "image/jpeg"); err != nil {
		t.Fatal(err)
	}
	for _, no := range []string{"erase1", "keep1"} {
		if _, err := a.Claim(ctx, ocr.Order{OrderNo: no, Kind: archive.KindIDCard, Side: "front", ImageSHA256: "ab12", State: ocr.OrderDone, CreatedAt: time.Now().UTC()}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.ClaimPending(ctx, archive.KindIDCard, no); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Save(ctx, archive.Record{Kind: archive.KindIDCard, OrderNo: no,
			Result: map[string]any{"card": map[string]string{"name": name, "idNumber": idNumber}},
			Photos: map[string][]byte{"frontPhoto": photo}, Source: &archive.Source{Key: upload, Size: 5}}); err != nil {
			t.Fatal(err)
		}
	}
	held := func(no string) []string {
		keys, err := b.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range keys {
			if strings.Contains(k, "/"+no) || (no == "erase1" && k == upload) {
				out = append(out, k)
			}
		}
		return out
	}
	before := held("erase1")
	if len(before) != 6 { // result.json, the photo, done, pending, the order record, the upload
		t.Fatalf("before: %q", before)
	}

	e := ocr.Erasure{Kind: archive.KindIDCard, OrderNo: "erase1", Caller: "key:0123456789ab", Reason: "data subject request 2026-12-04"}
	dry := e
	dry.DryRun = true
	plan, err := a.Erase(ctx, dry)
	if err != nil || len(plan.Keys) != 5 || plan.Objects != 0 {
		t.Fatalf("dry run: %+v %v", plan, err)
	}
	if got := held("erase1"); len(got) != len(before) {
		t.Fatalf("a dry run deleted %q", before)
	}

	got, err := a.Erase(ctx, e)
	if err != nil || got.Objects != 5 || !got.Tombstone || got.AuditKey == "" {
		t.Fatalf("erase: %+v %v", got, err)
	}
	if left := held("erase1"); len(left) != 1 || left[0] != a.OrderKey("", "erase1") {
		t.Errorf("left after erasure: %q (want only the tombstone)", left)
	}
	rec, err := a.Order(ctx, "", "erase1")
	if err != nil || rec == nil || rec.State != ocr.OrderErased || rec.ImageSHA256 != "" || rec.Side != "" {
		t.Errorf("tombstone: %+v %v", rec, err)
	}
	if kept := held("keep1"); len(kept) != 5 {
		t.Errorf("another order lost objects: %q", kept)
	}
	// Again: nothing more to delete, still answered, one more record.
	again, err := a.Erase(ctx, e)
	if err != nil || again.Objects != 0 {
		t.Errorf("repeated erasure: %+v %v", again, err)
	}
	audits, err := b.List(ctx, "evidence/_audit/")
	if err != nil {
		t.Fatal(err)
	}
	var records []archive.AuditRecord
	for _, k := range audits {
		if strings.HasSuffix(k, "/salt") {
			continue
		}
		rc, _, err := b.Open(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(rc)
		rc.Close()
		for _, pii := range []string{name, idNumber, "erase1", string(photo[:40])} {
			if strings.Contains(string(raw), pii) {
				t.Errorf("audit record %s holds personal data or the order number: %s", k, raw)
			}
		}
		var r archive.AuditRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		records = append(records, r)
	}
	if len(records) != 2 || records[0].Objects+records[1].Objects != 5 || records[0].Caller != e.Caller || records[0].Tenant != "default" ||
		records[0].OrderHash == "" || records[0].OrderHash != records[1].OrderHash || !strings.Contains(records[0].Reason, "request") {
		t.Errorf("audit records: %+v", records)
	}
	// The audit prefix is append-only: a record is never overwritten.
	if err := b.Create(ctx, got.AuditKey, []byte("{}"), "application/json"); !errors.Is(err, archive.ErrExists) {
		t.Errorf("an audit record could be replaced: %v", err)
	}
	// A reason with personal data in another script is refused.
	if _, err := a.Erase(ctx, ocr.Erasure{Kind: archive.KindIDCard, OrderNo: "keep1", Reason: "为" + name + "删除"}); err == nil {
		t.Errorf("a reason with a name was accepted")
	}
	if kept := held("keep1"); len(kept) != 5 {
		t.Errorf("a refused erasure deleted %q", kept)
	}
}
