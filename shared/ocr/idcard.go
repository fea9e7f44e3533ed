package ocr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/sign"
)

// Sides of an ID card.
const (
	Front = "front" // portrait side (人像面)
	Back  = "back"  // national emblem side (国徽面)
)

// IDCardRequest is a checked submission.
type IDCardRequest struct {
	Side     string
	Image    Image
	UserID   string
	Native   bool
	Provider string
	OrderNo  string // optional; generated when empty
	ImageURL string // https URL for the provider to download instead of Image (providers that take URLs)
	Owner    string // the tenant making the order ("" before tenants)
	Quota    int    // the tenant's daily quota of billable calls (0: none)
}

// ResultQuery asks for an order's result.
type ResultQuery struct {
	OrderNo string
	Files   bool   // with the photos
	Owner   string // the tenant asking ("" before tenants)
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
	// FallbackFrom names the providers that failed before Provider
	// answered (PROVIDER_FALLBACK), comma-separated.
	FallbackFrom string           `json:"fallbackFrom,omitempty"`
	Files        map[string]Photo `json:"files,omitempty"`
	// FilesPending: the photos were asked for but have not come yet (the
	// upstream delivers them late); ask again.
	FilesPending bool `json:"filesPending,omitempty"`
	// Replayed: a submit under an orderNo that already has this result,
	// answered from it (a client's retry); nothing was billed again.
	Replayed bool `json:"replayed,omitempty"`
	// ImageFitted: the image was fitted to the provider's limits before it
	// was sent (submits only).
	ImageFitted *ImageFitted `json:"imageFitted,omitempty"`
	// OrderTime is when the upstream processed the order (queries only).
	OrderTime time.Time `json:"-"`
}

// ValidateIDCardRequest checks a submission without calling anyone: the
// fields, then the image against the chosen provider's limits.
func (s *Service) ValidateIDCardRequest(r *IDCardRequest) error {
	_, err := s.checkIDCard(r)
	return err
}

func (s *Service) checkIDCard(r *IDCardRequest) (Provider, error) {
	if r.Side != Front && r.Side != Back {
		return nil, errcode.Errorf(errcode.InvalidRequest, `side must be "front" or "back"`)
	}
	if err := checkIDs(r.OrderNo, r.UserID); err != nil {
		return nil, err
	}
	p, err := s.provider(KindIDCard, r.Provider)
	if err != nil {
		return nil, err
	}
	r.Provider = p.Name()
	return p, checkInput(p, KindIDCard, r.Image, r.ImageURL, s.fitMax())
}

func checkIDs(orderNo, userID string) error {
	if orderNo != "" && !sign.ValidOrderNo(orderNo) {
		return errcode.Errorf(errcode.InvalidRequest, "orderNo must be 1 to 32 letters or digits")
	}
	if userID != "" && !validUserID(userID) {
		return errcode.Errorf(errcode.InvalidRequest, "userId must be 1 to 64 letters, digits, '_' or '-' (a WeChat openid is fine)")
	}
	return nil
}

// validUserID accepts the upstream's form (1–32 letters or digits) and a
// WeChat openid's (letters, digits, '_' and '-', 28 characters today).
func validUserID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// UpstreamUserID is the userId sent upstream, which takes 1–32 letters or
// digits: a userId of that form as it is; any other (a WeChat openid, with
// '_' and '-') as "u" and 31 hex digits of its SHA-256: the same user always
// maps to the same upstream userId, and the openid itself is not sent.
func UpstreamUserID(userID string) string {
	if userID == "" || sign.ValidOrderNo(userID) {
		return userID
	}
	sum := sha256.Sum256([]byte(userID))
	return "u" + hex.EncodeToString(sum[:])[:31]
}

// checkInput checks the image (or URL) against p's limits for kind. An
// image over p's byte limit passes when it will be fitted (fitMax > 0): a
// JPEG or PNG of at most fitMax bytes, plausible in every other way.
func checkInput(p Provider, kind string, img Image, imageURL string, fitMax int64) error {
	l := p.Limits()
	if imageURL != "" {
		if !l.ImageURL {
			return errcode.Errorf(errcode.InvalidRequest, "imageUrl is not accepted by provider %q; send the image", p.Name())
		}
		if img.Size != 0 {
			return errcode.Errorf(errcode.InvalidRequest, "send either image or imageUrl, not both")
		}
		return nil // the provider's address guard checks it before the call
	}
	err := CheckImage(img.Head, img.Size, limit(l, kind))
	if errcode.ErrorCode(err) == errcode.ImageTooLarge && img.Size <= fitMax {
		if k := ImageKind(img.Head); k == "jpeg" || k == "png" {
			return CheckImage(img.Head, img.Size, img.Size)
		}
	}
	return err
}

