package ocr

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/webank"
)

// Sides of an ID card.
const (
	Front = "front" // portrait side (人像面)
	Back  = "back"  // national emblem side (国徽面)
)

// Providers of ID card OCR.
const (
	ProviderWeBank = "webank"
	ProviderWeChat = "wechat"
)

// IDCardRequest is a checked submission.
type IDCardRequest struct {
	Side     string
	Image    webank.Image
	Head     []byte // the image's first bytes, for the format check
	UserID   string
	Native   bool
	Provider string
	OrderNo  string // optional; generated when empty
	ImageURL string // https URL for WeChat to download instead of Image (provider wechat only)
}

// IDCard is the normalized card; fields of the side not read are absent.
type IDCard struct {
	Name        string `json:"name,omitempty"`
	Sex         string `json:"sex,omitempty"`
	Nation      string `json:"nation,omitempty"`
	BirthDate   string `json:"birthDate,omitempty"` // YYYY-MM-DD
	IDNumber    string `json:"idNumber,omitempty"`
	Address     string `json:"address,omitempty"`
	NativePlace string `json:"nativePlace,omitempty"`
	Authority   string `json:"authority,omitempty"`
	ValidFrom   string `json:"validFrom,omitempty"` // YYYY-MM-DD
	ValidTo     string `json:"validTo,omitempty"`   // YYYY-MM-DD or "long-term"
}

// IDCardResult is the API's answer for an ID card.
type IDCardResult struct {
	OrderNo  string                 `json:"orderNo"`
	Provider string                 `json:"provider"`
	Side     string                 `json:"side,omitempty"`
	Card     IDCard                 `json:"card"`
	Warnings []cardcheck.Warning    `json:"warnings"`
	Checks   cardcheck.IDCardChecks `json:"checks"`
	Clarity  *int                   `json:"clarity,omitempty"`
	Upstream json.RawMessage        `json:"upstream,omitempty"`
	Files    map[string]string      `json:"files,omitempty"`
	// FilesPending: the photos were asked for but have not come yet (the
	// upstream delivers them late); ask again.
	FilesPending bool `json:"filesPending,omitempty"`
	// Replayed: a submit under an orderNo that already has this result,
	// answered from it (a client's retry); nothing was billed again.
	Replayed bool `json:"replayed,omitempty"`
	// OrderTime is when the upstream processed the order (queries only).
	OrderTime time.Time `json:"-"`
}

// ValidateIDCardRequest checks a submission without calling anyone.
func ValidateIDCardRequest(r *IDCardRequest) error {
	if r.Side != Front && r.Side != Back {
		return domain.Errorf(domain.InvalidRequest, `side must be "front" or "back"`)
	}
	switch r.Provider {
	case "":
		r.Provider = ProviderWeBank
	case ProviderWeBank, ProviderWeChat:
	default:
		return domain.Errorf(domain.InvalidRequest, `provider must be "webank" or "wechat"`)
	}
	if r.OrderNo != "" && !sign.ValidOrderNo(r.OrderNo) {
		return domain.Errorf(domain.InvalidRequest, "orderNo must be 1 to 32 letters or digits")
	}
	if r.UserID != "" && !sign.ValidOrderNo(r.UserID) {
		return domain.Errorf(domain.InvalidRequest, "userId must be 1 to 32 letters or digits")
	}
	if r.ImageURL != "" {
		if r.Provider != ProviderWeChat {
			return domain.Errorf(domain.InvalidRequest, `imageUrl is only accepted with provider "wechat"`)
		}
		if r.Image.Size != 0 {
			return domain.Errorf(domain.InvalidRequest, "send either image or imageUrl, not both")
		}
		return nil // checked by the WeChat client's address guard
	}
	limit := int64(MaxIDCardImage)
	if r.Provider == ProviderWeChat {
		limit = MaxWeChatImage
	}
	return CheckImage(r.Head, r.Image.Size, limit)
}

// SubmitIDCard recognizes one side of an ID card.
func (s *Service) SubmitIDCard(ctx context.Context, r IDCardRequest) (*IDCardResult, error) {
	if err := ValidateIDCardRequest(&r); err != nil {
		return nil, err
	}
	if r.Provider == ProviderWeChat {
		return s.submitWeChat(ctx, r)
	}
	callerOrder := r.OrderNo != ""
	if !callerOrder {
		r.OrderNo = sign.OrderNo("id")
	}
	cardType := "0"
	if r.Side == Back {
		cardType = "1"
	}
	f, err := s.withTicket(ctx, "idcardocrapp", func(ticket string) (*webank.Fields, error) {
		return s.WeBank.SubmitIDCard(ctx, ticket, webank.SubmitRequest{
			OrderNo: r.OrderNo, UserID: r.UserID, CardType: cardType, GetNative: r.Native, Image: r.Image,
		})
	})
	if err == nil || MayHaveReached(err) { // only calls that reached the provider are counted
		s.Metrics.Call(ctx, ProviderWeBank, outcomeOf(err))
	}
	if err != nil {
		if callerOrder && mayBeRepeat(err) {
			if res, rerr := s.replayIDCard(ctx, r, err); res != nil || rerr != nil {
				return res, rerr
			}
		}
		return nil, withOrderNo(err, r.OrderNo)
	}
	res := &IDCardResult{OrderNo: r.OrderNo, Provider: ProviderWeBank, Side: r.Side}
	var fields cardcheck.IDCardFields
	if r.Side == Front {
		readFront(f, &res.Card, &fields)
	} else {
		readBack(f, &res.Card, &fields)
	}
	res.Warnings = cardcheck.MergeIDWarnings(f.String("warning"), f.String("multiWarning"))
	res.Clarity = atoiPtr(f.String("clarity"))
	s.finishIDCard(res, fields)
	res.Upstream = f.ResultWithout(photoKeys...)
	return res, nil
}

