// Package resultfetch is the resultfetch function: it archives OCR evidence.
//
//   - Queue messages {"kind":"idcard"|"bankcard","orderNo":"…"} (SQS
//     Records[].body on AWS, CMQ/TDMQ Records[].CMQ.msgBody on SCF): the result
//     is queried with its photos and archived.
//   - Object-created events (S3 on AWS, COS on SCF) for keys under
//     uploads/idcard/front/, uploads/idcard/back/ and uploads/bankcard/: the
//     uploaded image is streamed from object storage into the upstream
//     submission (base64 on the fly, exact Content-Length) and the result is
//     archived. The order number is derived from bucket, key, ETag and size,
//     so a retry of the same upload finds its done marker.
//
// The photos come late ("部分情况下获取照片会有1秒左右的延迟") and the order
// number is the only way to fetch them, so an order is never marked done
// while photos it asked for are missing: resultfetch asks again within the
// invocation, then fails the item so that the platform redelivers it. Only
// an order older than PhotoCutoff (the upstream keeps results for days) is
// archived without them, marked "photosMissing", logged at error level and
// counted (metric photos_missing).
//
// An order whose done marker exists costs no upstream call. Failures are
// reported so the platform redelivers: SQS batches answer
// {"batchItemFailures":[…]} (ReportBatchItemFailures), every other event
// fails the invocation. Nothing in logs or errors carries a card number,
// name, ID number, image, token or ticket.
package resultfetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/callback"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/tenants"
	"github.com/cardocr/cardocr/shared/uploads"
)

// OCR is the OCR service as resultfetch uses it (an *ocr.Service).
type OCR interface {
	SubmitIDCard(ctx context.Context, r ocr.IDCardRequest) (*ocr.IDCardResult, error)
	IDCardResult(ctx context.Context, q ocr.ResultQuery) (*ocr.IDCardResult, error)
	SubmitBankCard(ctx context.Context, r ocr.BankCardRequest) (*ocr.BankCardResult, error)
	BankCardResult(ctx context.Context, q ocr.ResultQuery) (*ocr.BankCardResult, error)
	ValidateIDCardRequest(r *ocr.IDCardRequest) error
	ValidateBankCardRequest(r *ocr.BankCardRequest) error
}

// Handler handles resultfetch events.
type Handler struct {
	OCR     OCR
	Archive *archive.Archive
	// Uploads opens the bucket an object-created event names; nil means
	// the archive's bucket (when it is a BucketOpener) answers.
	Uploads func(ctx context.Context, bucket, region string) (archive.Bucket, error)
	Logger  *slog.Logger
	Metrics *metrics.Recorder // photos_missing; nil: none

	// PhotoPatience bounds how long one item waits for late photos
	// [DefaultPhotoPatience], and never past the invocation's deadline
	// less a margin.
	PhotoPatience time.Duration
	// PhotoCutoff: an order processed longer ago than this is archived
	// without the photos that never came [DefaultPhotoCutoff].
	PhotoCutoff time.Duration
	// PendingGrace: see DefaultPendingGrace.
	PendingGrace time.Duration
	// Callbacks delivers callback messages; nil: they are rejected.
	Callbacks *callback.Deliverer
	// TenantQuota is a tenant's daily quota of billable calls, for the
	// uploads made through its forms (nil: no tenants).
	TenantQuota func(ctx context.Context, owner string) (int, error)
	Now         func() time.Time // [time.Now]
}

// Defaults of the photo waits.
const (
	DefaultPhotoPatience = 20 * time.Second
	// DefaultPhotoCutoff is about the upstream's retention ("kept 3
	// days"): past it, asking again cannot bring the photos.
	DefaultPhotoCutoff = 72 * time.Hour
)

// ErrPhotosPending fails an item whose result exists but whose photos have
// not come yet: the platform redelivers it later.
var ErrPhotosPending = errors.New("resultfetch: the result's photos have not come yet; redeliver")

// BatchItemFailure is one failed SQS message.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// SQSResponse is the answer to an SQS batch (ReportBatchItemFailures).
type SQSResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// Outcome is what happened to one item.
type Outcome string

