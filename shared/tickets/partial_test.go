package tickets

// Partial failures of the one writer, against the emulator (scaled in
// time) and every store backend: the issue "the single writer survives
// its own partial failures".

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/secretstore/awssm/awssmtest"
	"github.com/cardocr/cardocr/shared/secretstore/tencentssm/tencentssmtest"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/upstream"
	"github.com/cardocr/cardocr/shared/webank"
)

type emuUpstream struct {
	emu  *emulator.Emulator
	wb   *webank.Client
	base string
}

func (u emuUpstream) wbBase() string { return u.base }

func newUpstream(t *testing.T, cfg emulator.Config) emuUpstream {
	t.Helper()
	emu := emulator.New(cfg)
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emuUpstream{emu, webank.New(webank.Config{BaseURL: srv.URL, AppID: emulator.DefaultAppID, Secret: emulator.DefaultSecret}), srv.URL}
}

// submit is what a function does with the stored pair (ocr.Service's
// reload-and-retry-once, without the service).
func (u emuUpstream) submit(ctx context.Context, r *Reader, img []byte) error {
	p, err := r.Get(ctx)
	if err != nil {
		return err
	}
	call := func(ticket string) error {
		_, err := u.wb.SubmitBankCard(ctx, ticket, webank.SubmitRequest{OrderNo: sign.OrderNo("pf"), Image: ocr.BytesImage(img)})
		return err
	}
	err = call(p.SignTicket)
	var ae *upstream.Error
	if !errors.As(err, &ae) || !ae.CredentialsRejected {
		return err
	}
	r.Invalidate(p)
	p2, gerr := r.Get(ctx)
	if gerr != nil {
		return gerr
	}
	if p2.SignTicket == p.SignTicket {
		return err
	}
	return call(p2.SignTicket)
}

// readOnly is a file store whose writes fail as a read-only file's do (the
// tests run as root, which file permissions do not stop).
type readOnly struct{ secretstore.Store }

func (readOnly) Put(context.Context, []byte) error {
	return fmt.Errorf("secretstore: rename: %w", os.ErrPermission)
}

// Unwritable store: zero token fetches, and the stored pair still serves.
func TestUnwritableStoreFetchesNoToken(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			up := newUpstream(t, emulator.Config{})
			open, fake := b.setup(t)
			r := &Refresher{Store: open(), WeBank: up.wb, Interval: 20 * time.Minute, Logger: slog.New(slog.DiscardHandler)}
			if _, err := r.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			stored := storedPair(t, open())
			up.emu.ResetCounts()
			switch f := fake.(type) {
			case *awssmtest.Server:
				f.Inject(awssmtest.Fault{Op: "PutSecretValue", Status: 400, Type: "AccessDeniedException", Message: "not authorized to perform secretsmanager:PutSecretValue"})
			case *tencentssmtest.Server:
				f.Inject(tencentssmtest.Fault{Action: "UpdateSecret", Code: "UnauthorizedOperation", Message: "CAM 鉴权失败"})
			default:
				r.Store = readOnly{open()}
			}
			if _, err := r.ForceRefresh(ctx); err == nil {
				t.Fatal("a refresh that cannot write succeeded")
			}
			if n := up.emu.Count(emulator.EndpointAccessToken); n != 0 {
				t.Fatalf("%d token fetches with an unwritable store", n)
			}
			if p := storedPair(t, open()); *p != *stored {
				t.Fatalf("stored pair changed")
			}
			reader := &Reader{Store: open(), TTL: time.Second}
			if err := up.submit(ctx, reader, emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 1}.JPEG()); err != nil {
				t.Fatalf("the stored pair no longer serves: %v", err)
			}
		})
	}
}

// clients submits from n goroutines until stop, counting failures.
func clients(ctx context.Context, n int, up emuUpstream, r *Reader, stop <-chan struct{}) (ok, failed *atomic.Int64, errs chan error, wait func()) {
	ok, failed, errs = new(atomic.Int64), new(atomic.Int64), make(chan error, 16)
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 2}.JPEG()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := up.submit(ctx, r, img); err != nil {
					failed.Add(1)
					select {
					case errs <- err:
					default:
					}
				} else {
					ok.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	return ok, failed, errs, wg.Wait
}

