package ocr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
)

// Order records. Every order this service makes is recorded in a store that
// all instances share (the archive bucket's _orders/ prefix): its kind,
// side, the SHA-256 of the image as received and the provider that
// answered. Never the image, never a result. A submit under an order number
// that is already recorded is decided from that record before any upstream
// call: the same kind, side and image is a retry (answered from the stored
// result where the provider keeps one), anything else is order_conflict, so
// another person's result can never be handed to a reused order number
// (Stripe's rule for idempotency keys reused with other parameters).

// Order states.
const (
	OrderSending = "sending" // claimed; the submit is in flight, or its outcome is unknown
	OrderDone    = "done"    // the provider answered with a result
	OrderFailed  = "failed"  // the submit failed (the error code is kept)
	OrderErased  = "erased"  // erased on request: a tombstone without content
	// OrderIssued: an upload form was handed out (POST /v1/{kind}/uploads)
	// and nothing has arrived yet.
	OrderIssued = "issued"
)

// UploadGrace is how long after its form expired an issued order still
// answers 202: an upload begun before the expiry may still be arriving,
// and its event is delivered within seconds.
const UploadGrace = 2 * time.Minute

// Order is what is kept about an order: enough to tell a retry from a
// reuse, and who made it. It holds no personal data (an image's SHA-256
// identifies an image only to someone who holds that image).
type Order struct {
	OrderNo string `json:"orderNo"`
	Kind    string `json:"kind,omitempty"`
	Side    string `json:"side,omitempty"`
	// ImageSHA256 is the hex SHA-256 of the image as received (of the URL
	// for an imageUrl submission).
	ImageSHA256 string `json:"imageSha256,omitempty"`
	// Provider is the provider that answered (or was last asked).
	Provider string `json:"provider,omitempty"`
	// Owner is the tenant the order belongs to ("" before tenants).
	Owner string `json:"owner,omitempty"`
	State string `json:"state"`
	Code  string `json:"code,omitempty"` // the error code of a failed order
	// Message is a failed upload's error message, as a direct submit would
	// have answered it (coded errors' messages carry no personal data).
	Message string `json:"message,omitempty"`
	// Upload: the order came through an upload form, which expires at
	// ExpiresAt; its result is fetched, not answered, so a query meets
	// it pending.
	Upload bool `json:"upload,omitempty"`
	// CallbackFailed: its callback was not delivered within 24 hours.
	CallbackFailed bool      `json:"callbackFailed,omitempty"`
	ExpiresAt      time.Time `json:"expiresAt,omitzero"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

// Orders is the shared store of order records.
type Orders interface {
	// Claim records o unless a record of its order number exists: of
	// concurrent claims exactly one succeeds (prev == nil); the others get
	// the existing record.
	Claim(ctx context.Context, o Order) (prev *Order, err error)
	// Order returns the record of an owner's order number, or nil.
	Order(ctx context.Context, owner, orderNo string) (*Order, error)
	// SaveOrder writes a record, replacing any.
	SaveOrder(ctx context.Context, o Order) error
}

// OwnerOf is how an owner is recorded: the default tenant (API_KEYS, and
// every order made before tenants) as "".
func OwnerOf(tenant string) string {
	if tenant == "default" {
		return ""
	}
	return tenant
}

// UpstreamOrderNo is the order number sent upstream for an owner's order
// number: the number itself for the default tenant; for another tenant "t"
// and 31 hex digits of SHA-256(owner, NUL, orderNo), so that two tenants
// may use the same number without colliding upstream (32 letters and
// digits, as the upstream takes them; docs/architecture.md, "Tenants").
func UpstreamOrderNo(owner, orderNo string) string {
	owner = OwnerOf(owner)
	if owner == "" || orderNo == "" {
		return orderNo
	}
	sum := sha256.Sum256([]byte(owner + "\x00" + orderNo))
	return "t" + hex.EncodeToString(sum[:])[:31]
}

// clockSkew is how far an upstream's clock may be behind ours when a
// result's processing time is compared with the time an order was claimed.
const clockSkew = 5 * time.Minute

// ImageSHA256 hashes an image as received (streamed: an upload is never
// held whole), or the URL of an imageUrl submission.
func ImageSHA256(img Image, imageURL string) (string, error) {
	h := sha256.New()
	if imageURL != "" {
		h.Write([]byte("url:" + imageURL))
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	if img.Size == int64(len(img.Head)) || img.Open == nil {
		h.Write(img.Head)
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	rc, err := img.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// storeError is the answer when the order store cannot be read or written:
// without it a reused order number cannot be told from a retry, so nothing
// is sent.
func storeError(err error) error {
	return &errcode.Error{Code: errcode.StoreUnavailable, Retryable: true, Err: err,
		Message: "the order store did not answer; nothing was sent upstream, try again"}
}

// claim records a new order before its submit. For a generated order
// number it records nothing yet (a fresh random number cannot collide; the
// outcome is recorded after the call). For a caller's order number it
// returns the record the number already has, or an error: order_conflict
// when that record is for other content, erased when it was erased.
func (s *Service) claim(ctx context.Context, o *Order, callerOrder bool) (prev *Order, err error) {
	if s.Orders == nil || !callerOrder {
		return nil, nil
	}
	prev, err = s.Orders.Claim(ctx, *o)
	if err != nil {
		return nil, storeError(err)
	}
	if prev == nil {
		return nil, nil
	}
	switch {
	case prev.State == OrderIssued && prev.Owner == o.Owner && prev.Kind == o.Kind && prev.Side == o.Side:
		// The image of an issued upload form has arrived (or the caller
		// sent it directly instead): this submit is the order's first.
		o.CreatedAt, o.Upload, o.ExpiresAt = prev.CreatedAt, prev.Upload, prev.ExpiresAt
		if err := s.Orders.SaveOrder(ctx, *o); err != nil {
			return nil, storeError(err)
		}
		return nil, nil
	case prev.State == OrderErased:
		return nil, &errcode.Error{Code: errcode.OrderConflict, OrderNo: o.OrderNo,
			Message: "this orderNo belongs to an erased order; use a new orderNo"}
	case prev.Owner != o.Owner:
		// Another tenant's number: told apart from nothing else.
		return nil, conflict(o.OrderNo, "another image")
	case prev.Kind != o.Kind:
		return nil, conflict(o.OrderNo, "a "+kindNoun(prev.Kind))
	case prev.Side != o.Side:
		return nil, conflict(o.OrderNo, "the other side of an ID card")
	case prev.ImageSHA256 != o.ImageSHA256:
		return nil, conflict(o.OrderNo, "another image")
	}
	o.CreatedAt = prev.CreatedAt // the order is as old as its first claim
	return prev, nil
}

func kindNoun(kind string) string {
	if kind == KindBankCard {
		return "bank card"
	}
	return "ID card"
}

// settle records an order's outcome. A failure to write it is logged, not
// returned: the answer is the caller's, and the claim (if any) already
// guards the number.
func (s *Service) settle(ctx context.Context, o Order, provider string, err error) {
	if s.Orders == nil {
		return
	}
	o.Provider = provider
	o.UpdatedAt = s.now().UTC()
	switch {
	case err == nil:
		o.State = OrderDone
	case MayHaveReached(err) && errcode.ErrorCode(err) != errcode.RecognitionFailed:
		o.State = OrderSending // the outcome upstream is unknown
	default:
		o.State, o.Code = OrderFailed, string(errcode.ErrorCode(err))
		if o.Upload {
			o.Message = errcode.AsError(err).Message
		}
	}
	if errcode.ErrorCode(err) == errcode.OrderConflict {
		return // the record is someone else's
	}
	if werr := s.Orders.SaveOrder(context.WithoutCancel(ctx), o); werr != nil {
		s.logger().WarnContext(ctx, "order record not written", "kind", o.Kind, "err", werr.Error())
	}
}

// newOrder starts the record of a submit.
func (s *Service) newOrder(kind, side, orderNo string, img Image, imageURL string) (Order, error) {
	o := Order{OrderNo: orderNo, Kind: kind, Side: side, State: OrderSending}
	o.CreatedAt = s.now().UTC()
	o.UpdatedAt = o.CreatedAt
	if s.Orders == nil {
		return o, nil
	}
	h, err := ImageSHA256(img, imageURL)
	if err != nil {
		return o, errcode.Wrap(errcode.InvalidImage, err, "the image could not be read")
	}
	o.ImageSHA256 = h
	return o, nil
}

// lookup returns an order's record for a result query: erased → 410, a
// record of the other kind → 404, none → nil (orders made before records,
// or by the upload and queue paths, are queried upstream as before).
func (s *Service) lookup(ctx context.Context, kind string, q ResultQuery) (*Order, error) {
	if s.Orders == nil {
		return nil, nil
	}
	o, err := s.Orders.Order(ctx, OwnerOf(q.Owner), q.OrderNo)
	if err != nil {
		return nil, storeError(err)
	}
	switch {
	case o == nil && OwnerOf(q.Owner) != "":
		// A tenant's orders all have records: no record, no order (the
		// upstream is not asked, whoever else used the number).
		return nil, errcode.Errorf(errcode.NotFound, "no %s result under this orderNo", kindNoun(kind))
	case o == nil:
		return nil, nil
	case o.Owner != OwnerOf(q.Owner):
		// Another tenant's order is answered as no order at all.
		return nil, errcode.Errorf(errcode.NotFound, "no %s result under this orderNo", kindNoun(kind))
	case o.Kind != "" && o.Kind != kind:
		return nil, errcode.Errorf(errcode.NotFound, "no %s result under this orderNo", kindNoun(kind))
	case o.State == OrderErased:
		return nil, &errcode.Error{Code: errcode.Erased, Message: "this order was erased on request"}
	case o.State == OrderIssued && s.now().After(o.ExpiresAt.Add(UploadGrace)):
		return nil, &errcode.Error{Code: errcode.UploadExpired, OrderNo: q.OrderNo,
			Message: "no image was uploaded with this order's form before it expired at " + o.ExpiresAt.UTC().Format(time.RFC3339) + "; request a new upload"}
	case o.State == OrderIssued || o.Upload && o.State == OrderSending:
		return nil, &errcode.Error{Code: errcode.Pending, OrderNo: q.OrderNo, Message: "the upload's result is not there yet"}
	case o.Upload && o.State == OrderFailed:
		// As the submit would have answered it.
		msg := o.Message
		if msg == "" {
			msg = "the uploaded image was not recognized"
		}
		return nil, &errcode.Error{Code: errcode.Code(o.Code), OrderNo: q.OrderNo, Message: msg}
	}
	return o, nil
}

// ourResult reports whether a result found upstream under a claimed order
// number can be this order's: not processed before the order was claimed.
// (A number used upstream before this service recorded it is someone
// else's.)
func ourResult(o *Order, processed time.Time) bool {
	return processed.IsZero() || o == nil || !processed.Before(o.CreatedAt.Add(-clockSkew))
}

var errNoQuerier = errors.New("ocr: provider keeps no results")

// Erasure asks for everything held for one order to be erased.
type Erasure struct {
	Kind    string
	OrderNo string
	Owner   string // the tenant ("" before tenants)
	// Caller names who asked: an API key's id, or "operator".
	Caller string
	Reason string // free text from the caller; must hold no personal data
	DryRun bool   // list what would go; delete and record nothing
}

// Erased says what an erasure removed.
type Erased struct {
	Objects   int      // objects deleted
	Keys      []string // their keys (for a dry run's listing; never logged)
	AuditKey  string   // the audit record written
	Tombstone bool     // the order's record now says erased
}

// Evidence keeps the results of providers that keep none themselves
// (WeChat, Tencent Cloud), so that their orders can be queried like
// WeBank's (EVIDENCE=on; the archive).
type Evidence interface {
	// SaveResult keeps owner's result (under the owner's own prefix).
	SaveResult(ctx context.Context, owner, kind, orderNo string, result any) error
	// ArchivedResult returns an order's archived result, or nil.
	ArchivedResult(ctx context.Context, kind, orderNo string) (json.RawMessage, error)
}

// keepsResults reports whether p answers result queries itself.
func keepsResults(p Provider) bool {
	_, ok := p.(Querier)
	return ok
}

// keepEvidence archives the result of a provider that keeps none, when
// evidence is on. A failure is logged: the answer is the caller's already.
func (s *Service) keepEvidence(ctx context.Context, p Provider, owner, kind, orderNo string, result any) {
	if s.Evidence == nil || p == nil || keepsResults(p) {
		return
	}
	if err := s.Evidence.SaveResult(context.WithoutCancel(ctx), owner, kind, orderNo, result); err != nil {
		s.logger().ErrorContext(ctx, "result not archived; a later query of this order will not find it",
			"kind", kind, "provider", p.Name(), "err", err.Error())
	}
}

// archived answers a query of an order made by a provider that keeps no
// results: from the archive when evidence is on, else a 404 that says so.
func (s *Service) archived(ctx context.Context, kind string, o *Order, into any) error {
	if s.Evidence == nil {
		return &errcode.Error{Code: errcode.NotFound, Err: errNoQuerier,
			Message: "this order was made by provider " + o.Provider + ", which keeps no results, and this deployment archives none (EVIDENCE is off)"}
	}
	raw, err := s.Evidence.ArchivedResult(ctx, kind, UpstreamOrderNo(o.Owner, o.OrderNo))
	if err != nil {
		return storeError(err)
	}
	if raw == nil {
		return &errcode.Error{Code: errcode.NotFound, Err: errNoQuerier,
			Message: "this order was made by provider " + o.Provider + ", which keeps no results, and its result was not archived"}
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return errcode.Wrap(errcode.Internal, err, "the archived result is unreadable")
	}
	return nil
}
