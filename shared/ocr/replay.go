package ocr

import (
	"context"
	"errors"
	"time"

	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/webank"
)

// Late photos and repeated order numbers: two places where time and the
// documents' silences meet.

// DefaultPhotoWait bounds how long a result query that asked for the photos
// re-queries while they are missing: the documents say they may come "about
// one second" late ("部分情况下获取照片会有1秒左右的延迟").
const DefaultPhotoWait = 3 * time.Second

func (s *Service) photoWait() time.Duration {
	switch {
	case s.PhotoWait < 0:
		return 0
	case s.PhotoWait == 0:
		return DefaultPhotoWait
	}
	return s.PhotoWait
}

// queryPhotos runs a result query; when the photos it asked for are missing
// it queries again with a short backoff, for at most PhotoWait and never
// past the context's deadline (less a margin to answer in). pending reports
// that they are still missing.
func (s *Service) queryPhotos(ctx context.Context, op string, call func(ticket string) (*webank.Fields, error), missing func(*webank.Fields) bool) (f *webank.Fields, pending bool, err error) {
	f, err = s.withTicket(ctx, op, call)
	if err != nil || !missing(f) {
		return f, false, err
	}
	until := time.Now().Add(s.photoWait())
	if d, ok := ctx.Deadline(); ok && d.Add(-time.Second).Before(until) {
		until = d.Add(-time.Second)
	}
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		left := time.Until(until)
		if left <= 0 {
			return f, true, nil
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return f, true, nil
		case <-t.C:
		}
		f2, err := s.withTicket(ctx, op, call)
		if err != nil {
			return f, true, nil // the first answer stands; the photos are what is pending
		}
		if f = f2; !missing(f) {
			return f, false, nil
		}
	}
}

// idPhotosMissing: each recognized side's photo is what get_file=1 asks for.
func idPhotosMissing(f *webank.Fields) bool {
	return f.String("frontCode") == "0" && f.String("frontPhoto") == "" ||
		f.String("backCode") == "0" && f.String("backPhoto") == ""
}

// bankPhotosMissing: the card photo (original or crop; the number strip
// alone is not the evidence).
func bankPhotosMissing(f *webank.Fields) bool {
	return f.String("originBankcardPhoto", "orginBankcardPhoto", "bankcardCropPhoto") == ""
}

// mayBeRepeat reports whether a failed submit reached the upstream for a
// reason that is not the image's. The documents require a unique orderNo per
// call but do not say how the upstream answers a repeat, so a client that
// retries with its own orderNo may get any code: every such failure is
// checked against the order's stored result instead of trusting a code.
func mayBeRepeat(err error) bool {
	var ae *webank.APIError
	if !errors.As(err, &ae) {
		return false // no upstream call was made
	}
	switch domain.ErrorCode(err) {
	case domain.RecognitionFailed, domain.InvalidImage, domain.ImageTooLarge, domain.InvalidRequest:
		return false
	}
	return true
}

func conflict(orderNo, what string) error {
	return &domain.Error{Code: domain.OrderConflict, OrderNo: orderNo,
		Message: "this orderNo was already used for " + what + "; use a new orderNo for each card and side"}
}

// replayIDCard answers a failed ID card submit under a caller's orderNo
// from the order's stored result: the same side → that result, replayed;
// another side or a bank card → order_conflict; nothing → the original
// error (nil, nil).
func (s *Service) replayIDCard(ctx context.Context, r IDCardRequest, cause error) (*IDCardResult, error) {
	res, err := s.IDCardResult(ctx, r.OrderNo, false)
	if err == nil {
		if res.Side != r.Side {
			return nil, conflict(r.OrderNo, "the other side of an ID card")
		}
		if !r.Native {
			res.Card.NativePlace = ""
		}
		res.Replayed = true
		s.logger().InfoContext(ctx, "submit under a used orderNo answered from its stored result", "kind", "idcard", "upstreamCode", domain.AsError(cause).UpstreamCode)
		return res, nil
	}
	if ctx.Err() != nil || !lookupFoundNothing(err) {
		return nil, nil
	}
	if _, err := s.BankCardResult(ctx, r.OrderNo, false); err == nil {
		return nil, conflict(r.OrderNo, "a bank card")
	}
	return nil, nil
}

// replayBankCard is replayIDCard for bank cards.
func (s *Service) replayBankCard(ctx context.Context, r BankCardRequest, cause error) (*BankCardResult, error) {
	res, err := s.BankCardResult(ctx, r.OrderNo, false)
	if err == nil {
		res.Replayed = true
		s.logger().InfoContext(ctx, "submit under a used orderNo answered from its stored result", "kind", "bankcard", "upstreamCode", domain.AsError(cause).UpstreamCode)
		return res, nil
	}
	if ctx.Err() != nil || !lookupFoundNothing(err) {
		return nil, nil
	}
	if _, err := s.IDCardResult(ctx, r.OrderNo, false); err == nil {
		return nil, conflict(r.OrderNo, "an ID card")
	}
	return nil, nil
}

// lookupFoundNothing: the query answered, and there is no usable result of
// that kind under the number.
func lookupFoundNothing(err error) bool {
	switch domain.ErrorCode(err) {
	case domain.NotFound, domain.RecognitionFailed:
		return true
	}
	return false
}

// orderTime is when the upstream says the order was processed
// (operateTime, China time); zero when it does not say.
func orderTime(f *webank.Fields) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", f.String("operateTime"), cst)
	if err != nil {
		return time.Time{}
	}
	return t
}

var cst = time.FixedZone("CST", 8*3600)

// MayHaveReached reports whether a failed submission may have reached the
// upstream (and so used up its order number, or been billed). It is false
// only when it provably did not: no ticket was there to sign with, the
// image could not be read, the connection was never made.
func MayHaveReached(err error) bool {
	var ae *webank.APIError
	if !errors.As(err, &ae) {
		return false // failed before any upstream call (tickets, checks)
	}
	return !ae.NotSent
}