// The ticket endpoint down for a while, starting with the token fetch
// (scaled: the old pair lives 1.5 s after a new token, the outage lasts
// 0.9 s, longer than the three tries the refresher used to make, and the
// refresher is patient for 1.2 s): no client request fails, one token.
func TestShortTicketOutageAfterTokenFailsNoRequest(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			up := newUpstream(t, emulator.Config{Overlap: 1500 * time.Millisecond})
			open, _ := b.setup(t)
			r := &Refresher{Store: open(), WeBank: up.wb, Interval: 20 * time.Minute, TicketPatience: 1200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
			if _, err := r.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			reader := &Reader{Store: open(), TTL: 100 * time.Millisecond}
			stop := make(chan struct{})
			ok, failed, errs, wait := clients(ctx, 3, up, reader, stop)
			time.Sleep(200 * time.Millisecond)
			up.emu.ResetCounts()
			up.emu.SetFault(emulator.EndpointAPITicket, emulator.Fault{Kind: emulator.FaultStatus, For: 900 * time.Millisecond, StartOn: emulator.EndpointAccessToken})
			if out, err := r.ForceRefresh(ctx); err != nil || out != Refreshed {
				t.Fatalf("refresh across the outage: %v %v", out, err)
			}
			time.Sleep(1500 * time.Millisecond) // past the old pair's end
			close(stop)
			wait()
			if failed.Load() != 0 {
				t.Errorf("%d of %d requests failed, first: %v", failed.Load(), failed.Load()+ok.Load(), <-errs)
			}
			if n := up.emu.Count(emulator.EndpointAccessToken); n != 1 || up.emu.Count("fault:5xx") == 0 {
				t.Errorf("token fetches %d, ticket faults %d", n, up.emu.Count("fault:5xx"))
			}
		})
	}
}

// A longer outage (scaled: the old pair lives 0.6 s, the outage 1.5 s,
// the patience 0.3 s): clients get tickets_unavailable, /healthz says
// degraded, and the next run fetches a ticket, not a token.
func TestLongTicketOutageStoresTokenAndFetchesTicketNext(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			up := newUpstream(t, emulator.Config{Overlap: 600 * time.Millisecond})
			open, _ := b.setup(t)
			r := &Refresher{Store: open(), WeBank: up.wb, Interval: 20 * time.Minute, TicketPatience: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
			if _, err := r.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			reader := &Reader{Store: open(), TTL: 100 * time.Millisecond}
			img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 3}.JPEG()
			up.emu.SetFault(emulator.EndpointAPITicket, emulator.Fault{Kind: emulator.FaultStatus, For: 1500 * time.Millisecond, StartOn: emulator.EndpointAccessToken})
			if _, err := r.ForceRefresh(ctx); err == nil {
				t.Fatal("the refresh succeeded without a ticket")
			}
			time.Sleep(700 * time.Millisecond) // the old pair is dead
			if err := up.submit(ctx, reader, img); errcode.ErrorCode(err) != errcode.TicketsUnavailable {
				t.Errorf("a request while no ticket exists: %v", err)
			}
			if fr := reader.Freshness(ctx, 20*time.Minute); fr != Degraded {
				t.Errorf("health %q, want degraded", fr)
			}
			time.Sleep(800 * time.Millisecond) // the outage is over
			up.emu.ResetCounts()
			if out, err := r.Refresh(ctx); err != nil || out != Refreshed {
				t.Fatalf("the next run: %v %v", out, err)
			}
			if tok, tk := up.emu.Count(emulator.EndpointAccessToken), up.emu.Count(emulator.EndpointAPITicket); tok != 0 || tk != 1 {
				t.Errorf("the next run made %d token and %d ticket fetches, want 0 and 1", tok, tk)
			}
			time.Sleep(150 * time.Millisecond)
			if err := up.submit(ctx, reader, img); err != nil {
				t.Errorf("after the ticket came: %v", err)
			}
			if fr := reader.Freshness(ctx, 20*time.Minute); fr != Fresh {
				t.Errorf("health %q, want fresh", fr)
			}
		})
	}
}

// A young pair killed upstream (another system fetched a token with the
// same app id): the next run's self-check sees it rejected and replaces it,
// and says so in the selfcheck metric.
func TestSelfCheckReplacesARejectedYoungPair(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			up := newUpstream(t, emulator.Config{Overlap: 100 * time.Millisecond})
			open, _ := b.setup(t)
			var logs bytes.Buffer
			var mu sync.Mutex
			log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, nil))
			r := &Refresher{Store: open(), WeBank: up.wb, Interval: 20 * time.Minute, Logger: log, Metrics: &metrics.Recorder{Logger: log}}
			if out, err := r.Refresh(ctx); err != nil || out != Refreshed {
				t.Fatal(out, err)
			}
			if out, err := r.Refresh(ctx); err != nil || out != Skipped {
				t.Fatalf("fresh and accepted: %v %v", out, err)
			}
			// Someone else's token: ours dies 100 ms later.
			rogue := webank.New(webank.Config{BaseURL: strings.TrimSuffix(up.wbBase(), "/"), AppID: emulator.DefaultAppID, Secret: emulator.DefaultSecret})
			if _, err := rogue.AccessToken(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			if out, err := r.Refresh(ctx); err != nil || out != Replaced {
				t.Fatalf("young pair rejected upstream: %v %v", out, err)
			}
			reader := &Reader{Store: open(), TTL: time.Second}
			if err := up.submit(ctx, reader, emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 4}.JPEG()); err != nil {
				t.Errorf("after the replacement: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, want := range []string{`"metric":"selfcheck","outcome":"ok"`, `"metric":"selfcheck","outcome":"replaced"`} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("no %s line", want)
				}
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
