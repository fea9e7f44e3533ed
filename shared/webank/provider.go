package webank

import (
	"context"
	"strconv"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
)

// Name is the provider's name in requests and answers.
const Name = "webank"

// Limits of the WeBank API, in raw image bytes (docs/protocol.md). WeBank
// limits the Base64 string, not the image: idcardStr "图片的 Base64，大小不超过
// 20MB" (length 20971520) and bankcardStr "Base64 String … 大小不超过3MB".
// Base64 is 4 characters per 3 bytes, so the images may be at most 3/4 of
// that.
const (
	MaxIDCardBase64   = 20971520
	MaxBankCardBase64 = 3 << 20
	MaxIDCardImage    = MaxIDCardBase64 / 4 * 3   // 15728640
	MaxBankCardImage  = MaxBankCardBase64 / 4 * 3 // 2359296
)

// Provider is WeBank as an ocr.Provider: it signs with the stored SIGN
// ticket and reads WeBank's answers (whose field names drift between the
// documents, the examples and the two answers of each kind) into the
// service's typed reads.
type Provider struct {
	Client  *Client
	Tickets ocr.Credentials // the SIGN ticket (a *tickets.Reader)
	// QPS is the account's call rate (WEBANK_QPS): the documents name
	// none, so it is what the account manager agreed; 0: not paced.
	QPS float64
}

func (p *Provider) Name() string                 { return Name }
func (p *Provider) Credentials() ocr.Credentials { return p.Tickets }
func (p *Provider) Limits() ocr.Limits {
	return ocr.Limits{IDCardImage: MaxIDCardImage, BankCardImage: MaxBankCardImage, IDCardQPS: p.QPS, BankCardQPS: p.QPS}
}

// SubmitIDCard posts one side to api/paas/idcardocrapp.
func (p *Provider) SubmitIDCard(ctx context.Context, ticket string, c ocr.IDCardCall) (*ocr.IDCardRead, error) {
	cardType := "0"
	if c.Side == ocr.Back {
		cardType = "1"
	}
	f, err := p.Client.SubmitIDCard(ctx, ticket, SubmitRequest{OrderNo: c.OrderNo, UserID: c.UserID, CardType: cardType, GetNative: c.Native, Image: c.Image})
	if err != nil {
		return nil, err
	}
	r := &ocr.IDCardRead{Side: c.Side}
	if c.Side == ocr.Front {
		readFront(f, r)
	} else {
		readBack(f, r)
	}
	r.Warnings = cardcheck.MergeIDWarnings(f.String("warning"), f.String("multiWarning"))
	r.Clarity = atoiPtr(f.String("clarity"))
	r.Upstream = f.ResultWithout(photoKeys...)
	return r, nil
}

// QueryIDCard asks api/server/getOcrResult (both sides if the order has
// both); files asks for the photos.
func (p *Provider) QueryIDCard(ctx context.Context, ticket, orderNo string, files bool) (*ocr.IDCardRead, error) {
	f, err := p.Client.IDCardResult(ctx, ticket, orderNo, files, true)
	if err != nil {
		return nil, err
	}
	frontOK, backOK := f.String("frontCode") == "0", f.String("backCode") == "0"
	if !frontOK && !backOK {
		code := f.String("frontCode")
		if code == "" {
			code = f.String("backCode")
		}
		return nil, &errcode.Error{Code: errcode.RecognitionFailed, Message: "neither side of this order was recognized", UpstreamCode: code}
	}
	r := &ocr.IDCardRead{OrderTime: orderTime(f)}
	var warn, clarity []string
	if frontOK {
		readFront(f, r)
		warn = append(warn, f.String("frontWarnCode"), f.String("frontMultiWarning"))
		clarity = append(clarity, f.String("frontClarity"))
	}
	if backOK {
		readBack(f, r)
		warn = append(warn, f.String("backWarnCode"), f.String("backMultiWarning"))
		clarity = append(clarity, f.String("backClarity"))
	}
	switch {
	case frontOK && !backOK:
		r.Side = ocr.Front
	case backOK && !frontOK:
		r.Side = ocr.Back
	}
	r.Warnings = cardcheck.MergeIDWarnings(warn...)
	for _, c := range clarity { // the worse side's clarity
		if v := atoiPtr(c); v != nil && (r.Clarity == nil || *v < *r.Clarity) {
			r.Clarity = v
		}
	}
	if files {
		r.Files = collectFiles(f, photoKeys...)
		// Each recognized side's photo is what get_file=1 asks for; they
		// may come about a second late.
		r.PhotosMissing = frontOK && f.String("frontPhoto") == "" || backOK && f.String("backPhoto") == ""
	}
	r.Upstream = f.ResultWithout(photoKeys...)
	return r, nil
}

