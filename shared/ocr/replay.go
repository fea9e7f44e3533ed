package ocr

import (
	"context"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/upstream"
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
// past the context's deadline (less a margin to answer in). The last read
// says whether they are still missing.
func queryPhotos[T any](ctx context.Context, s *Service, p Provider, files bool, call func(cred string) (T, error), missing func(T) bool) (T, error) {
	r, err := withCredentials(ctx, s, p, "query", call)
	if err != nil || !files || !missing(r) {
		return r, err
	}
	until := time.Now().Add(s.photoWait())
	if d, ok := ctx.Deadline(); ok && d.Add(-time.Second).Before(until) {
		until = d.Add(-time.Second)
	}
	for delay := 250 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		left := time.Until(until)
		if left <= 0 {
			return r, nil
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			return r, nil
		case <-t.C:
		}
		r2, err := withCredentials(ctx, s, p, "query", call)
		if err != nil {
			return r, nil // the first answer stands; the photos are what is pending
		}
		if r = r2; !missing(r) {
			return r, nil
		}
	}
}

// mayBeRepeat reports whether a failed submit reached the upstream for a
// reason that is not the image's. The documents require a unique orderNo per
// call but do not say how the upstream answers a repeat, so a client that
// retries with its own orderNo may get any code: every such failure is
// checked against the order's stored result instead of trusting a code.
func mayBeRepeat(err error) bool {
	if !upstream.Reached(err) {
		return false // no upstream call was made
	}
	switch errcode.ErrorCode(err) {
	case errcode.RecognitionFailed, errcode.InvalidImage, errcode.ImageTooLarge, errcode.InvalidRequest:
		return false
	}
	return true
}

func conflict(orderNo, what string) error {
	return &errcode.Error{Code: errcode.OrderConflict, OrderNo: orderNo,
		Message: "this orderNo was already used for " + what + "; use a new orderNo for each card and side"}
}

// replayIDCard answers a failed ID card submit under a caller's orderNo
// whose record matched (or was just made) from the order's stored result:
// the same side, processed after the order was claimed → that result,
// replayed; anything else found upstream → order_conflict (the number was
// used upstream before this service recorded it); nothing → the original
// error (nil, nil).
func (s *Service) replayIDCard(ctx context.Context, p Provider, q Querier, r IDCardRequest, o *Order, cause error) (*IDCardResult, error) {
	res, err := s.queryIDCard(ctx, p, q, UpstreamOrderNo(r.Owner, r.OrderNo), false)
	if err == nil {
		res.OrderNo = r.OrderNo
		if res.Side != r.Side || !ourResult(o, res.OrderTime) {
			return nil, conflict(r.OrderNo, "an earlier order upstream")
		}
		if !r.Native {
			res.Card.NativePlace = ""
		}
		res.Replayed = true
		s.logger().InfoContext(ctx, "submit under a used orderNo answered from its stored result", "kind", "idcard", "upstreamCode", errcode.AsError(cause).UpstreamCode)
		return res, nil
	}
	if ctx.Err() != nil || !lookupFoundNothing(err) {
		return nil, nil
	}
	if _, err := s.queryBankCard(ctx, p, q, UpstreamOrderNo(r.Owner, r.OrderNo), false); err == nil {
		return nil, conflict(r.OrderNo, "a bank card")
	}
	return nil, nil
}

// replayBankCard is replayIDCard for bank cards.
func (s *Service) replayBankCard(ctx context.Context, p Provider, q Querier, r BankCardRequest, o *Order, cause error) (*BankCardResult, error) {
	res, err := s.queryBankCard(ctx, p, q, UpstreamOrderNo(r.Owner, r.OrderNo), false)
	if err == nil {
		res.OrderNo = r.OrderNo
		if !ourResult(o, res.OrderTime) {
			return nil, conflict(r.OrderNo, "an earlier order upstream")
		}
		res.Replayed = true
		s.logger().InfoContext(ctx, "submit under a used orderNo answered from its stored result", "kind", "bankcard", "upstreamCode", errcode.AsError(cause).UpstreamCode)
		return res, nil
	}
	if ctx.Err() != nil || !lookupFoundNothing(err) {
		return nil, nil
	}
	if _, err := s.queryIDCard(ctx, p, q, UpstreamOrderNo(r.Owner, r.OrderNo), false); err == nil {
		return nil, conflict(r.OrderNo, "an ID card")
	}
	return nil, nil
}

// replayDoneIDCard answers a retry of a finished order (its record matched
// kind, side and image) from the result its provider keeps, with no
// submit; nil when there is none to read (the provider keeps no results,
// or the query failed): the retry is then submitted again.
func (s *Service) replayDoneIDCard(ctx context.Context, o *Order, r IDCardRequest) *IDCardResult {
	var res *IDCardResult
	if p := s.Providers[o.Provider]; p != nil && !keepsResults(p) {
		res = &IDCardResult{} // the archive's copy, when evidence is on
		if s.archived(ctx, KindIDCard, o, res) != nil {
			return nil
		}
		res.OrderNo, res.Provider, res.FallbackFrom = r.OrderNo, o.Provider, ""
	} else {
		p, q, err := s.querier(o)
		if err != nil {
			return nil
		}
		if res, err = s.queryIDCard(ctx, p, q, UpstreamOrderNo(r.Owner, r.OrderNo), false); err != nil {
			return nil
		}
		res.OrderNo = r.OrderNo
	}
	if res.Side != r.Side {
		return nil
	}
	if !r.Native {
		res.Card.NativePlace = ""
	}
	res.Replayed = true
	s.logger().InfoContext(ctx, "retry of a finished order answered from its stored result", "kind", "idcard")
	return res
}

// replayDoneBankCard is replayDoneIDCard for bank cards.
func (s *Service) replayDoneBankCard(ctx context.Context, o *Order, r BankCardRequest) *BankCardResult {
	var res *BankCardResult
	if p := s.Providers[o.Provider]; p != nil && !keepsResults(p) {
		res = &BankCardResult{}
		if s.archived(ctx, KindBankCard, o, res) != nil {
			return nil
		}
		res.OrderNo, res.Provider, res.FallbackFrom = r.OrderNo, o.Provider, ""
	} else {
		p, q, err := s.querier(o)
		if err != nil {
			return nil
		}
		var qerr error
		if res, qerr = s.queryBankCard(ctx, p, q, UpstreamOrderNo(r.Owner, r.OrderNo), false); qerr != nil {
			return nil
		}
		res.OrderNo = r.OrderNo
	}
	res.Replayed = true
	s.logger().InfoContext(ctx, "retry of a finished order answered from its stored result", "kind", "bankcard")
	return res
}

// lookupFoundNothing: the query answered, and there is no usable result of
// that kind under the number.
func lookupFoundNothing(err error) bool {
	switch errcode.ErrorCode(err) {
	case errcode.NotFound, errcode.RecognitionFailed:
		return true
	}
	return false
}
