package ocr

import (
	"context"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

func TestCheckImage(t *testing.T) {
	jpeg := []byte{0xFF, 0xD8, 0xFF, 0xE0}
	png := []byte("\x89PNG\r\n\x1a\n....")
	tests := []struct {
		head  []byte
		size  int64
		limit int64
		want  domain.Code
	}{
		{jpeg, 100, 1000, ""},
		{png, 100, 1000, ""},
		{[]byte("BM\x00\x00\x00\x00"), 100, 1000, ""},
		{jpeg, 1001, 1000, domain.ImageTooLarge},
		{jpeg, 0, 1000, domain.InvalidImage},
		{[]byte("GIF89a"), 100, 1000, domain.InvalidImage},
		{[]byte("%PDF-1.4"), 100, 1000, domain.InvalidImage},
	}
	for _, tt := range tests {
		if got := domain.ErrorCode(CheckImage(tt.head, tt.size, tt.limit)); got != tt.want {
			t.Errorf("CheckImage(%q, %d) = %q, want %q", tt.head, tt.size, got, tt.want)
		}
	}
}

type stubTickets struct{ p tickets.Pair }

func (s stubTickets) Get(context.Context) (tickets.Pair, error) { return s.p, nil }
func (s stubTickets) Invalidate(tickets.Pair)                   {}

type stubWeBank struct {
	WeBank
	answer []byte
}

func (s stubWeBank) SubmitIDCard(context.Context, string, webank.SubmitRequest) (*webank.Fields, error) {
	return webank.ParseFields(s.answer)
}

func BenchmarkSubmitNormalize(b *testing.B) {
	answer := []byte(`{"code":"0","msg":"ok","result":{"orderNo":"o1","name":"某某","sex":"男","nation":"汉","birth":"19491231","address":"某省某市某区某路1号","idcard":"11010519491231002X","warning":"00000000","multiWarning":"01000000","clarity":"64","success":false}}`)
	s := &Service{WeBank: stubWeBank{answer: answer}, Tickets: stubTickets{p: tickets.Pair{SignTicket: "t"}}, Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	img := []byte{0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3}
	req := IDCardRequest{Side: Front, Image: webank.BytesImage(img), Head: img, OrderNo: "o1"}
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.SubmitIDCard(context.Background(), req)
		if err != nil || !*r.Checks.IDNumberValid || len(r.Warnings) != 1 {
			b.Fatal(err)
		}
	}
}
