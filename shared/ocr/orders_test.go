package ocr

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/upstream"
)

// memOrders is an in-memory Orders with the store's contract: Claim is a
// conditional create (one winner), records are copied in and out. The
// archive backends pass the same contract on real files and the S3 and COS
// fakes (package archive's tests).
type memOrders struct {
	mu   sync.Mutex
	m    map[string]Order
	fail error
}

func newMemOrders() *memOrders { return &memOrders{m: map[string]Order{}} }

func (s *memOrders) Claim(_ context.Context, o Order) (*Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	if prev, ok := s.m[o.Owner+"/"+o.OrderNo]; ok {
		return &prev, nil
	}
	s.m[o.Owner+"/"+o.OrderNo] = o
	return nil, nil
}

func (s *memOrders) Order(_ context.Context, owner, no string) (*Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	if o, ok := s.m[owner+"/"+no]; ok {
		return &o, nil
	}
	return nil, nil
}

func (s *memOrders) SaveOrder(_ context.Context, o Order) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.m[o.Owner+"/"+o.OrderNo] = o
	return nil
}

// people is a WeBank-like stub: it keeps what it read under each order
// number (the person is the image's), answers a repeat with a duplicate
// code, and its queries return the kept read with the time it was made.
type people struct {
	*stub
	mu    sync.Mutex
	kept  map[string]IDCardRead
	bank  map[string]BankCardRead
	at    map[string]time.Time
	now   time.Time
	dup   string
	query int
}

func newPeople() *people {
	p := &people{stub: newStub("webank"), kept: map[string]IDCardRead{}, bank: map[string]BankCardRead{}, at: map[string]time.Time{},
		now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), dup: "66660000"}
	p.idcard = func(_ string, c IDCardCall) (*IDCardRead, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, used := p.kept[c.OrderNo]; used {
			return nil, failed(errcode.UpstreamError, p.dup)
		}
		r := frontRead
		r.Card.Name = string(c.Image.Head[len(c.Image.Head)-7:]) // the person is the image
		r.Side = c.Side
		p.kept[c.OrderNo], p.at[c.OrderNo] = r, p.now
		return &r, nil
	}
	p.stub.bank = func(_ string, c BankCardCall) (*BankCardRead, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, used := p.bank[c.OrderNo]; used {
			return nil, failed(errcode.UpstreamError, p.dup)
		}
		r := BankCardRead{Number: "6222020200112233445"}
		p.bank[c.OrderNo], p.at[c.OrderNo] = r, p.now
		return &r, nil
	}
	return p
}

func (p *people) QueryIDCard(_ context.Context, _, orderNo string, _ bool) (*IDCardRead, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.query++
	r, ok := p.kept[orderNo]
	if !ok {
		return nil, &errcode.Error{Code: errcode.NotFound, Err: &upstream.Error{Provider: "webank", Code: "66660020"}}
	}
	r.OrderTime = p.at[orderNo]
	return &r, nil
}

func (p *people) QueryBankCard(_ context.Context, _, orderNo string, _ bool) (*BankCardRead, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.query++
	r, ok := p.bank[orderNo]
	if !ok {
		return nil, &errcode.Error{Code: errcode.NotFound, Err: &upstream.Error{Provider: "webank", Code: "66660020"}}
	}
	r.OrderTime = p.at[orderNo]
	return &r, nil
}

func personImage(seed int64, side string) Image {
	b := emulator.CardSpec{Kind: emulator.KindIDCard, Side: side, Seed: seed}.JPEG()
	return BytesImage(append(b, []byte("person"+string(rune('A'+int(seed))))...)) // a tail names the person
}

// The conflict rule (Stripe's for idempotency keys): one order number,
// one kind, one side, one image. A retry with the same content is
// answered from the stored result; anything else is order_conflict found
// from the record, with no upstream call.
func TestRepeatedOrderNoIsDecidedFromTheRecord(t *testing.T) {
	a, b := personImage(1, emulator.SideFront), personImage(2, emulator.SideFront)
	aBack := personImage(1, emulator.SideBack)
	bank := BytesImage(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 1}.JPEG())
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		second  func(s *Service) error
		replay  bool
		calls   int // upstream submits and queries for the second request
		conflic bool
	}{
		{"same image, same side: replayed from the stored result", func(s *Service) error {
			r, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: a, OrderNo: "order1"})
			if err == nil && (!r.Replayed || r.Card.Name != "personB") {
				return errors.New("not the replayed first result: " + r.Card.Name)
			}
			return err
		}, true, 1, false},
		{"another person's photo", func(s *Service) error {
			_, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: b, OrderNo: "order1"})
			return err
		}, false, 0, true},
		{"the other side", func(s *Service) error {
			_, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Back, Image: aBack, OrderNo: "order1"})
			return err
		}, false, 0, true},
		{"a bank card", func(s *Service) error {
			_, err := s.SubmitBankCard(ctx, BankCardRequest{Image: bank, OrderNo: "order1"})
			return err
		}, false, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPeople()
			s := svc(p)
			s.Orders = newMemOrders()
			first, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: a, OrderNo: "order1"})
			if err != nil || first.Replayed {
				t.Fatalf("first: %+v %v", first, err)
			}
			p.calls, p.query = nil, 0
			err = tc.second(s)
			if tc.conflic {
				if errcode.ErrorCode(err) != errcode.OrderConflict {
					t.Fatalf("want order_conflict, got %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if n := p.n() + p.query; n != tc.calls {
				t.Errorf("upstream calls %d (submits %d), want %d", n, p.n(), tc.calls)
			}
		})
	}
}

