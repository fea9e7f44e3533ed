package ocr

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/webank"
)

// BankCardRequest is a bank card submission.
type BankCardRequest struct {
	Image   webank.Image
	Head    []byte // the image's first bytes, for the format check
	UserID  string
	OrderNo string // optional; generated when empty
}

// BankCard is the normalized bank card.
type BankCard struct {
	Number    string `json:"number"`
	ValidThru string `json:"validThru,omitempty"` // MM/YYYY
}

// BankCardResult is the API's answer for a bank card.
type BankCardResult struct {
	OrderNo  string                   `json:"orderNo"`
	Card     BankCard                 `json:"card"`
	Warnings []cardcheck.Warning      `json:"warnings"`
	Checks   cardcheck.BankCardChecks `json:"checks"`
	Clarity  *int                     `json:"clarity,omitempty"`
	Upstream json.RawMessage          `json:"upstream,omitempty"`
	Files    map[string]string        `json:"files,omitempty"`
	// FilesPending, Replayed and OrderTime: as in IDCardResult.
	FilesPending bool      `json:"filesPending,omitempty"`
	Replayed     bool      `json:"replayed,omitempty"`
	OrderTime    time.Time `json:"-"`
}

// bankPhotoKeys are the photo members of bank card answers (the legacy
// document spells the original "orginBankcardPhoto").
var bankPhotoKeys = []string{"bankcardNoPhoto", "bankcardCropPhoto", "originBankcardPhoto", "orginBankcardPhoto"}

// ValidateBankCardRequest checks a submission without calling anyone.
func ValidateBankCardRequest(r *BankCardRequest) error {
	if r.OrderNo != "" && !sign.ValidOrderNo(r.OrderNo) {
		return domain.Errorf(domain.InvalidRequest, "orderNo must be 1 to 32 letters or digits")
	}
	if r.UserID != "" && !sign.ValidOrderNo(r.UserID) {
		return domain.Errorf(domain.InvalidRequest, "userId must be 1 to 32 letters or digits")
	}
	return CheckImage(r.Head, r.Image.Size, MaxBankCardImage)
}

// SubmitBankCard recognizes a bank card (api/paas/bankcardocrapp).
func (s *Service) SubmitBankCard(ctx context.Context, r BankCardRequest) (*BankCardResult, error) {
	if err := ValidateBankCardRequest(&r); err != nil {
		return nil, err
	}
	callerOrder := r.OrderNo != ""
	if !callerOrder {
		r.OrderNo = sign.OrderNo("bank")
	}
	f, err := s.withTicket(ctx, "bankcardocrapp", func(ticket string) (*webank.Fields, error) {
		return s.WeBank.SubmitBankCard(ctx, ticket, webank.SubmitRequest{OrderNo: r.OrderNo, UserID: r.UserID, Image: r.Image})
	})
	// Bank card OCR is billed apart from ID cards: its own counter.
	if err == nil || MayHaveReached(err) { // only calls that reached the provider are counted
		s.Metrics.Call(ctx, "webank_bankcard", outcomeOf(err))
	}
	if err != nil {
		if callerOrder && mayBeRepeat(err) {
			if res, rerr := s.replayBankCard(ctx, r, err); res != nil || rerr != nil {
				return res, rerr
			}
		}
		return nil, withOrderNo(err, r.OrderNo)
	}
	return s.bankCardResult(f, r.OrderNo, false), nil
}

// BankCardResult queries a bank card result by order number
// (api/server/getBankCardOcrResult); files adds the photos.
func (s *Service) BankCardResult(ctx context.Context, orderNo string, files bool) (*BankCardResult, error) {
	if !sign.ValidOrderNo(orderNo) {
		return nil, domain.Errorf(domain.InvalidRequest, "orderNo must be 1 to 32 letters or digits")
	}
	query := func(ticket string) (*webank.Fields, error) {
		return s.WeBank.BankCardResult(ctx, ticket, orderNo, files)
	}
	var f *webank.Fields
	var pending bool
	var err error
	if files {
		f, pending, err = s.queryPhotos(ctx, "getBankCardOcrResult", query, bankPhotosMissing)
	} else {
		f, err = s.withTicket(ctx, "getBankCardOcrResult", query)
	}
	if err != nil {
		return nil, asDomain(err)
	}
	res := s.bankCardResult(f, orderNo, files)
	res.FilesPending, res.OrderTime = pending, orderTime(f)
	return res, nil
}

// bankCardResult normalizes either answer. The two spell their fields
// differently: submit answers bankcardNo, bankcardValidDate, warningCode and
// multiWarningCode; the query answers bankCardNo, bankCardValidDate, warnCode
// (and multiWarnCode). Both spellings are read in both cases.
func (s *Service) bankCardResult(f *webank.Fields, orderNo string, files bool) *BankCardResult {
	res := &BankCardResult{OrderNo: orderNo}
	number := f.String("bankcardNo", "bankCardNo", "BankCardNo")
	validThru := f.String("bankcardValidDate", "bankCardValidDate", "BankCardValidDate")
	res.Card.Number, _ = cardcheck.NormalizeCardNumber(number)
	if v, ok := cardcheck.NormalizeValidThru(validThru); ok {
		res.Card.ValidThru = v
	}
	checks, hints := cardcheck.CheckBankCard(number, validThru, s.now())
	res.Checks = checks
	res.Warnings = cardcheck.MergeWarnings(
		cardcheck.MergeBankWarnings(f.String("warningCode"), f.String("multiWarningCode"),
			f.String("warnCode"), f.String("multiWarnCode")),
		hints)
	if res.Warnings == nil {
		res.Warnings = []cardcheck.Warning{}
	}
	res.Clarity = atoiPtr(f.String("clarity"))
	if files {
		res.Files = collectFiles(f, bankPhotoKeys...)
	}
	res.Upstream = f.ResultWithout(bankPhotoKeys...)
	return res
}