// IDCardResult queries a result by order number (both sides if the order
// has both); files adds the photos.
func (s *Service) IDCardResult(ctx context.Context, orderNo string, files bool) (*IDCardResult, error) {
	if !sign.ValidOrderNo(orderNo) {
		return nil, domain.Errorf(domain.InvalidRequest, "orderNo must be 1 to 32 letters or digits")
	}
	query := func(ticket string) (*webank.Fields, error) {
		return s.WeBank.IDCardResult(ctx, ticket, orderNo, files, true)
	}
	var f *webank.Fields
	var pending bool
	var err error
	if files {
		f, pending, err = s.queryPhotos(ctx, "getOcrResult", query, idPhotosMissing)
	} else {
		f, err = s.withTicket(ctx, "getOcrResult", query)
	}
	if err != nil {
		return nil, asDomain(err)
	}
	res := &IDCardResult{OrderNo: orderNo, Provider: ProviderWeBank, FilesPending: pending, OrderTime: orderTime(f)}
	var fields cardcheck.IDCardFields
	frontOK, backOK := f.String("frontCode") == "0", f.String("backCode") == "0"
	if !frontOK && !backOK {
		code := f.String("frontCode")
		if code == "" {
			code = f.String("backCode")
		}
		return nil, &domain.Error{Code: domain.RecognitionFailed, Message: "neither side of this order was recognized", UpstreamCode: code}
	}
	var warn []string
	var clarity []string
	if frontOK {
		readFront(f, &res.Card, &fields)
		warn = append(warn, f.String("frontWarnCode"), f.String("frontMultiWarning"))
		clarity = append(clarity, f.String("frontClarity"))
	}
	if backOK {
		readBack(f, &res.Card, &fields)
		warn = append(warn, f.String("backWarnCode"), f.String("backMultiWarning"))
		clarity = append(clarity, f.String("backClarity"))
	}
	switch {
	case frontOK && !backOK:
		res.Side = Front
	case backOK && !frontOK:
		res.Side = Back
	}
	res.Warnings = cardcheck.MergeIDWarnings(warn...)
	for _, c := range clarity { // the worse side's clarity
		if v := atoiPtr(c); v != nil && (res.Clarity == nil || *v < *res.Clarity) {
			res.Clarity = v
		}
	}
	s.finishIDCard(res, fields)
	if files {
		res.Files = collectFiles(f, photoKeys...)
	}
	res.Upstream = f.ResultWithout(photoKeys...)
	return res, nil
}

var photoKeys = []string{"frontPhoto", "backPhoto", "frontCrop", "backCrop", "headPhoto"}

func readFront(f *webank.Fields, c *IDCard, in *cardcheck.IDCardFields) {
	c.Name = f.String("name", "Name")
	c.Sex = f.String("sex", "Sex")
	c.Nation = f.String("nation")
	c.IDNumber = f.String("idcard", "Idcard", "idCard")
	c.Address = f.String("address")
	c.NativePlace = f.String("nativePlace")
	birth := f.String("birth")
	if d, ok := cardcheck.NormalizeDate(birth); ok {
		c.BirthDate = d
	}
	in.IDNumber, in.Birth, in.Sex = c.IDNumber, birth, c.Sex
}

func readBack(f *webank.Fields, c *IDCard, in *cardcheck.IDCardFields) {
	c.Authority = f.String("authority")
	vd := f.String("validDate", "validate")
	if v, err := cardcheck.ParseValidity(vd); err == nil {
		c.ValidFrom, c.ValidTo = v.From, v.To
	}
	in.ValidDate = vd
}

func (s *Service) finishIDCard(res *IDCardResult, in cardcheck.IDCardFields) {
	res.Checks = cardcheck.CheckIDCard(in, s.now())
	res.Warnings = cardcheck.MergeWarnings(res.Warnings, res.Checks.Hints)
	if res.Warnings == nil {
		res.Warnings = []cardcheck.Warning{}
	}
}

func atoiPtr(s string) *int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil
	}
	return &n
}

func collectFiles(f *webank.Fields, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v := f.String(k); v != "" {
			out[k] = v
		}
	}
	return out
}
