package tickets

// The single-writer guarantee and reader behaviour against the real store
// backends (file, and the awssm / tencentssm SDKs against their fakes).

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/secretstore/awssm/awssmtest"
	"github.com/cardocr/cardocr/shared/secretstore/tencentssm/tencentssmtest"
	"github.com/cardocr/cardocr/shared/upstream"

	_ "github.com/cardocr/cardocr/shared/secretstore/awssm"
	_ "github.com/cardocr/cardocr/shared/secretstore/tencentssm"
)

// slowFetcher is the upstream shared by every simulated process: it counts
// fetches and takes a while, as the real one does.
type slowFetcher struct {
	delay           time.Duration
	tokens, tickets atomic.Int32
	tokenErr        error
}

func (f *slowFetcher) AppID() string { return "IDAXXXXX" }
func (f *slowFetcher) AccessToken(ctx context.Context) (upstream.Credential, error) {
	n := f.tokens.Add(1)
	time.Sleep(f.delay)
	if f.tokenErr != nil {
		return upstream.Credential{}, f.tokenErr
	}
	return upstream.Credential{Value: "tok" + strconv.Itoa(int(n)), ExpiresIn: 2 * time.Hour}, nil
}
func (f *slowFetcher) SignTicket(ctx context.Context, tok string) (upstream.Credential, error) {
	f.tickets.Add(1)
	time.Sleep(f.delay)
	return upstream.Credential{Value: "ticket-" + tok, ExpiresIn: time.Hour}, nil
}

// backend opens one store value per simulated process on a shared store.
type backend struct {
	name string
	// setup creates the store and returns an opener for one process's view.
	setup func(t *testing.T) (open func() secretstore.Store, fake any)
}

func backends() []backend {
	return []backend{
		{"file", func(t *testing.T) (func() secretstore.Store, any) {
			path := filepath.Join(t.TempDir(), "tickets.json")
			return func() secretstore.Store { return &secretstore.File{Path: path} }, nil
		}},
		{"awssm", func(t *testing.T) (func() secretstore.Store, any) {
			awssmtest.Env(t)
			fake := awssmtest.New(t)
			fake.CreateSecret("tickets")
			fake.CreateSecret("tickets-lease")
			u := fake.StoreURL("tickets", "lease=tickets-lease", "attempts=1")
			return func() secretstore.Store { return mustOpen(t, u) }, fake
		}},
		{"tencentssm", func(t *testing.T) (func() secretstore.Store, any) {
			tencentssmtest.Env(t)
			fake := tencentssmtest.New(t)
			fake.CreateSecret("tickets")
			u := fake.StoreURL("tickets", "attempts=1")
			return func() secretstore.Store { return mustOpen(t, u) }, fake
		}},
	}
}

func mustOpen(t *testing.T, u string) secretstore.Store {
	t.Helper()
	s, err := secretstore.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func putPair(t *testing.T, s secretstore.Store, p Pair) {
	t.Helper()
	b, err := json.Marshal(Document{WeBank: &p})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

func storedPair(t *testing.T, s secretstore.Store) *Pair {
	t.Helper()
	b, err := s.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	return d.WeBank
}

// A schedule that fires eight times at once, on eight processes whose
// clocks straddle a cadence boundary (where slots cut from the clock would
// differ): one token fetch, one ticket fetch, one write.
func TestDuplicateFiresAcrossProcessesFetchOnce(t *testing.T) {
	const interval = 20 * time.Minute
	boundary := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC) // a multiple of interval/2
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			open, _ := b.setup(t)
			old := Pair{AppID: "IDAXXXXX", AccessToken: "tok0", SignTicket: "ticket-tok0",
				TokenExpiresAt: boundary.Add(3 * time.Minute), TicketExpiresAt: boundary.Add(3 * time.Minute),
				FetchedAt: boundary.Add(-17 * time.Minute)}
			putPair(t, open(), old)

			f := &slowFetcher{delay: 30 * time.Millisecond}
			outcomes := make([]Outcome, 8)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range outcomes {
				skew := time.Duration(i%2*2-1) * time.Millisecond // ±1 ms around the boundary
				r := &Refresher{Store: open(), WeBank: f, Interval: interval,
					Now: func() time.Time { return boundary.Add(skew) }}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					out, err := r.Refresh(context.Background())
					if err != nil {
						t.Error(err)
					}
					outcomes[i] = out
				}()
			}
			close(start)
			wg.Wait()
			if n, m := f.tokens.Load(), f.tickets.Load(); n != 1 || m != 1 {
				t.Fatalf("%d token and %d ticket fetches for one due refresh, want 1 and 1 (outcomes %v)", n, m, outcomes)
			}
			refreshed := 0
			for _, o := range outcomes {
				switch o {
				case Refreshed:
					refreshed++
				case Leased, Skipped:
				default:
					t.Errorf("outcome %q", o)
				}
			}
			if refreshed != 1 {
				t.Errorf("outcomes %v, want exactly one %q", outcomes, Refreshed)
			}
			if p := storedPair(t, open()); p.AccessToken != "tok1" || p.SignTicket != "ticket-tok1" {
				t.Errorf("stored pair %s/%s, want the one fetched", p.AccessToken, p.SignTicket)
			}
		})
	}
}