// SubmitBankCard posts to api/paas/bankcardocrapp.
func (p *Provider) SubmitBankCard(ctx context.Context, ticket string, c ocr.BankCardCall) (*ocr.BankCardRead, error) {
	f, err := p.Client.SubmitBankCard(ctx, ticket, SubmitRequest{OrderNo: c.OrderNo, UserID: c.UserID, Image: c.Image})
	if err != nil {
		return nil, err
	}
	return readBankCard(f, false), nil
}

// QueryBankCard asks api/server/getBankCardOcrResult.
func (p *Provider) QueryBankCard(ctx context.Context, ticket, orderNo string, files bool) (*ocr.BankCardRead, error) {
	f, err := p.Client.BankCardResult(ctx, ticket, orderNo, files)
	if err != nil {
		return nil, err
	}
	r := readBankCard(f, files)
	r.OrderTime = orderTime(f)
	return r, nil
}

var photoKeys = []string{"frontPhoto", "backPhoto", "frontCrop", "backCrop", "headPhoto"}

// bankPhotoKeys are the photo members of bank card answers (the legacy
// document spells the original "orginBankcardPhoto").
var bankPhotoKeys = []string{"bankcardNoPhoto", "bankcardCropPhoto", "originBankcardPhoto", "orginBankcardPhoto"}

func readFront(f *Fields, r *ocr.IDCardRead) {
	c := &r.Card
	c.Name = f.String("name", "Name")
	c.Sex = f.String("sex", "Sex")
	c.Nation = f.String("nation")
	c.IDNumber = f.String("idcard", "Idcard", "idCard")
	c.Address = f.String("address")
	c.NativePlace = f.String("nativePlace")
	r.Fields.IDNumber, r.Fields.Birth, r.Fields.Sex = c.IDNumber, f.String("birth"), c.Sex
}

func readBack(f *Fields, r *ocr.IDCardRead) {
	r.Card.Authority = f.String("authority")
	r.Fields.ValidDate = f.String("validDate", "validate")
}

// readBankCard reads either answer. The two spell their fields
// differently: submit answers bankcardNo, bankcardValidDate, warningCode and
// multiWarningCode; the query answers bankCardNo, bankCardValidDate, warnCode
// (and multiWarnCode). Both spellings are read in both cases.
func readBankCard(f *Fields, files bool) *ocr.BankCardRead {
	r := &ocr.BankCardRead{
		Number:    f.String("bankcardNo", "bankCardNo", "BankCardNo"),
		ValidThru: f.String("bankcardValidDate", "bankCardValidDate", "BankCardValidDate"),
		Warnings: cardcheck.MergeBankWarnings(f.String("warningCode"), f.String("multiWarningCode"),
			f.String("warnCode"), f.String("multiWarnCode")),
		Clarity: atoiPtr(f.String("clarity")),
	}
	if files {
		r.Files = collectFiles(f, bankPhotoKeys...)
		// The card photo (original or crop; the number strip alone is not
		// the evidence).
		r.PhotosMissing = f.String("originBankcardPhoto", "orginBankcardPhoto", "bankcardCropPhoto") == ""
	}
	r.Upstream = f.ResultWithout(bankPhotoKeys...)
	return r
}

func atoiPtr(s string) *int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil
	}
	return &n
}

// collectFiles returns the photo members as received (slices of the
// answer): a non-empty JSON string each.
func collectFiles(f *Fields, keys ...string) map[string]ocr.Photo {
	out := map[string]ocr.Photo{}
	for _, k := range keys {
		if v := f.Raw(k); len(v) > 2 && v[0] == '"' {
			out[k] = ocr.Photo(v)
		}
	}
	return out
}

// orderTime is when the upstream says the order was processed
// (operateTime, China time); zero when it does not say.
func orderTime(f *Fields) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", f.String("operateTime"), cst)
	if err != nil {
		return time.Time{}
	}
	return t
}

var cst = time.FixedZone("CST", 8*3600)
