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
	"github.com/cardocr/cardocr/shared/domain"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/webank"
)

// OCR is the OCR service as resultfetch uses it (an *ocr.Service).
type OCR interface {
	SubmitIDCard(ctx context.Context, r ocr.IDCardRequest) (*ocr.IDCardResult, error)
	IDCardResult(ctx context.Context, orderNo string, files bool) (*ocr.IDCardResult, error)
	SubmitBankCard(ctx context.Context, r ocr.BankCardRequest) (*ocr.BankCardResult, error)
	BankCardResult(ctx context.Context, orderNo string, files bool) (*ocr.BankCardResult, error)
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
)

// Summary answers events that are not SQS batches.
type Summary struct {
	Processed int            `json:"processed"`
	Outcomes  map[string]int `json:"outcomes"`
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
		return "", errors.New(it.bad)
	}
	if it.upload != nil {
		return h.handleUpload(ctx, *it.upload)
	}
	var m Message
	if err := json.Unmarshal(it.message, &m); err != nil {
		return "", errors.New("message body is not JSON")
	}
	return h.handleMessage(ctx, m)
}

// handleMessage queries an order's result with its photos and archives it.
func (h *Handler) handleMessage(ctx context.Context, m Message) (Outcome, error) {
	if m.Kind != archive.KindIDCard && m.Kind != archive.KindBankCard {
		return "", errors.New(`message kind must be "idcard" or "bankcard"`)
	}
	if !sign.ValidOrderNo(m.OrderNo) {
		return "", errors.New("message orderNo must be 1 to 32 letters or digits")
	}
	done, err := h.Archive.Done(ctx, m.Kind, m.OrderNo)
	if err != nil {
		return "", err
	}
	if done {
		return AlreadyArchived, nil
	}
	rec, err := h.fetchWithPhotos(ctx, m.Kind, m.OrderNo)
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
func (h *Handler) fetchWithPhotos(ctx context.Context, kind, orderNo string) (archive.Record, error) {
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
		rec, pending, at, err := h.query(ctx, kind, orderNo, true)
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
func (h *Handler) query(ctx context.Context, kind, orderNo string, files bool) (rec archive.Record, pending bool, at time.Time, err error) {
	rec = archive.Record{Kind: kind, OrderNo: orderNo}
	if kind == archive.KindIDCard {
		res, err := h.OCR.IDCardResult(ctx, orderNo, files)
		if err != nil {
			return rec, false, at, err
		}
		rec.Photos, res.Files = res.Files, nil
		pending, at, res.FilesPending = res.FilesPending, res.OrderTime, false
		rec.Result = res
		return rec, pending, at, nil
	}
	res, err := h.OCR.BankCardResult(ctx, orderNo, files)
	if err != nil {
		return rec, false, at, err
	}
	rec.Photos, res.Files = res.Files, nil
	pending, at, res.FilesPending = res.FilesPending, res.OrderTime, false
	rec.Result = res
	return rec, pending, at, nil
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
	switch domain.ErrorCode(err) {
	case domain.InvalidImage, domain.ImageTooLarge, domain.RecognitionFailed, domain.InvalidRequest:
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
// archives the result.
func (h *Handler) handleUpload(ctx context.Context, u Upload) (Outcome, error) {
	var kind, side string
	for _, k := range uploadKinds {
		if rest, ok := strings.CutPrefix(u.Key, k.prefix); ok && rest != "" && !strings.HasSuffix(rest, "/") {
			kind, side = k.kind, k.side
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
	orderNo := UploadOrderNo(u.Bucket, u.Key, info.ETag, info.Size)
	done, err := h.Archive.Done(ctx, kind, orderNo)
	if err != nil {
		return "", err
	}
	if done {
		return AlreadyArchived, nil
	}
	src := &archive.Source{Bucket: u.Bucket, Key: u.Key, ETag: info.ETag, Size: info.Size}

	// A submission was started before: query it instead of submitting (and
	// billing) again; submit only if the upstream has no result.
	pending, err := h.Archive.Pending(ctx, kind, orderNo)
	if err != nil {
		return "", err
	}
	if pending {
		rec, err := h.fetchWithPhotos(ctx, kind, orderNo)
		switch {
		case err == nil:
			rec.Source = src
			if _, err := h.Archive.Save(ctx, rec); err != nil {
				return "", err
			}
			return Archived, nil
		case domain.ErrorCode(err) != domain.NotFound:
			return "", err
		}
	}

	head, err := readHead(ctx, b, u.Key)
	if err != nil {
		return "", err
	}
	img := webank.Image{Size: info.Size, Open: func() (io.ReadCloser, error) {
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
	rec := archive.Record{Kind: kind, OrderNo: orderNo, Source: src}
	// Reject what no upstream would take before marking anything.
	var verr error
	if kind == archive.KindIDCard {
		verr = ocr.ValidateIDCardRequest(&ocr.IDCardRequest{Side: side, Image: img, Head: head, OrderNo: orderNo})
	} else {
		verr = ocr.ValidateBankCardRequest(&ocr.BankCardRequest{Image: img, Head: head, OrderNo: orderNo})
	}
	if verr == nil {
		if err := h.Archive.MarkPending(ctx, kind, orderNo); err != nil {
			return "", err
		}
		if kind == archive.KindIDCard {
			var res *ocr.IDCardResult
			if res, verr = h.OCR.SubmitIDCard(ctx, ocr.IDCardRequest{Side: side, Image: img, Head: head, OrderNo: orderNo}); verr == nil {
				rec.Result = res
			}
		} else {
			var res *ocr.BankCardResult
			if res, verr = h.OCR.SubmitBankCard(ctx, ocr.BankCardRequest{Image: img, Head: head, OrderNo: orderNo}); verr == nil {
				rec.Result = res
			}
		}
	}
	out := Archived
	if verr != nil {
		if !permanent(verr) {
			return "", verr
		}
		de := domain.AsError(verr)
		rec.Error = &archive.Failure{Code: string(de.Code), Message: de.Message, UpstreamCode: de.UpstreamCode}
		out = FailedArchived
	} else {
		// The evidence is the photos: the submit answer has none, and
		// they may come late. Without them the item fails; the pending
		// marker makes the redelivery query instead of submitting again.
		withPhotos, err := h.fetchWithPhotos(ctx, kind, orderNo)
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

func readHead(ctx context.Context, b archive.Bucket, key string) ([]byte, error) {
	rc, _, err := b.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("resultfetch: upload: %w", err)
	}
	defer rc.Close()
	head := make([]byte, ocr.SniffLen)
	n, err := io.ReadFull(rc, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("resultfetch: upload: %w", err)
	}
	return head[:n], nil
}
