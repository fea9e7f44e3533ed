// Package ocr is the card OCR service: it checks input before any upstream
// call, signs with the stored SIGN ticket (reloading it once when the
// upstream rejects it), calls the provider, and normalizes and checks what
// comes back.
package ocr

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

// WeBank is the part of the WeBank client the service uses.
type WeBank interface {
	SubmitIDCard(ctx context.Context, ticket string, r webank.SubmitRequest) (*webank.Fields, error)
	IDCardResult(ctx context.Context, ticket, orderNo string, files, native bool) (*webank.Fields, error)
	SubmitBankCard(ctx context.Context, ticket string, r webank.SubmitRequest) (*webank.Fields, error)
	BankCardResult(ctx context.Context, ticket, orderNo string, files bool) (*webank.Fields, error)
}

// Tickets hands out the stored pair (a *tickets.Reader).
type Tickets interface {
	Get(ctx context.Context) (tickets.Pair, error)
	Invalidate(rejected tickets.Pair)
}

// Service runs OCR requests.
type Service struct {
	WeBank  WeBank
	Tickets Tickets
	WeChat  *WeChatProvider   // nil: provider "wechat" is not configured (wechat.go)
	Metrics *metrics.Recorder // daily call counters in the logs; nil: none
	// PhotoWait bounds the re-queries of a result query whose photos are
	// late [DefaultPhotoWait]; negative: no re-query.
	PhotoWait time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// withTicket runs call with the current SIGN ticket; when the upstream
// rejects the credentials it reloads the pair from the store and, if the
// store holds another ticket by now, retries once. Rejected calls are not
// billed, so the retry costs nothing.
func (s *Service) withTicket(ctx context.Context, op string, call func(ticket string) (*webank.Fields, error)) (*webank.Fields, error) {
	p, err := s.Tickets.Get(ctx)
	if err != nil {
		return nil, err
	}
	f, err := call(p.SignTicket)
	var ae *webank.APIError
	if err == nil || !errors.As(err, &ae) || !ae.TicketRejected {
		return f, err
	}
	s.Tickets.Invalidate(p)
	p2, gerr := s.Tickets.Get(ctx)
	if gerr != nil {
		return nil, gerr
	}
	if p2.SignTicket == p.SignTicket {
		// The stored pair is dead (a token fetched elsewhere, a rotated
		// secret): only the refresher can mend that.
		s.logger().WarnContext(ctx, "upstream rejected the stored ticket and the store has no newer one", "op", op, "upstreamCode", ae.Code)
		return nil, &domain.Error{Code: domain.TicketsUnavailable, Message: "the upstream rejected the stored ticket; the refresher has not replaced it yet",
			UpstreamCode: ae.Code, Retryable: true, Err: err}
	}
	s.logger().InfoContext(ctx, "upstream rejected the ticket; retrying once with the reloaded one", "op", op, "upstreamCode", ae.Code)
	return call(p2.SignTicket)
}

// withOrderNo records on a failed upstream call's error the order number it was
// made under (see domain.Error.OrderNo).
func withOrderNo(err error, orderNo string) error {
	err = asDomain(err)
	var de *domain.Error
	if errors.As(err, &de) && de.Code != domain.TicketsUnavailable { // no call took effect then
		de.OrderNo = orderNo
	}
	return err
}

// ticketsErr makes sure a tickets failure surfaces with its code.
func asDomain(err error) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	return domain.Wrap(domain.Internal, err, "internal error")
}