// fits reports whether a fallback provider takes this input too (as it
// will be sent: fitted already, when it was).
func fits(p Provider, kind string, img Image, imageURL string) bool {
	return checkInput(p, kind, img, imageURL, 0) == nil
}

// fit brings an image over p's byte limit within it (checkInput passed
// it). The image as received stays the order's: its hash was taken.
func (s *Service) fit(ctx context.Context, p Provider, kind string, img Image) (Image, *ImageFitted, error) {
	lim := limit(p.Limits(), kind)
	if s.Fitter == nil || img.Size <= lim || img.Size == 0 {
		return img, nil, nil
	}
	b := img.Head
	if int64(len(b)) < img.Size {
		rc, err := img.Open()
		if err != nil {
			return img, nil, fmt.Errorf("ocr: open the image to fit it: %w", err)
		}
		defer rc.Close()
		b = make([]byte, 0, img.Size)
		buf := bytes.NewBuffer(b)
		if _, err := buf.ReadFrom(io.LimitReader(rc, img.Size+1)); err != nil {
			return img, nil, fmt.Errorf("ocr: read the image to fit it: %w", err)
		}
		if b = buf.Bytes(); int64(len(b)) != img.Size {
			return img, nil, errors.New("ocr: the image changed while it was read")
		}
	}
	out, fitted, err := s.Fitter.Fit(ctx, b, lim)
	if err != nil {
		return img, nil, err
	}
	return BytesImage(out), fitted, nil
}

// SubmitIDCard recognizes one side of an ID card.
func (s *Service) SubmitIDCard(ctx context.Context, r IDCardRequest) (*IDCardResult, error) {
	p, err := s.checkIDCard(&r)
	if err != nil {
		return nil, err
	}
	return submitOrder(ctx, s, p, order{kind: KindIDCard, side: r.Side, owner: r.Owner, prefix: "id",
		orderNo: &r.OrderNo, image: &r.Image, imageURL: r.ImageURL},
		func(prev *Order) *IDCardResult { return s.replayDoneIDCard(ctx, prev, r) },
		func(ctx context.Context, p Provider, callerOrder bool, o *Order) (*IDCardResult, error) {
			return s.submitIDCard(ctx, p, r, callerOrder, o)
		})
}

func (s *Service) submitIDCard(ctx context.Context, p Provider, r IDCardRequest, callerOrder bool, o *Order) (*IDCardResult, error) {
	if r.ImageURL != "" {
		uc, ok := p.(URLChecker)
		if !ok {
			return nil, errcode.Errorf(errcode.InvalidRequest, "imageUrl is not accepted by provider %q", p.Name())
		}
		if err := uc.CheckImageURL(ctx, r.ImageURL); err != nil { // bad input: no credential, no call
			return nil, err
		}
	}
	call := IDCardCall{OrderNo: UpstreamOrderNo(r.Owner, r.OrderNo), UserID: UpstreamUserID(r.UserID), Side: r.Side, Native: r.Native, Image: r.Image,
		Format: ImageKind(r.Image.Head), ImageURL: r.ImageURL}
	read, refused, err := billedCall(ctx, s, p, KindIDCard, r.Owner, r.Quota, func(cred string) (*IDCardRead, error) {
		return p.SubmitIDCard(ctx, cred, call)
	})
	if refused {
		return nil, err
	}
	if err == nil && read.Side != "" && read.Side != r.Side {
		s.Metrics.Call(ctx, counter(p, KindIDCard), metrics.OutcomeSideMismatch)
		return nil, &errcode.Error{Code: errcode.RecognitionFailed, OrderNo: r.OrderNo,
			Message: "the image shows the " + read.Side + " side of an ID card; the " + r.Side + " side was requested"}
	}
	s.count(ctx, counter(p, KindIDCard), err)
	if err != nil {
		if q, ok := p.(Querier); ok && callerOrder && s.Orders != nil && mayBeRepeat(err) {
			if res, rerr := s.replayIDCard(ctx, p, q, r, o, err); res != nil || rerr != nil {
				return res, rerr
			}
		}
		return nil, withOrderNo(err, r.OrderNo)
	}
	res := &IDCardResult{OrderNo: r.OrderNo, Provider: p.Name(), Side: r.Side}
	s.fromRead(res, read)
	return res, nil
}

