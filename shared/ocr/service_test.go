package ocr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ratelimit"
	"github.com/cardocr/cardocr/shared/upstream"
)

// The service with stub providers: what it does with reads, rejections,
// failures and fallbacks, without any network.

const testMaxImage = 15728640

// stub is a provider whose answers the test sets. It records the
// credential of every call.
type stub struct {
	name   string
	limits Limits
	creds  Credentials
	idcard func(cred string, c IDCardCall) (*IDCardRead, error)
	bank   func(cred string, c BankCardCall) (*BankCardRead, error)

	mu    sync.Mutex
	calls []string
}

func (p *stub) Name() string             { return p.name }
func (p *stub) Limits() Limits           { return p.limits }
func (p *stub) Credentials() Credentials { return p.creds }
func (p *stub) record(cred string) {
	p.mu.Lock()
	p.calls = append(p.calls, cred)
	p.mu.Unlock()
}
func (p *stub) n() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.calls) }

func (p *stub) SubmitIDCard(_ context.Context, cred string, c IDCardCall) (*IDCardRead, error) {
	p.record(cred)
	return p.idcard(cred, c)
}
func (p *stub) SubmitBankCard(_ context.Context, cred string, c BankCardCall) (*BankCardRead, error) {
	p.record(cred)
	return p.bank(cred, c)
}

// querying is a stub that keeps results by order number.
type querying struct {
	*stub
	query func(cred, orderNo string) (*IDCardRead, error)
}

func (q *querying) QueryIDCard(_ context.Context, cred, orderNo string, _ bool) (*IDCardRead, error) {
	q.record(cred)
	return q.query(cred, orderNo)
}
func (q *querying) QueryBankCard(_ context.Context, cred, orderNo string, _ bool) (*BankCardRead, error) {
	q.record(cred)
	return nil, &errcode.Error{Code: errcode.NotFound, Err: &upstream.Error{Provider: q.name, Code: "66660020"}}
}

// seqCreds hands out its credentials in turn, one more on each rejection.
type seqCreds struct {
	mu    sync.Mutex
	creds []string
	i     int
}

func (s *seqCreds) Current(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.creds) == 0 {
		return "", errcode.Errorf(errcode.TicketsUnavailable, "none")
	}
	return s.creds[min(s.i, len(s.creds)-1)], nil
}

func (s *seqCreds) Rejected(_ context.Context, cred string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.i++
	if next := s.creds[min(s.i, len(s.creds)-1)]; next != cred {
		return next, nil
	}
	return "", &errcode.Error{Code: errcode.TicketsUnavailable, Retryable: true, Message: "the store has nothing newer"}
}

// Errors as provider packages make them: coded, wrapping an upstream error.
func rejected(code string) error {
	return &errcode.Error{Code: errcode.UpstreamError, UpstreamCode: code,
		Err: &upstream.Error{Provider: "stub", Code: code, CredentialsRejected: true}}
}

func failed(code errcode.Code, upstreamCode string) error {
	return &errcode.Error{Code: code, UpstreamCode: upstreamCode, Err: &upstream.Error{Provider: "stub", Code: upstreamCode}}
}

var (
	frontRead = IDCardRead{Card: IDCard{Name: "某某", Sex: "男", Nation: "汉", Address: "某地", IDNumber: "11010519491231002X"},
		Fields:   cardcheck.IDCardFields{IDNumber: "11010519491231002X", Birth: "19491231", Sex: "男"},
		Warnings: []cardcheck.Warning{cardcheck.WarnPhotocopy}, Clarity: ptr(70)}
	backRead = IDCardRead{Card: IDCard{Authority: "某公安局"}, Fields: cardcheck.IDCardFields{ValidDate: "2020.01.01-长期"}}
)

func ptr(n int) *int { return &n }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// reads answers each side with its read (the side as asked).
func reads(cred string, c IDCardCall) (*IDCardRead, error) {
	r := frontRead
	if c.Side == Back {
		r = backRead
	}
	return &r, nil
}

