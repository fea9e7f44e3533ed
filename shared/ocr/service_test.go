package ocr

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

// The service with a stub provider: what it does with answers, rejections
// and failures, without any network.

type fakeWeBank struct {
	mu       sync.Mutex
	tickets  []string // tickets the calls were signed with
	answers  map[string][]byte
	rejectTk string // a ticket the stub refuses (code 400101)
	fail     error
}

func (f *fakeWeBank) call(ticket, op string) (*webank.Fields, error) {
	f.mu.Lock()
	f.tickets = append(f.tickets, ticket)
	f.mu.Unlock()
	if ticket == f.rejectTk {
		return nil, &domain.Error{Code: domain.UpstreamError, UpstreamCode: "400101", Err: &webank.APIError{Op: op, Code: "400101", TicketRejected: true}}
	}
	if f.fail != nil {
		return nil, f.fail
	}
	fl, err := webank.ParseFields(f.answers[op])
	if err != nil {
		return nil, err
	}
	if c := fl.TopString("code"); c != "0" { // as the client: any other code is an error
		return nil, &domain.Error{Code: domain.UpstreamError, UpstreamCode: c, Err: &webank.APIError{Op: op, Code: c}}
	}
	return fl, nil
}

func (f *fakeWeBank) SubmitIDCard(_ context.Context, ticket string, r webank.SubmitRequest) (*webank.Fields, error) {
	return f.call(ticket, "idcardocrapp")
}
func (f *fakeWeBank) IDCardResult(_ context.Context, ticket, _ string, _, _ bool) (*webank.Fields, error) {
	return f.call(ticket, "getOcrResult")
}
func (f *fakeWeBank) SubmitBankCard(_ context.Context, ticket string, _ webank.SubmitRequest) (*webank.Fields, error) {
	return f.call(ticket, "bankcardocrapp")
}
func (f *fakeWeBank) BankCardResult(_ context.Context, ticket, _ string, _ bool) (*webank.Fields, error) {
	return f.call(ticket, "getBankCardOcrResult")
}

// seqTickets hands out its pairs in turn, one more on each reload.
type seqTickets struct {
	mu    sync.Mutex
	pairs []string
	i     int
}

func (s *seqTickets) Get(context.Context) (tickets.Pair, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pairs) == 0 {
		return tickets.Pair{}, domain.Errorf(domain.TicketsUnavailable, "none")
	}
	return tickets.Pair{SignTicket: s.pairs[min(s.i, len(s.pairs)-1)]}, nil
}
func (s *seqTickets) Invalidate(tickets.Pair) { s.mu.Lock(); s.i++; s.mu.Unlock() }

var (
	frontAnswer = []byte(`{"code":"0","msg":"ok","result":{"orderNo":"o1","name":"某某","sex":"男","nation":"汉","birth":"19491231","address":"某地","idcard":"11010519491231002X","warning":"01000000","multiWarning":"00000000","clarity":"70"}}`)
	backAnswer  = []byte(`{"code":"0","msg":"ok","result":{"orderNo":"o2","authority":"某公安局","validDate":"20200101-长期","warning":"00000000","clarity":"65"}}`)
)

func svc(wb *fakeWeBank, tk *seqTickets) *Service {
	return &Service{WeBank: wb, Tickets: tk, Now: func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }, PhotoWait: -1}
}

func image() (webank.Image, []byte) {
	b := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 1}.JPEG()
	return webank.BytesImage(b), b
}