const (
	Archived        Outcome = "archived"         // fetched or submitted, then archived
	AlreadyArchived Outcome = "already_archived" // done marker found: no upstream call
	FailedArchived  Outcome = "failed_archived"  // permanent failure archived as the outcome
	Ignored         Outcome = "ignored"          // an object outside uploads/…
	ErasedOrder     Outcome = "erased"           // the order was erased on request: nothing archived
	Rejected        Outcome = "rejected"         // a message that can never succeed, recorded under _rejected/
)

// rejection is an item that no redelivery can make succeed: it is recorded
// and acknowledged instead of going round until the dead-letter queue.
type rejection struct{ reason string }

func (r *rejection) Error() string { return "resultfetch: " + r.reason }

// Summary answers events that are not SQS batches.
type Summary struct {
	Processed int            `json:"processed"`
	Outcomes  map[string]int `json:"outcomes"`
	// Rejected says why each rejected item can never succeed.
	Rejected []RejectedItem `json:"rejected,omitempty"`
}

// RejectedItem is one item recorded under _rejected/ and acknowledged.
type RejectedItem struct {
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// ErrItemsFailed fails an invocation (not an SQS batch) so that the platform
// redelivers it; items already done cost nothing the second time.
var ErrItemsFailed = errors.New("resultfetch: some items failed; redeliver")

func (h *Handler) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// Handle is the function's event handler (platform.Function.Event).
func (h *Handler) Handle(ctx context.Context, event json.RawMessage) (any, error) {
	items, err := parseEvent(event)
	if err != nil {
		return nil, fmt.Errorf("resultfetch: %w", err)
	}
	var failures []BatchItemFailure
	sum := Summary{Outcomes: map[string]int{}}
	sqs := false
	for _, it := range items {
		if it.source == "sqs" {
			sqs = true
		}
		out, err := h.handleItem(ctx, it)
		sum.Processed++
		var rej *rejection
		if errors.As(err, &rej) {
			if out, err = h.reject(ctx, it, rej); err == nil {
				sum.Rejected = append(sum.Rejected, RejectedItem{ID: logID(it), Reason: rej.reason})
			}
		}
		if err != nil {
			h.log().ErrorContext(ctx, "resultfetch item failed", "source", it.source, "item", logID(it), "err", err)
			failures = append(failures, BatchItemFailure{ItemIdentifier: it.id})
			sum.Outcomes["failed"]++
			continue
		}
		h.log().InfoContext(ctx, "resultfetch item", "source", it.source, "item", logID(it), "outcome", string(out))
		sum.Outcomes[string(out)]++
	}
	if sqs {
		if failures == nil {
			failures = []BatchItemFailure{}
		}
		return SQSResponse{BatchItemFailures: failures}, nil
	}
	if len(failures) > 0 {
		return nil, fmt.Errorf("%w (%d of %d)", ErrItemsFailed, len(failures), len(items))
	}
	return sum, nil
}

// logID is what logs may say about an item: message ids as they are; object
// keys are the partner's names, which might embed anything, so only a hash.
func logID(it item) string {
	if it.upload != nil {
		s := sha256.Sum256([]byte(it.upload.Bucket + "/" + it.upload.Key))
		return "object:" + hex.EncodeToString(s[:6])
	}
	return it.id
}

func (h *Handler) handleItem(ctx context.Context, it item) (Outcome, error) {
	if it.bad != "" {
		return "", &rejection{it.bad}
	}
	if it.upload != nil {
		return h.handleUpload(ctx, *it.upload)
	}
	var m Message
	if err := json.Unmarshal(it.message, &m); err != nil {
		return "", &rejection{"message body is not JSON"}
	}
	if m.Callback != nil {
		return h.handleCallback(ctx, *m.Callback)
	}
	return h.handleMessage(ctx, m)
}

// handleCallback makes one delivery attempt; a failed one is queued
// again with its backoff (the message is done), one past 24 h fails (the
// platform moves it to the dead-letter queue).
func (h *Handler) handleCallback(ctx context.Context, j callback.Job) (Outcome, error) {
	if h.Callbacks == nil {
		return "", &rejection{"a callback message, but callbacks are not configured here (CALLBACK_URL)"}
	}
	if !sign.ValidOrderNo(j.OrderNo) || j.Kind != archive.KindIDCard && j.Kind != archive.KindBankCard ||
		j.Status != callback.Done && j.Status != callback.Failed || j.Tenant != "" && !tenants.ValidID(j.Tenant) {
		return "", &rejection{"a callback message must name a kind, an orderNo, a status and at most a tenant id"}
	}
	out, err := h.Callbacks.Deliver(ctx, j)
	if err != nil {
		return "", err
	}
	return Outcome("callback_" + out), nil
}

// reject records an item that can never succeed and acknowledges it. If
// even the record cannot be written, the item fails (and is redelivered).
func (h *Handler) reject(ctx context.Context, it item, rej *rejection) (Outcome, error) {
	id := it.id
	if !safeID(id) {
		sum := sha256.Sum256([]byte(it.id + "\x00" + string(it.message)))
		id = hex.EncodeToString(sum[:12])
	}
	key, err := h.Archive.Reject(ctx, it.source, id, rej.reason)
	if err != nil {
		return "", fmt.Errorf("%w (and recording it failed: %w)", rej, err)
	}
	h.log().ErrorContext(ctx, "resultfetch item rejected; recorded and acknowledged", "source", it.source, "item", logID(it), "reason", rej.reason, "record", key)
	return Rejected, nil
}

func safeID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// KindOf infers a message's kind from the order numbers this project makes
// (sign.OrderNo "id…"/"bank…" plus the time and "T"): "" when it cannot
// tell, and the message must then name its kind.
func KindOf(orderNo string) string {
	for prefix, kind := range map[string]string{"id": archive.KindIDCard, "bank": archive.KindBankCard} {
		rest, ok := strings.CutPrefix(orderNo, prefix)
		if !ok || len(rest) < 13 || rest[12] != 'T' {
			continue
		}
		if _, err := strconv.ParseUint(rest[:12], 10, 64); err == nil {
			return kind
		}
	}
	return ""
}

// CheckMessage validates a queue message and fills in a kind it may leave
// out; the error says why it can never succeed.
func CheckMessage(m Message) (Message, error) {
	if !sign.ValidOrderNo(m.OrderNo) {
		return m, &rejection{"message orderNo must be 1 to 32 letters or digits"}
	}
	if m.Tenant != "" && !tenants.ValidID(m.Tenant) {
		return m, &rejection{"message tenant must be a tenant id (lowercase letters, digits and '-')"}
	}
	if m.Kind == "" {
		m.Kind = KindOf(m.OrderNo)
	}
	if m.Kind != archive.KindIDCard && m.Kind != archive.KindBankCard {
		return m, &rejection{`message kind must be "idcard" or "bankcard": send {"kind":"idcard"|"bankcard","orderNo":"…"} (kind may be left out for an order number this API generated or recorded)`}
	}
	return m, nil
}

// handleMessage queries an order's result with its photos and archives it.
func (h *Handler) handleMessage(ctx context.Context, m Message) (Outcome, error) {
	if m.Tenant != "" && !tenants.ValidID(m.Tenant) {
		return "", &rejection{"message tenant must be a tenant id (lowercase letters, digits and '-')"}
	}
	owner := ocr.OwnerOf(m.Tenant)
	if (owner != "" || m.Kind == "" && KindOf(m.OrderNo) == "") && sign.ValidOrderNo(m.OrderNo) {
		// A caller's own order number: its record, when this service
		// made the order, says the kind. A tenant's orders all have one.
		o, err := h.Archive.Order(ctx, owner, m.OrderNo)
		if err != nil {
			return "", err
		}
		if o == nil && owner != "" {
			return "", &rejection{"no order of this tenant under this orderNo"}
		}
		if o != nil && m.Kind == "" {
			m.Kind = o.Kind
		}
	}
	m, err := CheckMessage(m)
	if err != nil {
		return "", err
	}
	// The archive keeps an order under the number sent upstream (unique
	// across tenants), a tenant's under its own prefix.
	upNo := ocr.UpstreamOrderNo(owner, m.OrderNo)
	done, err := h.Archive.Done(ctx, m.Kind, upNo)
	if err != nil {
		return "", err
	}
	if done {
		return AlreadyArchived, nil
	}
	rec, err := h.fetchWithPhotos(ctx, m.Kind, owner, m.OrderNo)
	if errcode.ErrorCode(err) == errcode.Erased {
		// Erased on request: archiving it again would undo the erasure.
		h.log().InfoContext(ctx, "message for an erased order acknowledged; nothing archived", "kind", m.Kind)
		return ErasedOrder, nil
	}
	if errcode.ErrorCode(err) == errcode.NotFound {
		// The upstream does not know the order (or no longer keeps it):
		// no redelivery can change that.
		de := errcode.AsError(err)
		rec.Error = &archive.Failure{Code: string(de.Code), Message: "the upstream has no result for this order", UpstreamCode: de.UpstreamCode}
		if _, err := h.Archive.Save(ctx, rec); err != nil {
			return "", err
		}
		return FailedArchived, nil
	}
	if err != nil {
		return "", err
	}
	if _, err := h.Archive.Save(ctx, rec); err != nil {
		return "", err
	}
	return Archived, nil
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// fetchWithPhotos queries an order with its photos. While they are late it
// asks again (each query itself re-asks for a few seconds), for at most
// PhotoPatience and never within a few seconds of the deadline; then the
// item fails with ErrPhotosPending, unless the order is past PhotoCutoff.
func (h *Handler) fetchWithPhotos(ctx context.Context, kind, owner, orderNo string) (archive.Record, error) {
	patience := h.PhotoPatience
	if patience <= 0 {
		patience = DefaultPhotoPatience
	}
	cutoff := h.PhotoCutoff
	if cutoff <= 0 {
		cutoff = DefaultPhotoCutoff
	}
	until := time.Now().Add(patience)
	if d, ok := ctx.Deadline(); ok && d.Add(-5*time.Second).Before(until) {
		until = d.Add(-5 * time.Second)
	}
	for {
		rec, pending, at, err := h.query(ctx, kind, owner, orderNo, true)
		switch {
		case err != nil:
			return rec, err
		case !pending:
			return rec, nil
		case !at.IsZero() && h.now().Sub(at) > cutoff:
			rec.PhotosMissing = true
			h.log().ErrorContext(ctx, "photos never came; archiving the result without them",
				"kind", kind, "orderNo", orderNo, "orderAge", h.now().Sub(at).Round(time.Minute).String())
			h.Metrics.Event(ctx, "photos_missing", kind)
			return rec, nil
		case time.Until(until) <= 0:
			return rec, ErrPhotosPending
		}
		t := time.NewTimer(min(time.Second, time.Until(until)))
		select {
		case <-ctx.Done():
			t.Stop()
			return rec, ErrPhotosPending
		case <-t.C:
		}
	}
}

// query fetches a result as an archive record, photos split off; pending
// says photos asked for are missing, at when the upstream processed it.
func (h *Handler) query(ctx context.Context, kind, owner, orderNo string, files bool) (rec archive.Record, pending bool, at time.Time, err error) {
	rec = archive.Record{Kind: kind, OrderNo: ocr.UpstreamOrderNo(owner, orderNo), Owner: owner}
	if kind == archive.KindIDCard {
		res, err := h.OCR.IDCardResult(ctx, ocr.ResultQuery{OrderNo: orderNo, Files: files, Owner: owner})
		if err != nil {
			return rec, false, at, err
		}
		if rec.Photos, err = photos(res.Files); err != nil {
			return rec, false, at, err
		}
		res.Files = nil
		pending, at, res.FilesPending = res.FilesPending, res.OrderTime, false
		rec.Result = res.ForArchive()
		return rec, pending, at, nil
	}
	res, err := h.OCR.BankCardResult(ctx, ocr.ResultQuery{OrderNo: orderNo, Files: files, Owner: owner})
	if err != nil {
		return rec, false, at, err
	}
	if rec.Photos, err = photos(res.Files); err != nil {
		return rec, false, at, err
	}
	res.Files = nil
	pending, at, res.FilesPending = res.FilesPending, res.OrderTime, false
	rec.Result = res.ForArchive()
	return rec, pending, at, nil
}

// photos hands the archive each photo's base64 text as received (no copy
// when the string has no escapes: it is megabytes).
func photos(files map[string]ocr.Photo) (map[string][]byte, error) {
	if len(files) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(files))
	for name, p := range files {
		b, err := p.Base64()
		if err != nil {
			return nil, fmt.Errorf("resultfetch: photo %s is not a JSON string: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// Upload prefixes and what they hold.
var uploadKinds = []struct {
	prefix, kind, side string
}{
	{"uploads/idcard/front/", archive.KindIDCard, ocr.Front},
	{"uploads/idcard/back/", archive.KindIDCard, ocr.Back},
	{"uploads/bankcard/", archive.KindBankCard, ""},
}

// UploadOrderNo is the order number of an uploaded object: the same object
// (bucket, key, ETag, size) always gets the same one, so a redelivered
// event finds the done marker of its first delivery.
func UploadOrderNo(bucket, key, etag string, size int64) string {
	s := sha256.Sum256([]byte(bucket + "\x00" + key + "\x00" + etag + "\x00" + strconv.FormatInt(size, 10)))
	return "up" + hex.EncodeToString(s[:15]) // 32 letters and digits
}

// permanent reports whether an error is the upload's own fault: submitting
// it again cannot succeed, so the failure is archived as its outcome.
func permanent(err error) bool {
	switch errcode.ErrorCode(err) {
	case errcode.InvalidImage, errcode.ImageTooLarge, errcode.RecognitionFailed, errcode.InvalidRequest:
		return true
	}
	return false
}

func (h *Handler) bucket(ctx context.Context, u Upload) (archive.Bucket, error) {
	if h.Uploads != nil {
		return h.Uploads(ctx, u.Bucket, u.Region)
	}
	if bo, ok := h.Archive.Bucket.(archive.BucketOpener); ok {
		return bo.OpenBucket(ctx, u.Bucket, u.Region)
	}
	return nil, errors.New("resultfetch: the archive cannot open upload buckets")
}

// handleUpload submits an uploaded image, streamed from object storage, and
// archives the result with its photos.
//
// The pending marker decides who submits: it is created only if absent
// (ClaimPending), so of concurrent deliveries exactly one submits and the
// others, like every later delivery, query instead. A delivery that finds
// a pending order with no result upstream waits while the submission may
// still be in flight (PendingGrace), then archives the order as an error:
// the upstream answered our submission without keeping a result, and
// submitting the same order number again could only be refused.
//
// Once the order is archived the uploaded object is deleted: the archive
// holds the upstream's photos, and one copy of a face is enough (the
// bucket's 1-day rule on uploads/ is the safety net when this fails).
func (h *Handler) handleUpload(ctx context.Context, u Upload) (Outcome, error) {
	out, err := h.submitUpload(ctx, u)
	switch {
	case err != nil:
		return out, err
	case out == Archived || out == FailedArchived || out == AlreadyArchived || out == ErasedOrder:
		b, berr := h.bucket(ctx, u)
		if berr == nil {
			berr = b.Delete(ctx, u.Key)
		}
		if berr != nil {
			h.log().WarnContext(ctx, "archived upload not deleted; the bucket's lifecycle rule will remove it", "err", berr.Error())
		}
	}
	return out, nil
}

func (h *Handler) submitUpload(ctx context.Context, u Upload) (Outcome, error) {
	if !plainKey(u.Key) {
		// uploads/bankcard/../../credentials.json is "under uploads/" as
		// written but not as a file store resolves it.
		return "", &rejection{"the object key is not a plain path (empty, dot or dot-dot segments, or a leading slash)"}
	}
	var kind, side, rest string
	for _, k := range uploadKinds {
		if r, ok := strings.CutPrefix(u.Key, k.prefix); ok && r != "" && !strings.HasSuffix(r, "/") {
			kind, side, rest = k.kind, k.side, r
			break
		}
	}
	if kind == "" {
		return Ignored, nil
	}
	b, err := h.bucket(ctx, u)
	if err != nil {
		return "", err
	}
	info, err := b.Stat(ctx, u.Key)
	if errors.Is(err, archive.ErrNotExist) {
		return Ignored, nil // deleted since: nothing to submit
	}
	if err != nil {
		return "", fmt.Errorf("resultfetch: upload: %w", err)
	}
	// An upload through a form this API issued is the order the form
	// named, its tenant's; any other object gets a number of its own. A
	// key of the API's shape is never taken for another object: its order
	// may have been erased (the tombstone keeps no trace of the form), and
	// a photo of an erased or unknown order must not be sent, nor billed
	// to the default tenant.
	owner, orderNo := "", ""
	if o, n, ok := uploads.ParseKey(rest); ok {
		rec, err := h.Archive.Order(ctx, o, n)
		if err != nil {
			return "", err
		}
		switch {
		case rec != nil && rec.State == ocr.OrderErased:
			return ErasedOrder, nil // erased before its photo came: nothing is sent
		case rec != nil && rec.Upload && rec.Owner == o && rec.Kind == kind && rec.Side == side:
			owner, orderNo = o, n
		default:
			return "", &rejection{"the object is named as an upload form names it, but no such form was issued for this order"}
		}
	}
	if orderNo == "" {
		orderNo = UploadOrderNo(u.Bucket, u.Key, info.ETag, info.Size)
	}
	upNo := ocr.UpstreamOrderNo(owner, orderNo) // the archive keeps orders by it
	done, err := h.Archive.Done(ctx, kind, upNo)
	if err != nil {
		return "", err
	}
	if done {
		return AlreadyArchived, nil
	}
	src := &archive.Source{Bucket: u.Bucket, Key: u.Key, ETag: info.ETag, Size: info.Size}
	pm, err := h.Archive.Pending(ctx, kind, upNo)
	if err != nil {
		return "", err
	}
	if pm != nil && pm.State != archive.NotSent {
		return h.resumePending(ctx, kind, owner, orderNo, src, pm)
	}

	head, err := readHead(ctx, b, u.Key, info.Size)
	if err != nil {
		return "", err
	}
	img := ocr.Image{Size: info.Size, Head: head, Open: func() (io.ReadCloser, error) {
		rc, oi, err := b.Open(ctx, u.Key)
		if err != nil {
			return nil, err
		}
		if oi.Size != info.Size {
			rc.Close()
			return nil, errors.New("resultfetch: the object changed while it was being read")
		}
		return rc, nil
	}}
	rec := archive.Record{Kind: kind, OrderNo: upNo, Owner: owner, Source: src}
	// Reject what no upstream would take before claiming anything (the
	// size is the object's, known before it is read).
	limit := 0
	if owner != "" && h.TenantQuota != nil {
		if limit, err = h.TenantQuota(ctx, owner); err != nil {
			return "", fmt.Errorf("resultfetch: the tenant's quota: %w", err)
		}
	}
	idReq := ocr.IDCardRequest{Side: side, Image: img, OrderNo: orderNo, Owner: owner, Quota: limit}
	bankReq := ocr.BankCardRequest{Image: img, OrderNo: orderNo, Owner: owner, Quota: limit}
	var verr error
	if kind == archive.KindIDCard {
		verr = h.OCR.ValidateIDCardRequest(&idReq)
	} else {
		verr = h.OCR.ValidateBankCardRequest(&bankReq)
	}
	if verr == nil {
		if pm == nil {
			claimed, err := h.Archive.ClaimPending(ctx, kind, upNo)
			if err != nil {
				return "", err
			}
			if !claimed { // another delivery is submitting it
				if pm, err = h.Archive.Pending(ctx, kind, upNo); err != nil || pm == nil {
					return "", errors.Join(errors.New("resultfetch: lost the claim but found no pending marker"), err)
				}
				return h.resumePending(ctx, kind, owner, orderNo, src, pm)
			}
		} else if err := h.Archive.SetPending(ctx, kind, upNo, archive.Sending); err != nil {
			return "", err
		}
		if kind == archive.KindIDCard {
			var res *ocr.IDCardResult
			if res, verr = h.OCR.SubmitIDCard(ctx, idReq); verr == nil {
				rec.Result = res.ForArchive()
			}
		} else {
			var res *ocr.BankCardResult
			if res, verr = h.OCR.SubmitBankCard(ctx, bankReq); verr == nil {
				rec.Result = res.ForArchive()
			}
		}
	}
	out := Archived
	switch {
	case verr != nil && !permanent(verr):
		if !ocr.MayHaveReached(verr) {
			// Nothing reached the upstream: the next delivery may submit.
			if err := h.Archive.SetPending(ctx, kind, upNo, archive.NotSent); err != nil {
				return "", errors.Join(verr, err)
			}
		}
		return "", verr
	case verr != nil:
		de := errcode.AsError(verr)
		rec.Error = &archive.Failure{Code: string(de.Code), Message: de.Message, UpstreamCode: de.UpstreamCode}
		out = FailedArchived
	default:
		// The evidence is the photos: the submit answer has none, and
		// they may come late. Without them the item fails; the pending
		// marker makes the redelivery query instead of submitting again.
		withPhotos, err := h.fetchWithPhotos(ctx, kind, owner, orderNo)
		if err != nil {
			return "", err
		}
		rec.Photos, rec.PhotosMissing = withPhotos.Photos, withPhotos.PhotosMissing
	}
	if _, err := h.Archive.Save(ctx, rec); err != nil {
		return "", err
	}
	return out, nil
}

// plainKey: no empty, "." or ".." segments and no leading slash, so that
// every store reads the same object under the key. (A trailing slash, a
// console's folder placeholder, is allowed here and ignored later.)
func plainKey(k string) bool {
	k = strings.TrimSuffix(k, "/")
	if k == "" || strings.HasPrefix(k, "/") {
		return false
	}
	for _, seg := range strings.Split(k, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// DefaultPendingGrace is how long a submission may still be in flight after
// its pending marker was written (the upstream call's own bound, with a
// margin): until then, "no result" may only mean "not yet".
const DefaultPendingGrace = 2 * time.Minute

// ErrSubmissionInFlight fails a delivery that found another delivery's
// submission still in flight: the platform redelivers it later.
var ErrSubmissionInFlight = errors.New("resultfetch: another delivery's submission of this upload is in flight; redeliver")

// resumePending archives an order whose submission was claimed before: its
// result (with photos) if the upstream has one; if not, once the
// submission cannot be in flight any more, an error outcome. It never
// submits again.
func (h *Handler) resumePending(ctx context.Context, kind, owner, orderNo string, src *archive.Source, pm *archive.PendingMarker) (Outcome, error) {
	rec, err := h.fetchWithPhotos(ctx, kind, owner, orderNo)
	switch {
	case err == nil:
		rec.Source = src
		if _, err := h.Archive.Save(ctx, rec); err != nil {
			return "", err
		}
		h.settleUploadOrder(ctx, owner, orderNo, nil)
		return Archived, nil
	case errcode.ErrorCode(err) != errcode.NotFound && errcode.ErrorCode(err) != errcode.RecognitionFailed:
		return "", err
	}
	grace := h.PendingGrace
	if grace <= 0 {
		grace = DefaultPendingGrace
	}
	if age := h.now().Sub(pm.StartedAt); age < grace {
		return "", ErrSubmissionInFlight
	}
	de := errcode.AsError(err)
	rec = archive.Record{Kind: kind, OrderNo: ocr.UpstreamOrderNo(owner, orderNo), Owner: owner, Source: src, Error: &archive.Failure{
		Code: string(de.Code), UpstreamCode: de.UpstreamCode,
		Message: "the upstream has no result for this order, which was submitted before; it is not submitted again",
	}}
	h.log().ErrorContext(ctx, "a submitted order has no result upstream; archived as an error", "kind", kind, "orderNo", orderNo)
	if _, err := h.Archive.Save(ctx, rec); err != nil {
		return "", err
	}
	h.settleUploadOrder(ctx, owner, orderNo, rec.Error)
	return FailedArchived, nil
}

// settleUploadOrder records the outcome of an order made through an upload
// form whose submission was cut off (its record still says sending): the
// result query would otherwise answer 202 for it forever. Any other record
// is left as it is. A failure to write is logged; the next delivery, or
// the caller's query of the archived result, is not blocked by it.
func (h *Handler) settleUploadOrder(ctx context.Context, owner, orderNo string, failure *archive.Failure) {
	o, err := h.Archive.Order(ctx, owner, orderNo)
	if err != nil || o == nil || !o.Upload || o.State != ocr.OrderSending {
		return
	}
	o.State, o.UpdatedAt = ocr.OrderDone, h.now().UTC()
	if failure != nil {
		o.State, o.Code, o.Message = ocr.OrderFailed, failure.Code, failure.Message
	}
	if err := h.Archive.SaveOrder(ctx, *o); err != nil {
		h.log().WarnContext(ctx, "upload order's record not settled", "orderNo", orderNo, "err", err.Error())
	}
}

// readHead reads the upload's first bytes (the whole of a small one) for
// the image checks; the image itself is streamed later.
func readHead(ctx context.Context, b archive.Bucket, key string, size int64) ([]byte, error) {
	rc, _, err := b.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("resultfetch: upload: %w", err)
	}
	defer rc.Close()
	head := make([]byte, min(size, ocr.HeadLen))
	n, err := io.ReadFull(rc, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("resultfetch: upload: %w", err)
	}
	return head[:n], nil
}