func newStub(name string) *stub {
	return &stub{name: name, limits: Limits{IDCardImage: testMaxImage, BankCardImage: 2359296}, idcard: reads}
}

func svc(ps ...Provider) *Service {
	return &Service{Providers: ProvidersOf(ps...), Logger: discard(), Now: func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }, PhotoWait: -1}
}

func image() Image {
	return BytesImage(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 1}.JPEG())
}

func TestBothSidesNormalized(t *testing.T) {
	img := image()
	s := svc(newStub("webank"))
	r, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img})
	if err != nil {
		t.Fatal(err)
	}
	if r.Card.IDNumber != "11010519491231002X" || r.Card.BirthDate != "1949-12-31" || !*r.Checks.IDNumberValid || !*r.Checks.BirthDateMatches ||
		len(r.Warnings) != 1 || r.Warnings[0].Code != "photocopy" || *r.Clarity != 70 || !strings.HasPrefix(r.OrderNo, "id") ||
		r.Provider != "webank" || r.Side != Front || r.FallbackFrom != "" {
		t.Errorf("front: %+v", r)
	}
	r, err = s.SubmitIDCard(context.Background(), IDCardRequest{Side: Back, Image: img})
	if err != nil {
		t.Fatal(err)
	}
	if r.Card.Authority != "某公安局" || r.Card.ValidFrom != "2020-01-01" || r.Card.ValidTo != "long-term" || *r.Checks.Expired ||
		r.Card.IDNumber != "" || r.Card.BirthDate != "" {
		t.Errorf("back: %+v", r)
	}
}

// A provider that reads no birth date: it comes from the ID number.
func TestBirthDateFromIDNumber(t *testing.T) {
	img := image()
	p := newStub("wechat")
	p.idcard = func(string, IDCardCall) (*IDCardRead, error) {
		r := frontRead
		r.Fields.Birth = ""
		return &r, nil
	}
	r, err := svc(p).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, Provider: "wechat"})
	if err != nil || r.Card.BirthDate != "1949-12-31" {
		t.Fatalf("%+v %v", r, err)
	}
}

// A provider that detects the side itself and saw the other one: 422,
// counted as a side mismatch.
func TestSideMismatchIsRecognitionFailed(t *testing.T) {
	img := image()
	p := newStub("wechat")
	p.idcard = func(string, IDCardCall) (*IDCardRead, error) { r := backRead; r.Side = Back; return &r, nil }
	s := svc(p)
	s.Metrics = &metrics.Recorder{Logger: discard()}
	_, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, Provider: "wechat"})
	if errcode.ErrorCode(err) != errcode.RecognitionFailed {
		t.Fatalf("%v", err)
	}
	if s.Metrics.Counts()["wechat/"+metrics.OutcomeSideMismatch] != 1 {
		t.Errorf("counts %v", s.Metrics.Counts())
	}
}

// A rejected credential: reload once and retry once with the new one; the
// same credential after the reload is tickets_unavailable (only the
// refresher mends that), with no second call.
func TestRejectedCredentialReloadsAndRetriesOnce(t *testing.T) {
	img := image()
	p := newStub("webank")
	p.idcard = func(cred string, c IDCardCall) (*IDCardRead, error) {
		if cred == "old" {
			return nil, rejected("400101")
		}
		return reads(cred, c)
	}
	p.creds = &seqCreds{creds: []string{"old", "new"}}
	r, err := svc(p).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img})
	if err != nil || r.Card.Name != "某某" || strings.Join(p.calls, ",") != "old,new" {
		t.Fatalf("retry with the reloaded credential: %v, calls %v", err, p.calls)
	}
	p.calls = nil
	p.creds = &seqCreds{creds: []string{"old"}}
	_, err = svc(p).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img})
	if errcode.ErrorCode(err) != errcode.TicketsUnavailable || !errcode.IsRetryable(err) || errcode.AsError(err).UpstreamCode != "400101" {
		t.Fatalf("dead credential: %v", err)
	}
	if strings.Join(p.calls, ",") != "old" {
		t.Errorf("calls %v, want one", p.calls)
	}
	// A failure that is not a rejection is not retried.
	p.calls = nil
	p.creds = &seqCreds{creds: []string{"a", "b"}}
	p.idcard = func(string, IDCardCall) (*IDCardRead, error) { return nil, failed(errcode.UpstreamError, "999999") }
	if _, err := svc(p).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img}); errcode.ErrorCode(err) != errcode.UpstreamError || len(p.calls) != 1 {
		t.Fatalf("%v, calls %v", err, p.calls)
	}
}

