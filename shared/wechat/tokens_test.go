package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/cardocr/cardocr/shared/upstream"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/tickets/ticketstest"
)

// wxPlatform imitates stable_token: normal mode returns the current token,
// force replaces it.
type wxPlatform struct {
	mu      sync.Mutex
	cur     string
	gen     int
	normal  atomic.Int32
	forced  atomic.Int32
	ttl     time.Duration
	fail    error
	release chan struct{} // when set, calls wait for it
}

func (p *wxPlatform) AppID() string { return "wxapp" }

func (p *wxPlatform) StableToken(ctx context.Context, force bool) (upstream.Credential, error) {
	if p.release != nil {
		<-p.release
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return upstream.Credential{}, p.fail
	}
	if force {
		p.forced.Add(1)
	} else {
		p.normal.Add(1)
	}
	if p.cur == "" || force {
		p.rotateLocked()
	}
	ttl := p.ttl
	if ttl == 0 {
		ttl = 2 * time.Hour
	}
	return upstream.Credential{Value: p.cur, ExpiresIn: ttl}, nil
}

func (p *wxPlatform) rotateLocked() {
	p.gen++
	p.cur = "wxtok-" + strconv.Itoa(p.gen)
}

func (p *wxPlatform) rotate() {
	p.mu.Lock()
	p.rotateLocked()
	p.mu.Unlock()
}

