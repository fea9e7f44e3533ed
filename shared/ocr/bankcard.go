package ocr

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/sign"
)

// BankCardRequest is a bank card submission.
type BankCardRequest struct {
	Image    Image
	UserID   string
	OrderNo  string // optional; generated when empty
	Provider string // "" = the default
	ImageURL string // for providers that take URLs
	Owner    string // the tenant making the order ("" before tenants)
	Quota    int    // the tenant's daily quota of billable calls (0: none)
}

// BankCard is the normalized bank card.
type BankCard struct {
	Number    string `json:"number"`
	ValidThru string `json:"validThru,omitempty"` // MM/YYYY
}

// BankCardResult is the API's answer for a bank card.
type BankCardResult struct {
	OrderNo  string                   `json:"orderNo"`
	Provider string                   `json:"provider"`
	Card     BankCard                 `json:"card"`
	Warnings []cardcheck.Warning      `json:"warnings"`
	Checks   cardcheck.BankCardChecks `json:"checks"`
	Clarity  *int                     `json:"clarity,omitempty"`
	Upstream json.RawMessage          `json:"upstream,omitempty"`
	Files    map[string]Photo         `json:"files,omitempty"`
	// FallbackFrom, FilesPending, Replayed and OrderTime: as in IDCardResult.
	FallbackFrom string       `json:"fallbackFrom,omitempty"`
	FilesPending bool         `json:"filesPending,omitempty"`
	Replayed     bool         `json:"replayed,omitempty"`
	ImageFitted  *ImageFitted `json:"imageFitted,omitempty"`
	OrderTime    time.Time    `json:"-"`
}

// ValidateBankCardRequest checks a submission without calling anyone.
func (s *Service) ValidateBankCardRequest(r *BankCardRequest) error {
	_, err := s.checkBankCard(r)
	return err
}

func (s *Service) checkBankCard(r *BankCardRequest) (Provider, error) {
	if err := checkIDs(r.OrderNo, r.UserID); err != nil {
		return nil, err
	}
	p, err := s.provider(KindBankCard, r.Provider)
	if err != nil {
		return nil, err
	}
	r.Provider = p.Name()
	return p, checkInput(p, KindBankCard, r.Image, r.ImageURL, s.fitMax())
}

// SubmitBankCard recognizes a bank card.
func (s *Service) SubmitBankCard(ctx context.Context, r BankCardRequest) (*BankCardResult, error) {
	p, err := s.checkBankCard(&r)
	if err != nil {
		return nil, err
	}
	return submitOrder(ctx, s, p, order{kind: KindBankCard, owner: r.Owner, prefix: "bank",
		orderNo: &r.OrderNo, image: &r.Image, imageURL: r.ImageURL},
		func(prev *Order) *BankCardResult { return s.replayDoneBankCard(ctx, prev, r) },
		func(ctx context.Context, p Provider, callerOrder bool, o *Order) (*BankCardResult, error) {
			return s.submitBankCard(ctx, p, r, callerOrder, o)
		})
}

func (s *Service) submitBankCard(ctx context.Context, p Provider, r BankCardRequest, callerOrder bool, o *Order) (*BankCardResult, error) {
	call := BankCardCall{OrderNo: UpstreamOrderNo(r.Owner, r.OrderNo), UserID: UpstreamUserID(r.UserID), Image: r.Image, Format: ImageKind(r.Image.Head)}
	read, refused, err := billedCall(ctx, s, p, KindBankCard, r.Owner, r.Quota, func(cred string) (*BankCardRead, error) {
		return p.SubmitBankCard(ctx, cred, call)
	})
	if refused {
		return nil, err
	}
	s.count(ctx, counter(p, KindBankCard), err)
	if err != nil {
		if q, ok := p.(Querier); ok && callerOrder && s.Orders != nil && mayBeRepeat(err) {
			if res, rerr := s.replayBankCard(ctx, p, q, r, o, err); res != nil || rerr != nil {
				return res, rerr
			}
		}
		return nil, withOrderNo(err, r.OrderNo)
	}
	res := s.bankCardResult(read, r.OrderNo, p)
	res.Files, res.FilesPending, res.OrderTime = nil, false, time.Time{}
	return res, nil
}

// BankCardResult queries a bank card result by order number; files adds
// the photos. As IDCardResult, only the provider that made the order is
// asked.
func (s *Service) BankCardResult(ctx context.Context, q ResultQuery) (*BankCardResult, error) {
	if !sign.ValidOrderNo(q.OrderNo) {
		return nil, errcode.Errorf(errcode.InvalidRequest, "orderNo must be 1 to 32 letters or digits")
	}
	o, err := s.lookup(ctx, KindBankCard, q)
	if err != nil {
		return nil, err
	}
	if o != nil && o.Provider != "" && !keepsResults(s.Providers[o.Provider]) {
		// Made by a provider that keeps no results, or one this function
		// does not link (the result functions link only those that do).
		res := &BankCardResult{}
		if err := s.archived(ctx, KindBankCard, o, res); err != nil {
			return nil, err
		}
		res.OrderNo, res.Provider, res.FallbackFrom, res.Replayed = q.OrderNo, o.Provider, "", false
		return res, nil
	}
	p, qr, err := s.querier(o)
	if err != nil {
		return nil, err
	}
	res, err := s.queryBankCard(ctx, p, qr, UpstreamOrderNo(q.Owner, q.OrderNo), q.Files)
	if err != nil {
		return nil, err
	}
	res.OrderNo = q.OrderNo
	return res, nil
}

func (s *Service) queryBankCard(ctx context.Context, p Provider, q Querier, orderNo string, files bool) (*BankCardResult, error) {
	read, err := queryPhotos(ctx, s, p, files, func(cred string) (*BankCardRead, error) {
		return q.QueryBankCard(ctx, cred, orderNo, files)
	}, func(r *BankCardRead) bool { return r.PhotosMissing })
	if err != nil {
		return nil, asDomain(err)
	}
	res := s.bankCardResult(read, orderNo, p)
	if !files {
		res.Files, res.FilesPending = nil, false
	}
	return res, nil
}

// bankCardResult normalizes and checks what the provider read.
func (s *Service) bankCardResult(read *BankCardRead, orderNo string, p Provider) *BankCardResult {
	res := &BankCardResult{OrderNo: orderNo, Provider: p.Name(), Clarity: read.Clarity, Upstream: read.Upstream,
		Files: read.Files, FilesPending: read.PhotosMissing, OrderTime: read.OrderTime}
	res.Card.Number, _ = cardcheck.NormalizeCardNumber(read.Number)
	if v, ok := cardcheck.NormalizeValidThru(read.ValidThru); ok {
		res.Card.ValidThru = v
	}
	checks, hints := cardcheck.CheckBankCard(read.Number, read.ValidThru, s.now())
	res.Checks = checks
	res.Warnings = cardcheck.MergeWarnings(read.Warnings, hints)
	if res.Warnings == nil {
		res.Warnings = []cardcheck.Warning{}
	}
	return res
}
