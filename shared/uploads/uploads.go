// Package uploads hands out presigned upload forms (POST
// /v1/{kind}/uploads): a phone sends its photo to object storage directly,
// which no synchronous function limit stands in front of, and the
// object-created event drives resultfetch as for any upload. The form pins
// one object key, which carries the kind, the side, the tenant and the
// order number; the order is recorded as issued, so that its result query
// answers 202 until the result is there, and 404 upload_expired if nothing
// came before the form expired.
package uploads

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/presign"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/tenants"
)

// Presigner signs forms for the bucket uploads go to (the archive's).
type Presigner interface {
	// PresignUpload signs u as a "POST" form or a "PUT".
	PresignUpload(ctx context.Context, u presign.Upload, method string) (presign.Form, error)
}

// Orders is the order store (ocr.Orders).
type Orders interface {
	Claim(ctx context.Context, o ocr.Order) (prev *ocr.Order, err error)
	SaveOrder(ctx context.Context, o ocr.Order) error
}

// DefaultExpiry is how long a form is valid: long enough for a phone on a
// slow network to send 20 MiB, and at most presign.MaxExpiry.
const DefaultExpiry = 10 * time.Minute

// Service issues upload forms.
type Service struct {
	Presigner Presigner
	Orders    Orders
	MaxBytes  int64         // the largest photo (UPLOAD_MAX_BYTES)
	Expiry    time.Duration // [DefaultExpiry], at most presign.MaxExpiry
	Now       func() time.Time
}

