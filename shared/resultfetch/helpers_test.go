package resultfetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/logging"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is an emulator, a refreshed ticket store, the OCR service, and a
// file archive whose directory also holds the uploads.
type fixture struct {
	emu     *emulator.Emulator
	svc     *ocr.Service
	dir     string
	bucket  *archive.FileBucket
	archive *archive.Archive
	h       *Handler
	logs    *syncBuffer
	pair    tickets.Pair
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	emu := emulator.New(emulator.Config{})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return newFixtureWith(t, emu, srv.URL)
}

func newFixtureWith(t *testing.T, emu *emulator.Emulator, base string) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := secretstore.Open(ctx, "file://"+filepath.Join(dir, "tickets.json"))
	if err != nil {
		t.Fatal(err)
	}
	wb := webank.New(webank.Config{BaseURL: base, AppID: emulator.DefaultAppID, Secret: emulator.DefaultSecret})
	quiet := slog.New(slog.DiscardHandler)
	if _, err := (&tickets.Refresher{Store: store, WeBank: wb, Interval: 20 * time.Minute, Logger: quiet}).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := logging.New(logs, "debug")
	reader := &tickets.Reader{Store: store, TTL: time.Hour}
	pair, err := reader.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svc := &ocr.Service{Providers: ocr.ProvidersOf(&webank.Provider{Client: wb, Tickets: reader}), Logger: log}
	b := &archive.FileBucket{Dir: filepath.Join(dir, "store")}
	a := archive.New(b, "evidence")
	if emu != nil {
		emu.ResetCounts()
	}
	return &fixture{emu: emu, svc: svc, dir: dir, bucket: b, archive: a, logs: logs, pair: pair,
		h: &Handler{OCR: svc, Archive: a, Logger: log}}
}

func (f *fixture) invoke(t *testing.T, event string) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return f.h.Handle(ctx, json.RawMessage(event))
}

func (f *fixture) upload(t *testing.T, key string, data []byte) {
	t.Helper()
	if err := f.bucket.Put(context.Background(), key, data, "image/jpeg"); err != nil {
		t.Fatal(err)
	}
}

// read returns an archived object.
func (f *fixture) read(t *testing.T, key string) []byte {
	t.Helper()
	rc, _, err := f.bucket.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type resultDoc struct {
	Kind    string          `json:"kind"`
	OrderNo string          `json:"orderNo"`
	Source  *archive.Source `json:"source"`
	Photos  []string        `json:"photos"`
	Result  json.RawMessage `json:"result"`
	Error   *archive.Failure
}

// archived reads the done marker and result.json of an order and checks the
// layout.
func (f *fixture) archived(t *testing.T, kind, orderNo string) resultDoc {
	t.Helper()
	var m archive.Marker
	if err := json.Unmarshal(f.read(t, "evidence/_done/"+kind+"/"+orderNo+".json"), &m); err != nil {
		t.Fatal(err)
	}
	d := time.Now().In(time.FixedZone("CST", 8*3600))
	want := fmt.Sprintf("evidence/%s/%s/%s/result.json", kind, d.Format("2006/01/02"), orderNo)
	if m.Result != want {
		t.Errorf("result key %q, want %q", m.Result, want)
	}
	var doc resultDoc
	if err := json.Unmarshal(f.read(t, m.Result), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != kind || doc.OrderNo != orderNo {
		t.Errorf("result.json kind/orderNo %q %q", doc.Kind, doc.OrderNo)
	}
	for _, p := range doc.Photos {
		img := f.read(t, strings.TrimSuffix(m.Result, "result.json")+p)
		if !bytes.HasPrefix(img, []byte{0xFF, 0xD8, 0xFF}) {
			t.Errorf("%s is not a JPEG", p)
		}
	}
	return doc
}

// assertClean fails when the logs carry a secret or personal datum.
func (f *fixture) assertClean(t *testing.T, secrets ...string) {
	t.Helper()
	logs := f.logs.String()
	secrets = append(secrets, f.pair.SignTicket, f.pair.AccessToken)
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("logs contain a secret or personal datum (%d chars)", len(s))
		}
	}
}

// flakyBucket fails the first Put whose key ends with failSuffix.
type flakyBucket struct {
	archive.Bucket
	mu         sync.Mutex
	failSuffix string
	failed     bool
}

func (b *flakyBucket) Put(ctx context.Context, key string, data []byte, ct string) error {
	b.mu.Lock()
	fail := !b.failed && strings.HasSuffix(key, b.failSuffix)
	if fail {
		b.failed = true
	}
	b.mu.Unlock()
	if fail {
		return errors.New("injected storage failure")
	}
	return b.Bucket.Put(ctx, key, data, ct)
}

func (b *flakyBucket) OpenBucket(ctx context.Context, name, region string) (archive.Bucket, error) {
	return b.Bucket, nil
}
