package ocr

import (
	"context"
	"errors"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/wechat"
)

// WeChatOCR is the part of the WeChat client the service uses.
type WeChatOCR interface {
	IDCard(ctx context.Context, accessToken string, r wechat.IDCardRequest) (*wechat.IDCard, error)
	CheckImageURL(ctx context.Context, raw string) error
}

// WeChatTokens hands out the stored WeChat token (a *tickets.WeChatReader).
// Rejected is told about a token WeChat refused and returns another one to
// retry once with; it never forces a refresh.
type WeChatTokens interface {
	Token(ctx context.Context) (string, error)
	Rejected(ctx context.Context, token string) (string, error)
}

// WeChatProvider is the WeChat ID card provider. A Service without one
// answers provider "wechat" with invalid_request "not configured".
type WeChatProvider struct {
	Client WeChatOCR
	Tokens WeChatTokens
	// Quota is the optional DAILY_QUOTA_WECHAT guard (per instance).
	Quota *metrics.DailyLimit
}

// errWeChatOff is the answer when no WeChat credentials are configured:
// a 400, not a 503, because retrying cannot help; the deployment has to
// set WECHAT_APP_ID and WECHAT_APP_SECRET.
func errWeChatOff() error {
	return domain.Errorf(domain.InvalidRequest, `provider "wechat" is not configured on this deployment (no WeChat credentials)`)
}

// submitWeChat recognizes one side with WeChat's cv/ocr/idcard. WeChat
// tells the side itself; a side other than the one asked for is
// recognition_failed.
func (s *Service) submitWeChat(ctx context.Context, r IDCardRequest) (*IDCardResult, error) {
	p := s.WeChat
	if p == nil || p.Client == nil || p.Tokens == nil {
		return nil, errWeChatOff()
	}
	if r.OrderNo == "" {
		r.OrderNo = sign.OrderNo("wx")
	}
	// Bad input first: no token load, no quota, no count.
	if r.ImageURL != "" {
		if err := p.Client.CheckImageURL(ctx, r.ImageURL); err != nil {
			return nil, err
		}
	}
	if !p.Quota.Take() {
		s.Metrics.Call(ctx, ProviderWeChat, metrics.OutcomeLocalQuota)
		return nil, &domain.Error{Code: domain.QuotaExceeded, Message: "today's WeChat OCR budget of this instance (DAILY_QUOTA_WECHAT) is used up"}
	}
	req := wechat.IDCardRequest{ImageURL: r.ImageURL, Mode: wechat.ModePhoto}
	if r.ImageURL == "" {
		req.Image = wechat.Image{Size: r.Image.Size, Open: r.Image.Open, ContentType: "image/" + ImageKind(r.Head), FileName: "card." + ImageKind(r.Head)}
	}
	card, err := s.callWeChat(ctx, p, req)
	if err != nil {
		if !billed(err) {
			p.Quota.Give()
		}
		var ae *wechat.APIError
		if errors.As(err, &ae) { // only calls that reached WeChat are counted
			s.Metrics.Call(ctx, ProviderWeChat, outcomeOf(err))
		}
		return nil, asDomain(err)
	}
	side := Front
	if card.Type == wechat.TypeBack {
		side = Back
	}
	if side != r.Side {
		s.Metrics.Call(ctx, ProviderWeChat, metrics.OutcomeSideMismatch)
		return nil, &domain.Error{Code: domain.RecognitionFailed,
			Message: "the image shows the " + side + " side of an ID card; the " + r.Side + " side was requested"}
	}
	s.Metrics.Call(ctx, ProviderWeChat, metrics.OutcomeOK)

	res := &IDCardResult{OrderNo: r.OrderNo, Provider: ProviderWeChat, Side: side, Upstream: card.Raw}
	var fields cardcheck.IDCardFields
	if side == Front {
		c := &res.Card
		c.Name, c.IDNumber, c.Address, c.Sex, c.Nation = card.Name, card.ID, card.Addr, card.Gender, card.Nationality
		// WeChat reads no birth date: take it from a valid ID number.
		if info, err := cardcheck.ParseIDNumberAt(card.ID, s.now()); err == nil {
			c.BirthDate = info.BirthDate()
		}
		fields.IDNumber, fields.Sex = card.ID, card.Gender
	} else {
		if v, err := cardcheck.ParseValidity(card.ValidDate); err == nil {
			res.Card.ValidFrom, res.Card.ValidTo = v.From, v.To
		}
		fields.ValidDate = card.ValidDate
	}
	s.finishIDCard(res, fields)
	return res, nil
}

// callWeChat makes the call with the current token; when WeChat rejects
// the token (40001/42001/40014) it asks for another one (reloaded from the
// store) and retries once.
func (s *Service) callWeChat(ctx context.Context, p *WeChatProvider, req wechat.IDCardRequest) (*wechat.IDCard, error) {
	tok, err := p.Tokens.Token(ctx)
	if err != nil {
		return nil, err
	}
	card, err := p.Client.IDCard(ctx, tok, req)
	var ae *wechat.APIError
	if err == nil || !errors.As(err, &ae) || !ae.TokenRejected {
		return card, err
	}
	tok2, rerr := p.Tokens.Rejected(ctx, tok)
	if rerr != nil {
		s.logger().WarnContext(ctx, "WeChat rejected the access token and no other one is available", "upstreamCode", ae.Code)
		// Like a dead WeBank ticket: only the refresher can mend it.
		de := domain.AsError(rerr)
		return nil, &domain.Error{Code: de.Code, Message: de.Message, Retryable: de.Retryable, UpstreamCode: ae.Code, Err: err}
	}
	s.logger().InfoContext(ctx, "WeChat rejected the access token; retrying once with the reloaded one", "upstreamCode", ae.Code)
	return p.Client.IDCard(ctx, tok2, req)
}

// billed guesses whether a failed call used up quota: answers about the
// image are, refusals of the token or quota and failures before an answer
// are not.
func billed(err error) bool {
	var ae *wechat.APIError
	if !errors.As(err, &ae) {
		return false
	}
	return ae.Code != "" && !ae.TokenRejected && !ae.Quota
}

// outcomeOf names an upstream call's outcome for the counters.
func outcomeOf(err error) string {
	if err == nil {
		return metrics.OutcomeOK
	}
	e := domain.AsError(err)
	switch {
	case e.Code == domain.QuotaExceeded:
		return metrics.OutcomeQuota
	case e.UpstreamCode != "":
		return metrics.OutcomeRejected
	}
	return metrics.OutcomeError
}