// A failed submit carries the order number it used (the caller may fetch
// the result later); a failure before any call does not.
func TestOrderNoOnErrors(t *testing.T) {
	img := image()
	p := newStub("webank")
	p.idcard = func(string, IDCardCall) (*IDCardRead, error) {
		return nil, &errcode.Error{Code: errcode.UpstreamTimeout, Err: &upstream.Error{Provider: "webank", Op: "idcardocrapp"}}
	}
	p.creds = &seqCreds{creds: []string{"t"}}
	_, err := svc(p).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img})
	var de *errcode.Error
	if !errors.As(err, &de) || de.Code != errcode.UpstreamTimeout || !strings.HasPrefix(de.OrderNo, "id") {
		t.Fatalf("after a call: %v", err)
	}
	p.creds = &seqCreds{}
	_, err = svc(p).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img})
	if !errors.As(err, &de) || de.Code != errcode.TicketsUnavailable || de.OrderNo != "" {
		t.Fatalf("before a call: %+v", de)
	}
}

// A repeat under the caller's order number, answered with an unknown code:
// the stored result of the same side is the answer, marked replayed; the
// other side is order_conflict, found from the record before any call.
func TestRepeatIsReplayed(t *testing.T) {
	img := image()
	q := &querying{stub: newStub("webank"), query: func(_, orderNo string) (*IDCardRead, error) {
		r := frontRead
		r.Side = Front
		return &r, nil
	}}
	q.idcard = func(string, IDCardCall) (*IDCardRead, error) { return nil, failed(errcode.UpstreamError, "77770001") }
	s := svc(q)
	s.Orders = newMemOrders()
	r, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, OrderNo: "mine2"})
	if err != nil || !r.Replayed || r.Card.IDNumber != "11010519491231002X" || r.Side != Front || r.Card.BirthDate != "1949-12-31" {
		t.Fatalf("repeat: %+v %v", r, err)
	}
	q.calls = nil
	if _, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Back, Image: img, OrderNo: "mine2"}); errcode.ErrorCode(err) != errcode.OrderConflict || q.n() != 0 {
		t.Fatalf("other side: %v, calls %v", err, q.calls)
	}
	// Without a caller's order number nothing is looked up.
	q.calls = nil
	if _, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img}); errcode.ErrorCode(err) != errcode.UpstreamError || len(q.calls) != 1 {
		t.Fatalf("%v, calls %v", err, q.calls)
	}
	// Without an order store nothing is replayed: the image cannot be
	// compared, so no stored result is ever handed out.
	s.Orders, q.calls = nil, nil
	if _, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, OrderNo: "mine3"}); errcode.ErrorCode(err) != errcode.UpstreamError || len(q.calls) != 1 {
		t.Fatalf("no store: %v, calls %v", err, q.calls)
	}
}