// A bank card's number, reused for another image or an ID card: the same.
func TestRepeatedBankOrderNo(t *testing.T) {
	ctx := context.Background()
	p := newPeople()
	s := svc(p)
	s.Orders = newMemOrders()
	one := BytesImage(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 1}.JPEG())
	two := BytesImage(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 2}.JPEG())
	if _, err := s.SubmitBankCard(ctx, BankCardRequest{Image: one, OrderNo: "bank1"}); err != nil {
		t.Fatal(err)
	}
	p.calls = nil
	if r, err := s.SubmitBankCard(ctx, BankCardRequest{Image: one, OrderNo: "bank1"}); err != nil || !r.Replayed || p.n() != 0 {
		t.Fatalf("retry: %+v %v, submits %d", r, err, p.n())
	}
	for name, err := range map[string]error{
		"other image": func() error {
			_, err := s.SubmitBankCard(ctx, BankCardRequest{Image: two, OrderNo: "bank1"})
			return err
		}(),
		"ID card": func() error {
			_, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: two, OrderNo: "bank1"})
			return err
		}(),
	} {
		if errcode.ErrorCode(err) != errcode.OrderConflict {
			t.Errorf("%s: %v", name, err)
		}
	}
	if p.n() != 0 {
		t.Errorf("conflicts made %d submits", p.n())
	}
}

// An order number used upstream before this service recorded it (another
// deployment, or orders made before records existed): the upstream's
// result is someone else's, so the answer is order_conflict, not a replay.
func TestNumberUsedUpstreamBeforeTheRecord(t *testing.T) {
	ctx := context.Background()
	p := newPeople()
	kept := frontRead
	kept.Side = Front
	p.kept["old1"], p.at["old1"] = kept, p.now.Add(-24*time.Hour)
	s := svc(p)
	s.Orders = newMemOrders()
	_, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: personImage(3, emulator.SideFront), OrderNo: "old1"})
	if errcode.ErrorCode(err) != errcode.OrderConflict {
		t.Fatalf("want order_conflict, got %v", err)
	}
	// A timeout whose submit did go through is the caller's own result.
	p.kept["mine1"], p.at["mine1"] = kept, p.now
	r, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: personImage(3, emulator.SideFront), OrderNo: "mine1"})
	if err != nil || !r.Replayed {
		t.Fatalf("own result: %+v %v", r, err)
	}
}

// Erased orders: the number cannot be reused, and queries answer erased.
// An unreachable store sends nothing upstream.
func TestErasedAndUnreachableRecords(t *testing.T) {
	ctx := context.Background()
	p := newPeople()
	s := svc(p)
	orders := newMemOrders()
	s.Orders = orders
	img := personImage(4, emulator.SideFront)
	if _, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: img, OrderNo: "gone1"}); err != nil {
		t.Fatal(err)
	}
	orders.SaveOrder(ctx, Order{OrderNo: "gone1", Kind: KindIDCard, State: OrderErased})
	p.calls, p.query = nil, 0
	if _, err := s.IDCardResult(ctx, ResultQuery{OrderNo: "gone1"}); errcode.ErrorCode(err) != errcode.Erased {
		t.Errorf("query of an erased order: %v", err)
	}
	if _, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: img, OrderNo: "gone1"}); errcode.ErrorCode(err) != errcode.OrderConflict {
		t.Errorf("submit under an erased number: %v", err)
	}
	if p.n()+p.query != 0 {
		t.Errorf("upstream calls for an erased order: %d", p.n()+p.query)
	}
	// A bank query of an ID card order is no result, not the ID card.
	if _, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: img, OrderNo: "id5"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.BankCardResult(ctx, ResultQuery{OrderNo: "id5"}); errcode.ErrorCode(err) != errcode.NotFound {
		t.Errorf("bank query of an ID order: %v", err)
	}
	orders.fail = errors.New("store down")
	p.calls = nil
	_, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: img, OrderNo: "down1"})
	if errcode.ErrorCode(err) != errcode.StoreUnavailable || !errcode.IsRetryable(err) || p.n() != 0 {
		t.Errorf("store down: %v, submits %d", err, p.n())
	}
}

// A query goes to the provider that made the order; one without a result
// API is a 404 that names it, and WeBank is never asked.
func TestQueryAsksTheProviderThatMadeTheOrder(t *testing.T) {
	ctx := context.Background()
	wb := newPeople()
	tc := newStub("tencentcloud")
	s := svc(wb, tc)
	s.Orders = newMemOrders()
	r, err := s.SubmitIDCard(ctx, IDCardRequest{Side: Front, Image: personImage(5, emulator.SideFront), Provider: "tencentcloud"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.IDCardResult(ctx, ResultQuery{OrderNo: r.OrderNo})
	if errcode.ErrorCode(err) != errcode.NotFound || !errors.Is(err, errNoQuerier) || wb.query != 0 {
		t.Fatalf("query of a tencentcloud order: %v, webank queries %d", err, wb.query)
	}
}