// Two fires on the same process-level view but sequential (the duplicate
// arrives after the first finished): the second reads the new pair and
// skips, without touching the lease at all.
func TestLateDuplicateSkips(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			open, _ := b.setup(t)
			now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
			f := &slowFetcher{}
			clk := func() time.Time { return now }
			r1 := &Refresher{Store: open(), WeBank: f, Interval: 20 * time.Minute, Now: clk}
			r2 := &Refresher{Store: open(), WeBank: f, Interval: 20 * time.Minute, Now: clk}
			if out, err := r1.Refresh(context.Background()); err != nil || out != Refreshed {
				t.Fatalf("first: %v %v", out, err)
			}
			if out, err := r2.Refresh(context.Background()); err != nil || out != Skipped {
				t.Fatalf("duplicate: %v %v", out, err)
			}
			if f.tokens.Load() != 1 {
				t.Errorf("%d token fetches", f.tokens.Load())
			}
		})
	}
}

// A refresher whose upstream fails leaves the stored pair as it was, and
// its lease expires so the next run can try again.
func TestFailedRefreshKeepsPairAndReleasesItsSlot(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			open, _ := b.setup(t)
			now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
			old := Pair{AppID: "IDAXXXXX", AccessToken: "tok0", SignTicket: "ticket-tok0",
				TokenExpiresAt: now.Add(3 * time.Minute), TicketExpiresAt: now.Add(3 * time.Minute), FetchedAt: now.Add(-17 * time.Minute)}
			s := open()
			putPair(t, s, old)

			f := &slowFetcher{tokenErr: errors.New("token endpoint down")}
			r := &Refresher{Store: open(), WeBank: f, Interval: 20 * time.Minute, Now: func() time.Time { return now }}
			if _, err := r.Refresh(context.Background()); err == nil {
				t.Fatal("refresh with a failing upstream succeeded")
			}
			if p := storedPair(t, s); *p != old {
				t.Fatalf("a failed token fetch changed the stored pair: %+v", p)
			}
			// The platform's retry, in another process, right away: the
			// failed run's lease does not lock it out.
			f.tokenErr = nil
			r2 := &Refresher{Store: open(), WeBank: f, Interval: 20 * time.Minute, Now: func() time.Time { return now }}
			if out, err := r2.Refresh(context.Background()); err != nil || out != Refreshed {
				t.Fatalf("the retry: %v %v", out, err)
			}
			if f.tokens.Load() != 2 || storedPair(t, s).AccessToken != "tok2" {
				t.Errorf("%d token fetches, want 2", f.tokens.Load())
			}
		})
	}
}

// A lease store that cannot be reached means no fetch: a token fetched
// without arbitration could kill the pair another refresher stores.
func TestLeaseStoreDownMeansNoFetch(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	fake.CreateSecret("tickets")
	fake.CreateSecret("tickets-lease")
	s := mustOpen(t, fake.StoreURL("tickets", "lease=tickets-lease", "attempts=1"))
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	putPair(t, s, Pair{AppID: "IDAXXXXX", AccessToken: "tok0", SignTicket: "ticket-tok0",
		TokenExpiresAt: now.Add(3 * time.Minute), TicketExpiresAt: now.Add(3 * time.Minute), FetchedAt: now.Add(-17 * time.Minute)})
	fake.Inject(awssmtest.Unavailable("PutSecretValue", 0))
	f := &slowFetcher{}
	r := &Refresher{Store: s, WeBank: f, Interval: 20 * time.Minute, Now: func() time.Time { return now }}
	_, err := r.Refresh(context.Background())
	if !errors.Is(err, secretstore.ErrUnavailable) {
		t.Fatalf("Refresh: %v, want the store's ErrUnavailable", err)
	}
	if f.tokens.Load() != 0 {
		t.Errorf("%d token fetches without a lease", f.tokens.Load())
	}
	if p := storedPair(t, s); p.AccessToken != "tok0" {
		t.Error("stored pair changed")
	}
}