// Input is checked against the chosen provider before any call.
func TestLimitsAndProviderChoice(t *testing.T) {
	img := image()
	a := newStub("webank")
	small := newStub("small")
	small.limits = Limits{IDCardImage: img.Size - 1}
	s := svc(a, small)
	s.Providers["off"] = nil
	for _, tc := range []struct {
		req  IDCardRequest
		want errcode.Code
	}{
		{IDCardRequest{Side: Front, Image: img, Provider: "small"}, errcode.ImageTooLarge},
		{IDCardRequest{Side: Front, Image: img, Provider: "nope"}, errcode.InvalidRequest},
		{IDCardRequest{Side: Front, Image: img, Provider: "off"}, errcode.InvalidRequest},
		{IDCardRequest{Side: Front, ImageURL: "https://example.com/a.jpg"}, errcode.InvalidRequest}, // webank takes no URL
		{IDCardRequest{Side: "left", Image: img}, errcode.InvalidRequest},
	} {
		if _, err := s.SubmitIDCard(context.Background(), tc.req); errcode.ErrorCode(err) != tc.want {
			t.Errorf("%+v: %v, want %s", tc.req.Provider, err, tc.want)
		}
	}
	if a.n()+small.n() != 0 {
		t.Errorf("calls were made for bad input")
	}
	// The bank route takes provider too: one without bank cards is a 400.
	idOnly := newStub("idonly")
	idOnly.limits.BankCardImage = 0
	s.Providers["idonly"] = idOnly
	if _, err := s.SubmitBankCard(context.Background(), BankCardRequest{Image: img, Provider: "idonly"}); errcode.ErrorCode(err) != errcode.InvalidRequest {
		t.Errorf("bank card from an ID-only provider: %v", err)
	}
	if _, err := s.SubmitBankCard(context.Background(), BankCardRequest{Image: img, Provider: "anything"}); errcode.ErrorCode(err) != errcode.InvalidRequest {
		t.Errorf("unknown bank provider: %v", err)
	}
	if s.MaxImage(KindIDCard) != testMaxImage || s.MaxImage(KindBankCard) != 2359296 {
		t.Errorf("max image %d %d", s.MaxImage(KindIDCard), s.MaxImage(KindBankCard))
	}
}

// Fallback: provider trouble moves to the next provider of the chain, and
// the answer names both; the image's trouble never does.
func TestFallback(t *testing.T) {
	img := image()
	for _, tc := range []struct {
		name     string
		err      error
		falls    bool
		wantCode errcode.Code
	}{
		{"upstream error", failed(errcode.UpstreamError, "999999"), true, ""},
		{"timeout", &errcode.Error{Code: errcode.UpstreamTimeout, Err: &upstream.Error{Provider: "a"}}, true, ""},
		{"quota", failed(errcode.QuotaExceeded, "66660003"), true, ""},
		{"dead ticket", rejected("400101"), true, ""},
		{"not recognized", failed(errcode.RecognitionFailed, "66661001"), false, errcode.RecognitionFailed},
		{"bad image", failed(errcode.InvalidImage, "66660015"), false, errcode.InvalidImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newStub("a"), newStub("b")
			a.creds = &seqCreds{creds: []string{"only"}}
			a.idcard = func(string, IDCardCall) (*IDCardRead, error) { return nil, tc.err }
			s := svc(a, b)
			s.Fallback = map[string][]string{KindIDCard: {"a", "b"}}
			s.Metrics = &metrics.Recorder{Logger: discard()}
			r, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img})
			if !tc.falls {
				if errcode.ErrorCode(err) != tc.wantCode || b.n() != 0 {
					t.Fatalf("%v; second provider calls %d", err, b.n())
				}
				return
			}
			if err != nil || r.Provider != "b" || r.FallbackFrom != "a" || r.Card.IDNumber == "" || b.n() != 1 {
				t.Fatalf("%+v %v", r, err)
			}
			if s.Metrics.Counts()["fallback:/a_to_b"] != 1 {
				t.Errorf("fallback not counted: %v", s.Metrics.Counts())
			}
		})
	}
	// The chain's first provider is the default; one asked for by name
	// falls back along the chain after it; the last one has no fallback.
	a, b := newStub("a"), newStub("b")
	a.idcard = func(string, IDCardCall) (*IDCardRead, error) { return nil, failed(errcode.UpstreamError, "1") }
	b.idcard = a.idcard
	s := svc(a, b)
	s.Fallback = map[string][]string{KindIDCard: {"a", "b"}}
	if _, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, Provider: "b"}); errcode.ErrorCode(err) != errcode.UpstreamError || a.n() != 0 {
		t.Fatalf("last of the chain: %v, first called %d times", err, a.n())
	}
	// The default is the chain's first provider that reads the kind: a chain
	// starting with an ID-only provider defaults bank cards to the next.
	idOnly := newStub("idonly")
	idOnly.limits.BankCardImage = 0
	s.Providers["idonly"] = idOnly
	s.Fallback = map[string][]string{KindIDCard: {"idonly", "a"}, KindBankCard: {"idonly", "a"}}
	a.bank = func(string, BankCardCall) (*BankCardRead, error) {
		return &BankCardRead{Number: "6222020000000000000"}, nil
	}
	if r, err := s.SubmitBankCard(context.Background(), BankCardRequest{Image: img}); err != nil || r.Provider != "a" {
		t.Fatalf("bank default with an ID-only first provider: %+v %v", r, err)
	}
	s.Fallback = map[string][]string{KindIDCard: {"a", "b"}}
	// A fallback provider whose limits the image exceeds is skipped.
	b.limits.IDCardImage = 10
	if _, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img}); errcode.ErrorCode(err) != errcode.UpstreamError || b.n() != 1 {
		t.Fatalf("too large for the fallback: %v, calls %d", err, b.n())
	}
}