// Request asks for a form.
type Request struct {
	Kind        string `json:"-"` // ocr.KindIDCard or ocr.KindBankCard
	Side        string `json:"side"`
	OrderNo     string `json:"orderNo"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	Method      string `json:"method"` // "POST" (default) or "PUT"
	Owner       string `json:"-"`      // the tenant
}

// Ticket is the answer: the order number, the form, its expiry.
type Ticket struct {
	OrderNo   string       `json:"orderNo"`
	Upload    presign.Form `json:"upload"`
	ExpiresAt time.Time    `json:"expiresAt"`
}

// Key is the object key of an API-issued upload: under the prefix
// resultfetch watches (uploads/idcard/front/, …), then api/, the tenant
// ("_" for the default one), the order number and the type's extension.
func Key(kind, side, owner, orderNo, contentType string) string {
	prefix := "uploads/bankcard/"
	if kind == ocr.KindIDCard {
		prefix = "uploads/idcard/" + side + "/"
	}
	if owner = ocr.OwnerOf(owner); owner == "" {
		owner = "_"
	}
	ext := ".jpg"
	if contentType == "image/png" {
		ext = ".png"
	}
	return prefix + "api/" + owner + "/" + orderNo + ext
}

// ParseKey reads what Key wrote from the part of a key after its kind's
// prefix, api/{tenant|_}/{orderNo}.{jpg|png}; ok is false for any other
// object (an upload made with bucket credentials, named as its writer
// pleased).
func ParseKey(rest string) (owner, orderNo string, ok bool) {
	rest, found := strings.CutPrefix(rest, "api/")
	if !found {
		return "", "", false
	}
	owner, file, found := strings.Cut(rest, "/")
	if !found {
		return "", "", false
	}
	orderNo, ext, found := strings.Cut(file, ".")
	if !found || ext != "jpg" && ext != "png" || !sign.ValidOrderNo(orderNo) {
		return "", "", false
	}
	switch {
	case owner == "_":
		owner = ""
	case !tenants.ValidID(owner):
		return "", "", false
	}
	return owner, orderNo, true
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Issue checks r, records the order as issued and signs its form. Nothing
// is sent upstream.
func (s *Service) Issue(ctx context.Context, r Request) (*Ticket, error) {
	if err := s.check(&r); err != nil {
		return nil, err
	}
	caller := r.OrderNo != ""
	if !caller {
		r.OrderNo = sign.OrderNo(map[string]string{ocr.KindIDCard: "id", ocr.KindBankCard: "bank"}[r.Kind])
	}
	now := s.now().UTC()
	exp := s.Expiry
	if exp <= 0 {
		exp = DefaultExpiry
	}
	exp = min(exp, presign.MaxExpiry)
	expires := now.Add(exp).Truncate(time.Second)
	o := ocr.Order{OrderNo: r.OrderNo, Kind: r.Kind, Side: r.Side, Owner: ocr.OwnerOf(r.Owner), State: ocr.OrderIssued,
		Upload: true, ExpiresAt: expires, CreatedAt: now, UpdatedAt: now}
	prev, err := s.Orders.Claim(ctx, o)
	if err != nil {
		return nil, &errcode.Error{Code: errcode.StoreUnavailable, Retryable: true, Err: err,
			Message: "the order store did not answer; no form was issued, try again"}
	}
	if prev != nil {
		// A form asked for again under the same number (a retry) gets a
		// fresh one while nothing has arrived; anything else is the
		// number of another order.
		if prev.State != ocr.OrderIssued || prev.Owner != o.Owner || prev.Kind != o.Kind || prev.Side != o.Side {
			return nil, &errcode.Error{Code: errcode.OrderConflict, OrderNo: r.OrderNo,
				Message: "this orderNo already belongs to another order; use a new orderNo"}
		}
		o.CreatedAt = prev.CreatedAt
		if err := s.Orders.SaveOrder(ctx, o); err != nil {
			return nil, &errcode.Error{Code: errcode.StoreUnavailable, Retryable: true, Err: err, Message: "the order store did not answer; try again"}
		}
	}
	u := presign.Upload{Key: Key(r.Kind, r.Side, r.Owner, r.OrderNo, r.ContentType), ContentType: r.ContentType,
		MaxBytes: s.MaxBytes, Size: r.Size, Expires: expires}
	form, err := s.Presigner.PresignUpload(ctx, u, r.Method)
	if err != nil {
		return nil, fmt.Errorf("uploads: presign: %w", err)
	}
	return &Ticket{OrderNo: r.OrderNo, Upload: form, ExpiresAt: expires}, nil
}

func (s *Service) check(r *Request) error {
	switch r.Kind {
	case ocr.KindIDCard:
		if r.Side != ocr.Front && r.Side != ocr.Back {
			return errcode.Errorf(errcode.InvalidRequest, `side must be "front" or "back"`)
		}
	case ocr.KindBankCard:
		if r.Side != "" {
			return errcode.Errorf(errcode.InvalidRequest, "a bank card has no side")
		}
	default:
		return errors.New("uploads: unknown kind " + r.Kind)
	}
	if r.OrderNo != "" && !sign.ValidOrderNo(r.OrderNo) {
		return errcode.Errorf(errcode.InvalidRequest, "orderNo must be 1 to 32 letters or digits")
	}
	switch r.ContentType {
	case "image/jpeg", "image/png":
	case "":
		return errcode.Errorf(errcode.InvalidRequest, `contentType is required: "image/jpeg" or "image/png"`)
	default:
		return errcode.Errorf(errcode.UnsupportedMediaType, `contentType must be "image/jpeg" or "image/png" (a HEIC photo: convert it, or set the camera to Most Compatible)`)
	}
	r.Method = strings.ToUpper(r.Method)
	switch r.Method {
	case "", "POST":
		r.Method = "POST"
	case "PUT":
		if r.Size <= 0 {
			return errcode.Errorf(errcode.InvalidRequest, "size (the photo's bytes) is required for a PUT: the URL is signed for it")
		}
	default:
		return errcode.Errorf(errcode.InvalidRequest, `method must be "POST" (a form) or "PUT"`)
	}
	switch {
	case r.Size < 0:
		return errcode.Errorf(errcode.InvalidRequest, "size must be the photo's length in bytes")
	case r.Size > s.MaxBytes:
		return errcode.Errorf(errcode.ImageTooLarge, "the photo is %d bytes; uploads take at most %d", r.Size, s.MaxBytes)
	}
	return nil
}