func storedWeChat(t *testing.T, st *memStore) *StoredToken {
	t.Helper()
	b, err := st.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, err := tickets.ParseDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	w, err := StoredTokenOf(d)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestRefresherKeepsWeChatTokenInOneWrite(t *testing.T) {
	ctx := context.Background()
	st := &memStore{Value: []byte(`{"other":{"keep":true}}`)}
	clk := &clock{T: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	wx := &wxPlatform{}
	r := newRefresher(st, wx, clk)

	if out, err := r.Refresh(ctx); err != nil || out != tickets.Refreshed {
		t.Fatalf("first: %v %v", out, err)
	}
	// The attempt record, then the pair and the WeChat token in one write.
	if st.Puts.Load() != 2 {
		t.Fatalf("%d writes, want 2 (the attempt, then pair and WeChat token together)", st.Puts.Load())
	}
	w := storedWeChat(t, st)
	if w == nil || w.AccessToken != "wxtok-1" || w.AppID != "wxapp" || !w.ExpiresAt.After(clk.Now().Add(time.Hour)) {
		t.Fatalf("stored WeChat token: %+v", w)
	}
	// The pair is fresh and the platform hands out the same token: no write.
	clk.Add(5 * time.Minute)
	if out, err := r.Refresh(ctx); err != nil || out != tickets.Skipped {
		t.Fatalf("second: %v %v", out, err)
	}
	if st.Puts.Load() != 2 || wx.normal.Load() != 2 {
		t.Fatalf("writes %d, normal-mode calls %d", st.Puts.Load(), wx.normal.Load())
	}
	// Renewed (or rotated elsewhere): written, pair untouched.
	wx.rotate()
	clk.Add(time.Minute)
	before := storedPair(t, st)
	if out, err := r.Refresh(ctx); err != nil || out != tickets.Refreshed {
		t.Fatalf("third: %v %v", out, err)
	}
	if w := storedWeChat(t, st); w.AccessToken != "wxtok-2" {
		t.Fatalf("renewed token not stored: %+v", w)
	}
	if after := storedPair(t, st); after.AccessToken != before.AccessToken {
		t.Error("the WeChat-only write changed the WeBank pair")
	}
	b, _ := st.Get(ctx)
	var m map[string]json.RawMessage
	json.Unmarshal(b, &m)
	if string(m["other"]) != `{"keep":true}` {
		t.Errorf("other members lost: %s", b)
	}
	if wx.forced.Load() != 0 {
		t.Error("a scheduled refresh forced a WeChat refresh")
	}
	// A WeChat failure never stops the WeBank refresh nor touches the token.
	wx.fail = errors.New("boom")
	clk.Add(15 * time.Minute)
	if out, err := r.Refresh(ctx); err != nil || out != tickets.Refreshed {
		t.Fatalf("with WeChat down: %v %v", out, err)
	}
	if w := storedWeChat(t, st); w.AccessToken != "wxtok-2" {
		t.Errorf("token after a failed fetch: %+v", w)
	}
}

func TestForceWeChatAtMostEvery30s(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	clk := &clock{T: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	wx := &wxPlatform{}
	r := newRefresher(st, wx, clk)
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := keeper(r).Force(ctx); err != nil {
		t.Fatal(err)
	}
	w := storedWeChat(t, st)
	if w.AccessToken != "wxtok-2" || !w.ForcedAt.Equal(clk.Now()) {
		t.Fatalf("after force: %+v", w)
	}
	clk.Add(29 * time.Second)
	if err := keeper(r).Force(ctx); !errors.Is(err, ErrStoredForceTooSoon) {
		t.Fatalf("second force within 30 s: %v", err)
	}
	// The guard is in the store, so another refresher process sees it too.
	r2 := newRefresher(st, wx, clk)
	if err := keeper(r2).Force(ctx); !errors.Is(err, ErrStoredForceTooSoon) {
		t.Fatalf("force from another refresher within 30 s: %v", err)
	}
	// ForcedAt survives normal-mode renewals.
	wx.rotate()
	if _, err := r.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if w := storedWeChat(t, st); w.ForcedAt.IsZero() {
		t.Error("ForcedAt lost on renewal")
	}
	clk.Add(time.Second)
	if err := keeper(r).Force(ctx); err != nil {
		t.Fatalf("30 s later: %v", err)
	}
	if wx.forced.Load() != 2 {
		t.Errorf("forced %d times, want 2", wx.forced.Load())
	}
}

func putWeChat(t *testing.T, st *memStore, tok string, expires time.Time) {
	t.Helper()
	var d tickets.Document
	if err := d.SetMember(Member, &StoredToken{AppID: "wxapp", AccessToken: tok, ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d)
	st.Put(context.Background(), b)
}

func TestTokenReaderCachesUntilFiveMinutesBeforeExpiry(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	clk := &clock{T: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	putWeChat(t, st, "A", clk.Now().Add(time.Hour))
	r := &TokenReader{Store: st, AppID: "wxapp", Now: clk.Now}
	for range 3 {
		if tok, err := r.Current(ctx); err != nil || tok != "A" {
			t.Fatal(tok, err)
		}
	}
	if st.Gets.Load() != 1 {
		t.Fatalf("store read %d times, want 1", st.Gets.Load())
	}
	clk.Add(55*time.Minute + time.Second) // in the last five minutes: reload
	putWeChat(t, st, "B", clk.Now().Add(2*time.Hour))
	if tok, err := r.Current(ctx); err != nil || tok != "B" {
		t.Fatal(tok, err)
	}
	// The refresher has not run: the stored token stays in use while valid,
	// and without Fallback the reader fetches nothing.
	clk.Add(2*time.Hour - 4*time.Minute)
	if tok, err := r.Current(ctx); err != nil || tok != "B" {
		t.Fatal(tok, err)
	}
	clk.Add(5 * time.Minute)
	if _, err := r.Current(ctx); errcode.ErrorCode(err) != errcode.TicketsUnavailable {
		t.Fatalf("expired: %v", err)
	}
	// A token of another app is not used.
	st2 := &memStore{}
	putWeChat(t, st2, "C", clk.Now().Add(time.Hour))
	if _, err := (&TokenReader{Store: st2, AppID: "wxother", Now: clk.Now}).Current(ctx); errcode.ErrorCode(err) != errcode.TicketsUnavailable {
		t.Fatalf("other app: %v", err)
	}
}

func TestTokenReaderEmptyStoreDoesNotFetch(t *testing.T) {
	wx := &wxPlatform{}
	r := &TokenReader{Store: &memStore{}, AppID: "wxapp", Fallback: wx}
	if _, err := r.Current(context.Background()); errcode.ErrorCode(err) != errcode.TicketsUnavailable {
		t.Fatalf("empty store: %v", err)
	}
	if wx.normal.Load()+wx.forced.Load() != 0 {
		t.Error("a reader fetched a token although the refresher never ran")
	}
}

func TestTokenReaderRejectedReloadsOnce(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	clk := &clock{T: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	putWeChat(t, st, "A", clk.Now().Add(time.Hour))
	r := &TokenReader{Store: st, AppID: "wxapp", Now: clk.Now}
	if tok, _ := r.Current(ctx); tok != "A" {
		t.Fatal(tok)
	}
	// Nothing newer stored, no fallback: a retryable tickets_unavailable.
	_, err := r.Rejected(ctx, "A")
	if errcode.ErrorCode(err) != errcode.TicketsUnavailable || !errcode.IsRetryable(err) {
		t.Fatalf("nothing newer: %v", err)
	}
	// The refresher stored another one: the rejection reloads it.
	putWeChat(t, st, "B", clk.Now().Add(time.Hour))
	clk.Add(deadFor)
	if tok, err := r.Rejected(ctx, "A"); err != nil || tok != "B" {
		t.Fatalf("reload: %q %v", tok, err)
	}
	if tok, _ := r.Current(ctx); tok != "B" {
		t.Fatalf("cache after reload: %q", tok)
	}
	// A late rejection of A (a request that started before) costs no load.
	gets := st.Gets.Load()
	if tok, err := r.Rejected(ctx, "A"); err != nil || tok != "B" || st.Gets.Load() != gets {
		t.Fatalf("late rejection: %q %v, %d loads", tok, err, st.Gets.Load()-gets)
	}
}

func TestTokenReaderFallbackIsNormalModeAndShared(t *testing.T) {
	ctx := context.Background()
	st := &memStore{}
	clk := &clock{T: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	wx := &wxPlatform{}
	wx.rotate() // the platform's current token is wxtok-1
	putWeChat(t, st, "wxtok-1", clk.Now().Add(time.Hour))
	r := &TokenReader{Store: st, AppID: "wxapp", Now: clk.Now, Fallback: wx}
	if tok, _ := r.Current(ctx); tok != "wxtok-1" {
		t.Fatal(tok)
	}
	// Rotated elsewhere; the refresher has not run. 40 rejections at once
	// share one store load and one normal-mode call.
	wx.rotate()
	wx.release = make(chan struct{})
	var wg sync.WaitGroup
	got := make(chan string, 40)
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := r.Rejected(ctx, "wxtok-1")
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			got <- tok
		}()
	}
	time.Sleep(10 * time.Millisecond) // let them pile up; correctness does not depend on it
	close(wx.release)
	wg.Wait()
	close(got)
	for tok := range got {
		if tok != "wxtok-2" {
			t.Errorf("got %q", tok)
		}
	}
	if n := wx.normal.Load(); n < 1 || n > 2 {
		t.Errorf("%d normal-mode calls for one rejection", n)
	}
	if wx.forced.Load() != 0 {
		t.Error("a reader forced a refresh")
	}
	// If the platform still hands out the rejected token, the reader says
	// so instead of forcing.
	wx.mu.Lock()
	wx.cur = "wxtok-2"
	wx.mu.Unlock()
	if _, err := r.Rejected(ctx, "wxtok-2"); errcode.ErrorCode(err) != errcode.TicketsUnavailable {
		t.Fatalf("same token from the platform: %v", err)
	}
	if wx.forced.Load() != 0 {
		t.Error("a reader forced a refresh")
	}
	// In its last five minutes, the stored token is replaced ahead of the
	// refresher by a normal-mode call (the platform has renewed by then).
	putWeChat(t, st, "wxtok-2", clk.Now().Add(4*time.Minute))
	r2 := &TokenReader{Store: st, AppID: "wxapp", Now: clk.Now, Fallback: wx}
	wx.rotate()
	if tok, err := r2.Current(ctx); err != nil || tok != "wxtok-3" {
		t.Fatalf("renewal ahead of the refresher: %q %v", tok, err)
	}
}

// The doubles are ticketstest's: the tickets store in memory, a clock, a
// WeBank fetcher.
type (
	memStore = ticketstest.MemStore
	clock    = ticketstest.Clock
)

// newRefresher is the tickets refresher with the WeChat token keeper as its
// member, the way setup wires them.
func newRefresher(st *memStore, wx *wxPlatform, clk *clock) *tickets.Refresher {
	r := &tickets.Refresher{Store: st, WeBank: &ticketstest.Fetcher{}, Interval: 20 * time.Minute, Now: clk.Now}
	r.Members = []tickets.Member{&TokenKeeper{Fetcher: wx, Refresher: r, Now: clk.Now}}
	return r
}

func keeper(r *tickets.Refresher) *TokenKeeper { return r.Members[0].(*TokenKeeper) }

func storedPair(t *testing.T, st *memStore) *tickets.Pair {
	t.Helper()
	b, err := st.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d, err := tickets.ParseDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	return d.WeBank
}