// recordingPacer lets the first n calls per key through and turns the
// rest away; it records the rates it was asked for.
type recordingPacer struct {
	mu    sync.Mutex
	n     int
	seen  map[string]int
	rates []string
}

func (p *recordingPacer) Wait(_ context.Context, key string, perSecond float64, burst int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[string]int{}
	}
	p.rates = append(p.rates, fmt.Sprintf("%s %g/%d", key, perSecond, burst))
	p.seen[key]++
	if p.seen[key] > p.n {
		return &ratelimit.Limited{Key: key, RetryAfter: 1500 * time.Millisecond}
	}
	return nil
}

// Each instance takes the provider's declared QPS divided by the
// concurrency cap; over it the answer is 429 busy with Retry-After, no
// call is made and nothing falls back (the next provider would bill for a
// moment's congestion).
func TestPacedToTheProvidersShare(t *testing.T) {
	a, b := newStub("a"), newStub("b")
	a.limits.IDCardQPS, a.limits.BankCardQPS = 20, 10
	s := svc(a, b)
	s.Fallback = map[string][]string{KindIDCard: {"a", "b"}}
	pacer := &recordingPacer{n: 1}
	s.Pace, s.ConcurrencyCap = pacer, 10
	ctx := context.Background()
	if _, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: image()}); err != nil {
		t.Fatal(err)
	}
	_, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: image()})
	de := errcode.AsError(err)
	if de.Code != errcode.Busy || de.RetryAfter != 1500*time.Millisecond || a.n() != 1 || b.n() != 0 {
		t.Fatalf("over the share: %v (retry after %s); calls a=%d b=%d", err, de.RetryAfter, a.n(), b.n())
	}
	if want := "a/idcard 2/2"; len(pacer.rates) != 2 || pacer.rates[0] != want {
		t.Errorf("rates asked %v, want %q", pacer.rates, want)
	}
	// A provider declaring no rate (b) is not paced.
	pacer.n = 0
	if _, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: image(), Provider: "b"}); err != nil || b.n() != 1 {
		t.Fatalf("undeclared rate: %v", err)
	}
}

// The real limiter: with a share of one call per second, the second of two
// calls at once waits for its token instead of being turned away.
func TestPacedWaitsForAToken(t *testing.T) {
	a := newStub("a")
	a.limits.IDCardQPS = 1
	s := svc(a)
	now := time.Unix(1e9, 0)
	var slept time.Duration
	s.Pace = &ratelimit.Limiter{Now: func() time.Time { return now }, Sleep: func(_ context.Context, d time.Duration) error { slept += d; return nil }}
	for range 2 {
		if _, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: image(), Provider: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if slept != time.Second || a.n() != 2 {
		t.Fatalf("slept %s, calls %d", slept, a.n())
	}
	if _, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: image(), Provider: "a"}); errcode.ErrorCode(err) != errcode.Busy || a.n() != 2 {
		t.Fatalf("a third at once: %v, calls %d", err, a.n())
	}
}