func TestBothSidesNormalized(t *testing.T) {
	img, head := image()
	wb := &fakeWeBank{answers: map[string][]byte{"idcardocrapp": frontAnswer}}
	s := svc(wb, &seqTickets{pairs: []string{"t1"}})
	r, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	if r.Card.IDNumber != "11010519491231002X" || r.Card.BirthDate != "1949-12-31" || !*r.Checks.IDNumberValid || !*r.Checks.BirthDateMatches ||
		len(r.Warnings) != 1 || r.Warnings[0].Code != "photocopy" || *r.Clarity != 70 || !strings.HasPrefix(r.OrderNo, "id") {
		t.Errorf("front: %+v", r)
	}
	wb.answers["idcardocrapp"] = backAnswer
	r, err = s.SubmitIDCard(context.Background(), IDCardRequest{Side: Back, Image: img, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	if r.Card.Authority != "某公安局" || r.Card.ValidFrom != "2020-01-01" || r.Card.ValidTo != "long-term" || *r.Checks.Expired || r.Card.IDNumber != "" {
		t.Errorf("back: %+v", r)
	}
}

// A rejected ticket: reload once and retry once with the new one; the same
// ticket after the reload is tickets_unavailable (only the refresher mends
// that), with no second call.
func TestRejectedTicketReloadsAndRetriesOnce(t *testing.T) {
	img, head := image()
	wb := &fakeWeBank{answers: map[string][]byte{"idcardocrapp": frontAnswer}, rejectTk: "old"}
	r, err := svc(wb, &seqTickets{pairs: []string{"old", "new"}}).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, Head: head})
	if err != nil || r.Card.Name != "某某" || strings.Join(wb.tickets, ",") != "old,new" {
		t.Fatalf("retry with the reloaded ticket: %v, calls %v", err, wb.tickets)
	}
	wb.tickets = nil
	_, err = svc(wb, &seqTickets{pairs: []string{"old"}}).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, Head: head, OrderNo: "mine1"})
	if domain.ErrorCode(err) != domain.TicketsUnavailable || !domain.IsRetryable(err) {
		t.Fatalf("dead ticket: %v", err)
	}
	// The lookup of a possible repeat is signed too: refused the same way.
	if n := len(wb.tickets); n < 1 || wb.tickets[0] != "old" {
		t.Errorf("calls %v", wb.tickets)
	}
}

// A failed submit carries the order number it used (the caller may fetch
// the result later); a failure before any call does not.
func TestOrderNoOnErrors(t *testing.T) {
	img, head := image()
	wb := &fakeWeBank{fail: &domain.Error{Code: domain.UpstreamTimeout, Err: &webank.APIError{Op: "idcardocrapp"}}}
	_, err := svc(wb, &seqTickets{pairs: []string{"t"}}).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, Head: head})
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != domain.UpstreamTimeout || !strings.HasPrefix(de.OrderNo, "id") {
		t.Fatalf("after a call: %v", err)
	}
	_, err = svc(wb, &seqTickets{}).SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, Head: head})
	if !errors.As(err, &de) || de.Code != domain.TicketsUnavailable || de.OrderNo != "" {
		t.Fatalf("before a call: %+v", de)
	}
}

// A repeat under the caller's order number, answered with an unknown code:
// the stored result of the same side is the answer, marked replayed.
func TestRepeatIsReplayed(t *testing.T) {
	img, head := image()
	query := []byte(`{"code":"0","msg":"ok","result":{"orderNo":"mine2","frontCode":"0","backCode":"66660020","name":"某某","sex":"男","birth":"19491231","idcard":"11010519491231002X","operateTime":"2026-06-01 08:00:00"}}`)
	wb := &fakeWeBank{answers: map[string][]byte{"getOcrResult": query}}
	s := svc(wb, &seqTickets{pairs: []string{"t"}})
	wb.answers["idcardocrapp"] = []byte(`{"code":"77770001","msg":"订单号重复"}`)
	r, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Front, Image: img, Head: head, OrderNo: "mine2"})
	if err != nil || !r.Replayed || r.Card.IDNumber != "11010519491231002X" || r.Side != Front {
		t.Fatalf("repeat: %+v %v", r, err)
	}
	if _, err := s.SubmitIDCard(context.Background(), IDCardRequest{Side: Back, Image: img, Head: head, OrderNo: "mine2"}); domain.ErrorCode(err) != domain.OrderConflict {
		t.Fatalf("other side: %v", err)
	}
}