// fromRead fills res from what the provider read, then checks it.
func (s *Service) fromRead(res *IDCardResult, read *IDCardRead) {
	res.Card, res.Warnings, res.Clarity, res.Upstream = read.Card, read.Warnings, read.Clarity, read.Upstream
	res.Files, res.FilesPending, res.OrderTime = read.Files, read.PhotosMissing, read.OrderTime
	if read.Side != "" {
		res.Side = read.Side
	}
	// Dates are normalized here, from the text the provider read.
	res.Card.BirthDate, res.Card.ValidFrom, res.Card.ValidTo = "", "", ""
	if d, ok := cardcheck.NormalizeDate(read.Fields.Birth); ok {
		res.Card.BirthDate = d
	} else if read.Fields.Birth == "" && res.Card.IDNumber != "" {
		// A provider that reads no birth date (WeChat): the ID number has it.
		if info, err := cardcheck.ParseIDNumberAt(res.Card.IDNumber, s.now()); err == nil {
			res.Card.BirthDate = info.BirthDate()
		}
	}
	if v, err := cardcheck.ParseValidity(read.Fields.ValidDate); read.Fields.ValidDate != "" && err == nil {
		res.Card.ValidFrom, res.Card.ValidTo = v.From, v.To
	}
	s.finishIDCard(res, read.Fields)
}

// IDCardResult queries a result by order number (both sides if the order
// has both); files adds the photos. The order's record, when there is one,
// says which provider made it; only that provider is asked.
func (s *Service) IDCardResult(ctx context.Context, q ResultQuery) (*IDCardResult, error) {
	if !sign.ValidOrderNo(q.OrderNo) {
		return nil, errcode.Errorf(errcode.InvalidRequest, "orderNo must be 1 to 32 letters or digits")
	}
	o, err := s.lookup(ctx, KindIDCard, q)
	if err != nil {
		return nil, err
	}
	if o != nil && o.Provider != "" && !keepsResults(s.Providers[o.Provider]) {
		// Made by a provider that keeps no results, or one this function
		// does not link (the result functions link only those that do).
		res := &IDCardResult{}
		if err := s.archived(ctx, KindIDCard, o, res); err != nil {
			return nil, err
		}
		res.OrderNo, res.Provider, res.FallbackFrom, res.Replayed = q.OrderNo, o.Provider, "", false
		return res, nil
	}
	p, qr, err := s.querier(o)
	if err != nil {
		return nil, err
	}
	res, err := s.queryIDCard(ctx, p, qr, UpstreamOrderNo(q.Owner, q.OrderNo), q.Files)
	if err != nil {
		return nil, err
	}
	res.OrderNo = q.OrderNo
	return res, nil
}

func (s *Service) queryIDCard(ctx context.Context, p Provider, q Querier, orderNo string, files bool) (*IDCardResult, error) {
	read, err := queryPhotos(ctx, s, p, files, func(cred string) (*IDCardRead, error) {
		return q.QueryIDCard(ctx, cred, orderNo, files)
	}, func(r *IDCardRead) bool { return r.PhotosMissing })
	if err != nil {
		return nil, asDomain(err)
	}
	res := &IDCardResult{OrderNo: orderNo, Provider: p.Name()}
	s.fromRead(res, read)
	if !files {
		res.Files, res.FilesPending = nil, false
	}
	return res, nil
}

// querier is the provider to ask for an order's result: the one its record
// names, else DefaultProvider (orders without a record were made before
// records, or by the upload and queue paths, which are WeBank's).
func (s *Service) querier(o *Order) (Provider, Querier, error) {
	if o != nil && o.Provider != "" {
		p := s.Providers[o.Provider]
		if q, ok := p.(Querier); ok {
			return p, q, nil
		}
		return nil, nil, &errcode.Error{Code: errcode.NotFound, Err: errNoQuerier,
			Message: "this order was made by provider " + o.Provider + ", which keeps no results to query"}
	}
	if q, ok := s.Providers[DefaultProvider].(Querier); ok {
		return s.Providers[DefaultProvider], q, nil
	}
	return nil, nil, errcode.Errorf(errcode.NotFound, "this order has no record, and %s, which made such orders, is not configured", DefaultProvider)
}

func (s *Service) finishIDCard(res *IDCardResult, in cardcheck.IDCardFields) {
	res.Checks = cardcheck.CheckIDCard(in, s.now())
	res.Warnings = cardcheck.MergeWarnings(res.Warnings, res.Checks.Hints)
	if res.Warnings == nil {
		res.Warnings = []cardcheck.Warning{}
	}
}
