package rotation_test

// The rotation test of issue 4: the emulator with scaled lifetimes (token
// and ticket life 20 s, overlap 2 s), a refresher every 5 s that fires
// twice each time (two processes, as a schedule may), readers caching for
// 1 s, and 8 simulated function instances (each its own store value and
// cache) submitting continuously for 60 s. No client may ever see a
// failure, and the number of token fetches must equal the number of
// refreshes.
//
// It takes about a minute, so -short skips it. ROTATION_DURATION shortens
// or lengthens it; ROTATION_STORE=awssm|tencentssm runs it over the SDK
// fakes instead of the file store.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/secretstore/awssm/awssmtest"
	"github.com/cardocr/cardocr/shared/secretstore/tencentssm/tencentssmtest"
	"github.com/cardocr/cardocr/shared/setup"
	"github.com/cardocr/cardocr/shared/tickets"

	_ "github.com/cardocr/cardocr/shared/secretstore/awssm"
	_ "github.com/cardocr/cardocr/shared/secretstore/tencentssm"
)

func TestRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("rotation test takes a minute")
	}
	const (
		tokenLife = 20 * time.Second
		overlap   = 2 * time.Second
		interval  = 5 * time.Second
		readerTTL = time.Second
		instances = 8
		apiKey    = "rotation-test-key"
	)
	duration := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("ROTATION_DURATION")); err == nil && d > 0 {
		duration = d
	}

	emu := emulator.New(emulator.Config{TokenTTL: tokenLife, TicketTTL: tokenLife, Overlap: overlap})
	up := httptest.NewServer(emu)
	defer up.Close()

	var storeURL string
	switch os.Getenv("ROTATION_STORE") {
	case "awssm":
		awssmtest.Env(t)
		fake := awssmtest.New(t)
		fake.CreateSecret("tickets")
		fake.CreateSecret("tickets-lease")
		storeURL = fake.StoreURL("tickets", "lease=tickets-lease")
	case "tencentssm":
		tencentssmtest.Env(t)
		fake := tencentssmtest.New(t)
		fake.CreateSecret("tickets")
		storeURL = fake.StoreURL("tickets")
	default:
		storeURL = "file://" + filepath.Join(t.TempDir(), "tickets.json")
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var cfg config.Config
	cfg.Getenv = func(k string) string {
		if k == "KYC_BASE_URL" || k == "WECHAT_BASE_URL" {
			return up.URL
		}
		return ""
	}
	cfg.Credentials = config.Credentials{WeBankAppID: emulator.DefaultAppID, WeBankSecret: emulator.DefaultSecret}
	cfg.TicketStoreURL, cfg.RefreshInterval, cfg.CacheTTL = storeURL, interval, readerTTL
	cfg.RequestTimeout = 10 * time.Second
	cfg.APIKeys, cfg.AuthMode = []string{apiKey}, "apikey"
	cfg.MetricsFormat, cfg.LogLevel = "json", "warn"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Two refresher processes fire on every tick of the schedule.
	var refreshers []*tickets.Refresher
	for range 2 {
		r, err := setup.Refresher(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		refreshers = append(refreshers, r)
	}
	var outcomes sync.Map // tickets.Outcome → *atomic.Int64
	var refreshErrs atomic.Int64
	fire := func() {
		var wg sync.WaitGroup
		for _, r := range refreshers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := r.Refresh(ctx)
				if out == tickets.Leased && errors.Is(err, tickets.ErrNoUsablePair) {
					// The duplicate of a first fire (nothing stored yet):
					// it fails so that the platform retries soon.
					err = nil
				}
				if err != nil {
					if ctx.Err() == nil {
						refreshErrs.Add(1)
						t.Errorf("refresh: %v", err)
					}
					return
				}
				n, _ := outcomes.LoadOrStore(out, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}()
		}
		wg.Wait()
	}
	fire() // the deployment's first run
	var schedule sync.WaitGroup
	schedule.Add(1)
	go func() {
		defer schedule.Done()
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				fire()
			}
		}
	}()

	// Eight instances, each with its own reader (cache) and store value.
	var handlers []http.Handler
	for range instances {
		h, _, err := setup.API(ctx, cfg, log)
		if err != nil {
			t.Fatal(err)
		}
		handlers = append(handlers, h)
	}
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 7}.JPEG()
	body, _ := json.Marshal(map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)})

	var ok atomic.Int64
	var failMu sync.Mutex
	failures := map[string]int{}
	deadline := time.Now().Add(duration)
	var clients sync.WaitGroup
	for i, h := range handlers {
		clients.Add(1)
		go func() {
			defer clients.Done()
			for time.Now().Before(deadline) {
				req := httptest.NewRequest(http.MethodPost, "/v1/idcard/ocr", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+apiKey)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code == http.StatusOK {
					ok.Add(1)
				} else {
					var e struct {
						Error struct{ Code, UpstreamCode string } `json:"error"`
					}
					json.Unmarshal(rec.Body.Bytes(), &e)
					failMu.Lock()
					failures[fmt.Sprintf("instance %d: HTTP %d %s %s", i, rec.Code, e.Error.Code, e.Error.UpstreamCode)]++
					failMu.Unlock()
				}
				time.Sleep(10 * time.Millisecond) // keep the 2-core CI responsive
			}
		}()
	}
	clients.Wait()
	cancel()
	schedule.Wait()

	count := func(o tickets.Outcome) int64 {
		if n, ok := outcomes.Load(o); ok {
			return n.(*atomic.Int64).Load()
		}
		return 0
	}
	refreshed, leased, skipped := count(tickets.Refreshed), count(tickets.Leased), count(tickets.Skipped)
	tokens, ticketCalls := emu.Count("access_token"), emu.Count("api_ticket")
	t.Logf("store %s: %d submissions ok; refreshes: %d refreshed, %d leased, %d skipped; upstream: %d token fetches, %d ticket calls, %d stale-ticket rejections (retried), %d submissions",
		storeURL[:min(len(storeURL), 12)], ok.Load(), refreshed, leased, skipped, tokens, ticketCalls,
		emu.Count("rejected:stale_ticket"), emu.Count("idcardocrapp"))

	if len(failures) > 0 {
		keys := make([]string, 0, len(failures))
		for k := range failures {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.Errorf("client saw a failure %d times: %s", failures[k], k)
		}
		logMu.Lock()
		t.Logf("warnings and errors logged:\n%s", logs.String())
		logMu.Unlock()
	}
	if ok.Load() == 0 {
		t.Fatal("no submission succeeded")
	}
	if tokens != refreshed {
		t.Errorf("%d token fetches for %d refreshes: someone else fetched, or a refresh fetched twice", tokens, refreshed)
	}
	if ticketCalls != refreshed {
		t.Errorf("%d SIGN ticket fetches for %d refreshes", ticketCalls, refreshed)
	}
	// One refresh per tick (plus the first run); each duplicate fire
	// must have been leased out or skipped, never a second fetch.
	ticks := int64(duration/interval) + 1
	if refreshed < ticks-2 || refreshed > ticks+1 {
		t.Errorf("%d refreshes in %v at a %v cadence, want about %d", refreshed, duration, interval, ticks)
	}
	if leased+skipped < refreshed-1 {
		t.Errorf("duplicate fires: %d leased + %d skipped for %d refreshes", leased, skipped, refreshed)
	}
	if refreshErrs.Load() != 0 {
		t.Errorf("%d refresh errors", refreshErrs.Load())
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
