package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/tickets/ticketstest"
)

// The doubles are ticketstest's (shared with the providers' token tests).
type (
	memStore    = ticketstest.MemStore
	fakeFetcher = ticketstest.Fetcher
	clock       = ticketstest.Clock
)

func TestRefresherFetchesSkipsAndReplaces(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	f := &fakeFetcher{}
	clk := &clock{T: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	r := &Refresher{Store: st, WeBank: f, Interval: 20 * time.Minute, Now: clk.Now}

	if out, err := r.Refresh(ctx); err != nil || out != Refreshed {
		t.Fatalf("first refresh: %v %v", out, err)
	}
	// A schedule that fires twice: the second run skips.
	if out, err := r.Refresh(ctx); err != nil || out != Skipped {
		t.Fatalf("second refresh: %v %v", out, err)
	}
	// A slightly early timer still refreshes.
	clk.Add(19*time.Minute + 50*time.Second)
	if out, err := r.Refresh(ctx); err != nil || out != Refreshed {
		t.Fatalf("refresh after a cadence: %v %v", out, err)
	}
	if f.Tokens.Load() != 2 || f.Tickets.Load() != 2 {
		t.Errorf("fetches %d/%d", f.Tokens.Load(), f.Tickets.Load())
	}
	doc, err := ParseDocument(st.Value)
	if err != nil || doc.WeBank.AccessToken != "tok2" || doc.WeBank.SignTicket != "ticket-tok2" || doc.WeBank.AppID != "IDAXXXXX" {
		t.Fatalf("stored: %+v %v", doc.WeBank, err)
	}
	if !doc.WeBank.TicketExpiresAt.After(clk.Now().Add(50 * time.Minute)) {
		t.Errorf("ticket expiry %v", doc.WeBank.TicketExpiresAt)
	}
}

func TestRefresherPartialFailures(t *testing.T) {
	ctx := context.Background()
	clk := &clock{T: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	st := &memStore{}
	good := &fakeFetcher{}
	r := &Refresher{Store: st, WeBank: good, Interval: 20 * time.Minute, Now: clk.Now, TicketPatience: 50 * time.Millisecond}
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	stored := func() Document {
		d, err := ParseDocument(st.Value)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	before := *stored().WeBank
	clk.Add(time.Hour)

	// The token endpoint fails: the pair stays, the attempt is marked
	// failed (degraded), and the run says so.
	r.WeBank = &fakeFetcher{TokenErr: errors.New("token endpoint down")}
	if _, err := r.Refresh(ctx); err == nil {
		t.Fatal("refresh with a failing token endpoint succeeded")
	}
	if d := stored(); *d.WeBank != before || d.Refresh == nil || !d.Refresh.Failed || !d.Degraded() {
		t.Fatalf("after a failed token fetch: %+v %+v", d.WeBank, d.Refresh)
	}

	// The ticket endpoint fails after a new token: the token is kept
	// without a ticket, and the next run fetches only the ticket.
	noTicket := &fakeFetcher{TicketErr: errors.New("ticket endpoint down")}
	r.WeBank = noTicket
	if _, err := r.Refresh(ctx); err == nil {
		t.Fatal("refresh with a failing ticket endpoint succeeded")
	}
	d := stored()
	if d.WeBank.SignTicket != "" || !d.WeBank.TicketMissing || d.WeBank.AccessToken != "tok1" || !d.Degraded() || noTicket.Tickets.Load() < 2 {
		t.Fatalf("after a failed ticket fetch: %+v (%d ticket attempts)", d.WeBank, noTicket.Tickets.Load())
	}
	noTicket.TicketErr = nil
	if out, err := r.Refresh(ctx); err != nil || out != Refreshed {
		t.Fatalf("the run after: %v %v", out, err)
	}
	if d := stored(); noTicket.Tokens.Load() != 1 || d.WeBank.SignTicket != "ticket-tok1" || d.Degraded() || d.Refresh != nil {
		t.Fatalf("the next run fetched %d tokens; stored %+v", noTicket.Tokens.Load(), d.WeBank)
	}

	// A store that cannot be read, or that refuses writes: nothing is
	// fetched (a token it could not store would doom the stored one).
	clk.Add(time.Hour)
	for _, fail := range []*memStore{{Fail: errors.New("store down")}, {PutFail: errors.New("read-only")}} {
		st.Fail, st.PutFail = fail.Fail, fail.PutFail
		f := &fakeFetcher{}
		r.WeBank = f
		if _, err := r.Refresh(ctx); err == nil || f.Tokens.Load() != 0 {
			t.Fatalf("refresh with the store failing: %v, %d token fetches", err, f.Tokens.Load())
		}
	}
}

func storePair(t *testing.T, st *memStore, p Pair) {
	b, err := json.Marshal(Document{WeBank: &p})
	if err != nil {
		t.Fatal(err)
	}
	st.Value = b
}

func TestReaderEmptyStoreIsTicketsUnavailable(t *testing.T) {
	r := &Reader{Store: &memStore{}, TTL: time.Second}
	_, err := r.Get(context.Background())
	if errcode.ErrorCode(err) != errcode.TicketsUnavailable {
		t.Fatalf("err = %v", err)
	}
}

func TestReaderSharesOneLoad(t *testing.T) {
	now := time.Now()
	st := &memStore{Delay: 50 * time.Millisecond}
	storePair(t, st, Pair{AppID: "a", AccessToken: "t", SignTicket: "k", TokenExpiresAt: now.Add(time.Hour), TicketExpiresAt: now.Add(time.Hour), FetchedAt: now})
	r := &Reader{Store: st, TTL: time.Minute}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if p, err := r.Get(context.Background()); err != nil || p.SignTicket != "k" {
				t.Errorf("Get: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := st.Gets.Load(); n != 1 {
		t.Errorf("store read %d times, want 1", n)
	}
}

func TestReaderRidesOutStoreOutage(t *testing.T) {
	clk := &clock{T: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	st := &memStore{}
	storePair(t, st, Pair{AppID: "a", AccessToken: "t", SignTicket: "k", TokenExpiresAt: clk.Now().Add(10 * time.Minute), TicketExpiresAt: clk.Now().Add(10 * time.Minute), FetchedAt: clk.Now()})
	r := &Reader{Store: st, TTL: 30 * time.Second, Now: clk.Now}
	ctx := context.Background()
	if _, err := r.Get(ctx); err != nil {
		t.Fatal(err)
	}
	st.Fail = errors.New("throttled")
	for i := 0; i < 15; i++ { // 7.5 minutes of outage: cached pair still good
		clk.Add(30 * time.Second)
		if p, err := r.Get(ctx); err != nil || p.SignTicket != "k" {
			t.Fatalf("during outage at +%ds: %v", (i+1)*30, err)
		}
	}
	clk.Add(5 * time.Minute) // the pair has expired
	if _, err := r.Get(ctx); errcode.ErrorCode(err) != errcode.TicketsUnavailable {
		t.Fatalf("after expiry: %v", err)
	}
	// The store comes back with a new pair.
	st.Fail = nil
	storePair(t, st, Pair{AppID: "a", AccessToken: "t2", SignTicket: "k2", TokenExpiresAt: clk.Now().Add(time.Hour), TicketExpiresAt: clk.Now().Add(time.Hour), FetchedAt: clk.Now()})
	if p, err := r.Get(ctx); err != nil || p.SignTicket != "k2" {
		t.Fatalf("after recovery: %v", err)
	}
}

func TestReaderInvalidateReloadsOnce(t *testing.T) {
	now := time.Now()
	st := &memStore{}
	old := Pair{AppID: "a", AccessToken: "t", SignTicket: "k", TokenExpiresAt: now.Add(time.Hour), TicketExpiresAt: now.Add(time.Hour), FetchedAt: now}
	storePair(t, st, old)
	r := &Reader{Store: st, TTL: time.Hour}
	ctx := context.Background()
	r.Get(ctx)
	storePair(t, st, Pair{AppID: "a", AccessToken: "t2", SignTicket: "k2", TokenExpiresAt: now.Add(time.Hour), TicketExpiresAt: now.Add(time.Hour), FetchedAt: now})
	if p, _ := r.Get(ctx); p.SignTicket != "k" {
		t.Fatal("TTL not honoured")
	}
	r.Invalidate(old)
	r.Invalidate(old)
	if p, _ := r.Get(ctx); p.SignTicket != "k2" {
		t.Fatal("Invalidate did not reload")
	}
	r.Invalidate(old) // stale rejection: the new pair stays
	gets := st.Gets.Load()
	r.Get(ctx)
	if st.Gets.Load() != gets {
		t.Error("a rejection of an older ticket caused a reload")
	}
}

func TestDocumentKeepsExtraMembers(t *testing.T) {
	d, err := ParseDocument([]byte(`{"webank":{"appId":"a","signTicket":"k"},"wechat":{"accessToken":"w"}}`))
	if err != nil {
		t.Fatal(err)
	}
	d.WeBank.SignTicket = "k2"
	b, _ := json.Marshal(d)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	if string(m["wechat"]) != `{"accessToken":"w"}` {
		t.Errorf("extra member lost: %s", b)
	}
	if _, err := ParseDocument([]byte("not json")); err == nil {
		t.Error("bad document accepted")
	}
}

func TestLeaseTTLFollowsTheDeadline(t *testing.T) {
	if got := leaseTTL(context.Background(), 20*time.Minute); got != 5*time.Minute {
		t.Errorf("no deadline: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if got := leaseTTL(ctx, 20*time.Minute); got > 36*time.Second || got < 30*time.Second {
		t.Errorf("30 s deadline: %v", got)
	}
	if got := leaseTTL(context.Background(), 2*time.Second); got != time.Second {
		t.Errorf("short cadence: %v", got)
	}
}
