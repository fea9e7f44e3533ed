package ocr

import (
	"context"

	"github.com/cardocr/cardocr/shared/sign"
)

// final is what the submit path needs of a result of either kind.
type final[R any] interface {
	comparable
	*R
	finish(from string, fitted *ImageFitted) // the providers that failed first; the image's fitting
	replayed() bool
	answeredBy() string
	number() string
	archived() any // the copy kept as evidence
}

func (r *IDCardResult) finish(from string, fitted *ImageFitted) {
	r.FallbackFrom = from
	if !r.Replayed {
		r.ImageFitted = fitted
	}
}
func (r *IDCardResult) replayed() bool     { return r.Replayed }
func (r *IDCardResult) answeredBy() string { return r.Provider }
func (r *IDCardResult) number() string     { return r.OrderNo }
func (r *IDCardResult) archived() any      { return r.ForArchive() }

func (r *BankCardResult) finish(from string, fitted *ImageFitted) {
	r.FallbackFrom = from
	if !r.Replayed {
		r.ImageFitted = fitted
	}
}
func (r *BankCardResult) replayed() bool     { return r.Replayed }
func (r *BankCardResult) answeredBy() string { return r.Provider }
func (r *BankCardResult) number() string     { return r.OrderNo }
func (r *BankCardResult) archived() any      { return r.ForArchive() }

// order is one checked submission of either kind: what the shared path
// reads of its request.
type order struct {
	kind, side, owner, prefix string
	orderNo                   *string // the request's; filled when the caller gave none
	image                     *Image  // the request's; replaced by its fitted copy
	imageURL                  string
}

// submitOrder is the path both kinds share: the order number (the
// caller's, or one made here), the order's record and its claim (a retry of
// a finished order is answered from it), the fitting, the provider chain,
// the record's outcome, the callback and the evidence. submit makes one
// provider's call; replayDone answers a retry of a finished order, or nil.
func submitOrder[R any, P final[R]](ctx context.Context, s *Service, p Provider, q order,
	replayDone func(prev *Order) P, submit func(ctx context.Context, p Provider, callerOrder bool, o *Order) (P, error)) (P, error) {
	var none P
	callerOrder := *q.orderNo != ""
	if !callerOrder {
		*q.orderNo = sign.OrderNo(q.prefix)
	}
	o, err := s.newOrder(q.kind, q.side, *q.orderNo, *q.image, q.imageURL)
	if err != nil {
		return none, err
	}
	o.Owner = OwnerOf(q.owner)
	prev, err := s.claim(ctx, &o, callerOrder || o.Owner != "")
	if err != nil {
		return none, err
	}
	if prev != nil && prev.State == OrderDone {
		if res := replayDone(prev); res != none {
			return res, nil
		}
	}
	var fitted *ImageFitted
	if *q.image, fitted, err = s.fit(ctx, p, q.kind, *q.image); err != nil {
		s.settle(ctx, o, p.Name(), err)
		s.notify(ctx, q.kind, q.owner, *q.orderNo, nil, err)
		return none, withOrderNo(err, *q.orderNo)
	}
	res, from, err := withFallback(ctx, s, q.kind, p, func(p Provider) bool { return fits(p, q.kind, *q.image, q.imageURL) },
		func(ctx context.Context, p Provider) (P, error) {
			o.Provider = p.Name()
			return submit(ctx, p, callerOrder, &o)
		})
	s.settle(ctx, o, o.Provider, err)
	if err != nil {
		s.notify(ctx, q.kind, q.owner, *q.orderNo, nil, err)
		return none, err
	}
	res.finish(from, fitted)
	if !res.replayed() {
		defer s.notify(ctx, q.kind, q.owner, *q.orderNo, res, nil)
		s.keepEvidence(ctx, s.Providers[res.answeredBy()], q.owner, q.kind, UpstreamOrderNo(q.owner, res.number()), res.archived())
	}
	return res, nil
}

// billedCall makes one submission to p: a unit of the tenant's and the
// deployment's quota taken first (given back when nothing was billed), the
// provider's breaker and rate, one retry after a throttle, one after a
// rejected credential. refused: the quota refused the call, which was not
// made (not counted, nothing to look up).
func billedCall[T any](ctx context.Context, s *Service, p Provider, kind, owner string, limit int, call func(cred string) (T, error)) (read T, refused bool, err error) {
	done, err := s.reserve(ctx, p, kind, owner, limit)
	if err != nil {
		return read, true, err
	}
	err = s.guard(ctx, p, kind, func() (err error) {
		read, err = throttleRetry(ctx, func() (T, error) {
			return withCredentials(ctx, s, p, "submit", call)
		})
		return err
	})
	done(err)
	return read, false, err
}
