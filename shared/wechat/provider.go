package wechat

import (
	"context"
	"errors"
	"github.com/cardocr/cardocr/shared/upstream"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ocr"
)

// Name is the provider's name in requests and answers.
const Name = "wechat"

// Provider is WeChat's cv/ocr/idcard as an ocr.Provider: ID cards only, an
// uploaded image or an https URL WeChat downloads. WeChat tells the side
// itself; the service refuses a side other than the one asked for.
type Provider struct {
	Client *Client
	Tokens ocr.Credentials // the stored access token (a *TokenReader)
	// Quota is the optional DAILY_QUOTA_WECHAT guard (per instance).
	Quota *metrics.DailyLimit
	// QPS is the account's call rate (WECHAT_QPS); 0: not paced.
	QPS float64
}

func (p *Provider) Name() string                 { return Name }
func (p *Provider) Credentials() ocr.Credentials { return p.Tokens }
func (p *Provider) Limits() ocr.Limits {
	return ocr.Limits{IDCardImage: MaxImage, ImageURL: true, IDCardQPS: p.QPS}
}

// CheckImageURL checks an img_url before any token, quota or call.
func (p *Provider) CheckImageURL(ctx context.Context, raw string) error {
	return p.Client.CheckImageURL(ctx, raw)
}

// SubmitIDCard recognizes one side with cv/ocr/idcard.
func (p *Provider) SubmitIDCard(ctx context.Context, token string, c ocr.IDCardCall) (*ocr.IDCardRead, error) {
	if !p.Quota.Take() {
		return nil, &errcode.Error{Code: errcode.QuotaExceeded, Message: "today's WeChat OCR budget of this instance (DAILY_QUOTA_WECHAT) is used up"}
	}
	req := IDCardRequest{ImageURL: c.ImageURL, Mode: ModePhoto}
	if c.ImageURL == "" {
		req.Image = Image{Size: c.Image.Size, Open: c.Image.Open, ContentType: "image/" + c.Format, FileName: "card." + c.Format}
	}
	card, err := p.Client.IDCard(ctx, token, req)
	if err != nil {
		if !billed(err) {
			p.Quota.Give()
		}
		return nil, err
	}
	r := &ocr.IDCardRead{Side: ocr.Front, Upstream: card.Raw}
	if card.Type == TypeBack {
		r.Side = ocr.Back
	}
	if r.Side == ocr.Front {
		c := &r.Card
		c.Name, c.IDNumber, c.Address, c.Sex, c.Nation = card.Name, card.ID, card.Addr, card.Gender, card.Nationality
		r.Fields.IDNumber, r.Fields.Sex = card.ID, card.Gender
	} else {
		r.Fields.ValidDate = card.ValidDate
	}
	return r, nil
}

// SubmitBankCard: WeChat's bank card OCR is not offered (Limits says so;
// the service never calls this).
func (p *Provider) SubmitBankCard(context.Context, string, ocr.BankCardCall) (*ocr.BankCardRead, error) {
	return nil, errcode.Errorf(errcode.InvalidRequest, `provider "wechat" does not read bank cards`)
}

// billed guesses whether a failed call used up quota: answers about the
// image are, refusals of the token or quota and failures before an answer
// are not.
func billed(err error) bool {
	var ae *upstream.Error
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Code != "" && !ae.CredentialsRejected && !ae.Quota
}