// Readers keep serving their cached pair through a store outage (5xx,
// throttling, timeouts) until the pair expires, then answer
// tickets_unavailable; when the store is back they load the new pair.
func TestReaderRidesOutRealStoreOutage(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	fake.CreateSecret("tickets")
	s := mustOpen(t, fake.StoreURL("tickets", "attempts=1", "timeout=200ms"))
	clk := &clock{T: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	putPair(t, s, Pair{AppID: "a", AccessToken: "t", SignTicket: "k",
		TokenExpiresAt: clk.Now().Add(5 * time.Second), TicketExpiresAt: clk.Now().Add(5 * time.Second), FetchedAt: clk.Now()})
	r := &Reader{Store: s, TTL: time.Second, Now: clk.Now}
	ctx := context.Background()
	if p, err := r.Get(ctx); err != nil || p.SignTicket != "k" {
		t.Fatalf("first Get: %v", err)
	}
	faults := []awssmtest.Fault{
		awssmtest.Unavailable("", 0),
		awssmtest.Throttled("", 0),
		awssmtest.Slow("", time.Second, 0),
		{Hangup: true},
	}
	gets := len(fake.Calls("GetSecretValue"))
	for i := range 4 { // 4 s of outage, the pair lives 5 s
		fake.ClearFaults()
		fake.Inject(faults[i%len(faults)])
		clk.Add(time.Second + time.Millisecond)
		if p, err := r.Get(ctx); err != nil || p.SignTicket != "k" {
			t.Fatalf("during outage (%d): %v", i, err)
		}
	}
	if n := len(fake.Calls("GetSecretValue")) - gets; n < 4 {
		t.Errorf("reader tried the store %d times during the outage, want at least once per TTL", n)
	}
	clk.Add(time.Second) // the pair has expired
	_, err := r.Get(ctx)
	if errcode.ErrorCode(err) != errcode.TicketsUnavailable {
		t.Fatalf("after expiry: %v, want tickets_unavailable", err)
	}
	fake.ClearFaults()
	putPair(t, s, Pair{AppID: "a", AccessToken: "t2", SignTicket: "k2",
		TokenExpiresAt: clk.Now().Add(time.Hour), TicketExpiresAt: clk.Now().Add(time.Hour), FetchedAt: clk.Now()})
	if p, err := r.Get(ctx); err != nil || p.SignTicket != "k2" {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestLeaseSlotNamesThePairReplaced(t *testing.T) {
	at := time.Date(2026, 11, 22, 12, 0, 0, 5, time.FixedZone("CST", 8*3600))
	p := &Pair{FetchedAt: at}
	if got := LeaseSlot(p, false); got != "refresh-after-2026-11-22T04:00:00.000000005Z" {
		t.Errorf("slot %q", got)
	}
	if LeaseSlot(p, true) == LeaseSlot(p, false) {
		t.Error("a forced refresh shares the scheduled slot")
	}
	if LeaseSlot(nil, false) != "refresh-after-none" || LeaseSlot(&Pair{}, false) != "refresh-after-none" {
		t.Error("slot for an empty store")
	}
}

// memberStub is another provider's credential that changes on every run
// (as the WeChat token keeper does when the platform renews its token).
type memberStub struct{ n atomic.Int32 }

func (m *memberStub) Renew(ctx context.Context, doc *Document) bool {
	return doc.SetMember("stub", map[string]string{"token": "wx-" + strconv.Itoa(int(m.n.Add(1)))}) == nil
}

// A member-only write (the WeBank pair is fresh) takes the same lease as a
// refresher replacing that pair, so it never writes back a pair another
// process is replacing.
func TestMemberOnlyWriteExcludesPairReplacement(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tickets.json")
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	pair := Pair{AppID: "IDAXXXXX", AccessToken: "tok0", SignTicket: "ticket-tok0",
		TokenExpiresAt: now.Add(time.Hour), TicketExpiresAt: now.Add(time.Hour), FetchedAt: now.Add(-time.Minute)}
	putPair(t, &secretstore.File{Path: path}, pair)

	other := &secretstore.File{Path: path} // another process, mid-replacement of this pair
	sl, _, _ := slot(Document{WeBank: &pair}, false)
	if held, err := other.TryLease(context.Background(), sl, time.Minute); err != nil || !held {
		t.Fatal(held, err)
	}
	r := &Refresher{Store: &secretstore.File{Path: path}, WeBank: &slowFetcher{}, Members: []Member{&memberStub{}},
		Interval: 20 * time.Minute, Now: func() time.Time { return now }}
	if out, err := r.Refresh(context.Background()); err != nil || out != Leased {
		t.Fatalf("member-only write while the pair is being replaced: %v %v", out, err)
	}
	d, _ := ParseDocument(mustGet(t, path))
	var m map[string]string
	if ok, _ := d.Member("stub", &m); ok {
		t.Error("member written under another process's lease")
	}
	// Without contention it writes.
	r.Store = &secretstore.File{Path: filepath.Join(filepath.Dir(path), "other.json")}
	putPair(t, r.Store, pair)
	if out, err := r.Refresh(context.Background()); err != nil || out != Refreshed {
		t.Fatalf("member-only write: %v %v", out, err)
	}
}

func mustGet(t *testing.T, path string) []byte {
	t.Helper()
	b, err := (&secretstore.File{Path: path}).Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
