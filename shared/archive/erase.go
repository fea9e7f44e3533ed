package archive

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/logging"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/sign"
)

// Erasure (PIPL art. 47): everything held for one order is deleted, its
// record becomes a tombstone (a later query answers 410 and the upstream's
// own copy is never served again), and one audit record is written under
// {prefix}/_audit/{yyyy}/{mm}/{dd}/, created, never overwritten. The audit
// record names the order only by a salted hash.

// eraseDays is how many days after an order's record an archived copy is
// looked for (a queued order is archived when its message is handled).
const eraseDays = 3

// AuditRecord is one erasure on record. It holds no personal data: no
// order number (a salted hash of it), no name, number or image.
type AuditRecord struct {
	Time time.Time `json:"time"`
	// Tenant is the order's owner ("default" before tenants).
	Tenant string `json:"tenant"`
	Kind   string `json:"kind"`
	// OrderHash is HMAC-SHA256(salt, kind + ":" + orderNo) in hex: whoever
	// holds an order number and the salt can find its erasure.
	OrderHash string `json:"orderHash"`
	Caller    string `json:"caller"` // an API key's id, or "operator"
	Objects   int    `json:"objects"`
	Reason    string `json:"reason"`
}

// ErrBadReason: an erasure's reason must be short, plain ASCII text.
var ErrBadReason = errors.New("archive: the reason must be at most 200 characters of plain ASCII text")

// Erase deletes what is held for an order (its archived result and
// photos, the done and pending markers, the uploaded object it came from),
// leaves a tombstone as its record, and writes the audit record. With
// e.DryRun it only lists the keys that would go. Repeating it is harmless.
func (a *Archive) Erase(ctx context.Context, e ocr.Erasure) (ocr.Erased, error) {
	var out ocr.Erased
	if err := checkOrder(e.Kind, e.OrderNo); err != nil {
		return out, errcode.Wrap(errcode.InvalidRequest, err, "unknown kind or invalid orderNo")
	}
	reason, ok := cleanReason(e.Reason)
	if !ok {
		return out, errcode.Wrap(errcode.InvalidRequest, ErrBadReason, ErrBadReason.Error()[len("archive: "):])
	}
	owner := ocr.OwnerOf(e.Owner)
	rec, err := a.Order(ctx, owner, e.OrderNo)
	if err != nil {
		return out, storeErr(err)
	}
	if rec == nil && owner != "" {
		// A tenant's orders all have records: nothing of theirs is here.
		return out, errcode.Errorf(errcode.NotFound, "no %s order under this orderNo", kindWords(e.Kind))
	}
	if rec != nil && (rec.Owner != owner || (rec.Kind != "" && rec.Kind != e.Kind)) {
		// Another tenant's order, or one of the other kind: nothing of
		// the caller's is there, and it is not the caller's to erase.
		return out, errcode.Errorf(errcode.NotFound, "no %s order under this orderNo", kindWords(e.Kind))
	}
	// The archive keeps an order under the number sent upstream (unique
	// across tenants).
	keys, uploads, err := a.eraseKeys(ctx, owner, e.Kind, ocr.UpstreamOrderNo(owner, e.OrderNo), e.OrderNo, rec)
	if err != nil {
		return out, storeErr(err)
	}
	out.Keys = append(keys, uploads...)
	if e.DryRun {
		return out, nil
	}
	for _, k := range keys {
		if err := a.Bucket.Delete(ctx, k); err != nil {
			return out, storeErr(err)
		}
		out.Objects++
	}
	for _, u := range uploads {
		b, key, err := a.uploadBucket(ctx, u)
		if err != nil {
			return out, storeErr(err)
		}
		if err := b.Delete(ctx, key); err != nil {
			return out, storeErr(err)
		}
		out.Objects++
	}
	now := a.now().UTC()
	tomb := ocr.Order{OrderNo: e.OrderNo, Kind: e.Kind, Owner: owner, State: ocr.OrderErased, CreatedAt: now, UpdatedAt: now}
	if rec != nil {
		tomb.CreatedAt = rec.CreatedAt
	}
	if rec == nil || rec.State != ocr.OrderErased {
		if err := a.SaveOrder(ctx, tomb); err != nil {
			return out, storeErr(err)
		}
	}
	out.Tombstone = true
	if out.AuditKey, err = a.audit(ctx, e, reason, out.Objects); err != nil {
		return out, storeErr(err)
	}
	return out, nil
}

func storeErr(err error) error {
	return &errcode.Error{Code: errcode.StoreUnavailable, Retryable: true, Err: err,
		Message: "the archive did not answer; the erasure is not complete, send it again"}
}

func kindWords(kind string) string {
	if kind == KindBankCard {
		return "bank card"
	}
	return "ID card"
}

// cleanReason keeps a reason of plain printable ASCII (no names in other
// scripts), at most 200 characters, with long digit runs masked.
func cleanReason(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return "", false
		}
	}
	return logging.Scrub(s), true
}

// eraseKeys lists the archive's keys of an order (results, photos,
// markers) and the uploads it came from ("bucket\x00key").
func (a *Archive) eraseKeys(ctx context.Context, owner, kind, orderNo, ownNo string, rec *ocr.Order) (keys, uploads []string, err error) {
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	// Callback bodies still waiting for delivery (the order's own number:
	// the outbox is keyed by owner).
	for _, st := range []string{"done", "failed"} {
		k := a.CallbackKey(owner, kind, ownNo, st)
		if _, err := a.Bucket.Stat(ctx, k); err == nil {
			add(k)
		} else if !errors.Is(err, ErrNotExist) {
			return nil, nil, err
		}
	}
	dirs := map[string]bool{}
	// The done marker names result.json, which names the photos and the
	// uploaded source.
	if m, err := a.readJSON(ctx, a.DoneKey(kind, orderNo), &Marker{}); err != nil {
		return nil, nil, err
	} else if m != nil {
		mk := m.(*Marker)
		add(a.DoneKey(kind, orderNo))
		if mk.Result != "" && strings.HasPrefix(mk.Result, a.kindRoot(owner, kind)+"/") {
			dirs[path.Dir(mk.Result)] = true
		}
	}
	// Copies under the days after the order was made (an archive written
	// again on another day, or without a marker).
	start := a.now()
	if rec != nil && !rec.CreatedAt.IsZero() {
		start = rec.CreatedAt
	}
	for d := range eraseDays {
		dirs[a.DirOf(owner, kind, orderNo, start.AddDate(0, 0, d))] = true
	}
	names := make([]string, 0, len(dirs))
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		listed, err := a.Bucket.List(ctx, d+"/")
		if err != nil {
			return nil, nil, err
		}
		for _, k := range listed {
			if path.Base(k) == "result.json" {
				var doc document
				if v, err := a.readJSON(ctx, k, &doc); err == nil && v != nil && doc.Source != nil && doc.Source.Key != "" {
					uploads = append(uploads, doc.Source.Bucket+"\x00"+doc.Source.Key)
				}
			}
			add(k)
		}
	}
	if ok, err := a.exists(ctx, a.pendingKey(kind, orderNo)); err != nil {
		return nil, nil, err
	} else if ok {
		add(a.pendingKey(kind, orderNo))
	}
	sort.Strings(keys)
	return keys, uploads, nil
}

// readJSON reads a small JSON object into v; nil when it does not exist.
func (a *Archive) readJSON(ctx context.Context, key string, v any) (any, error) {
	rc, _, err := a.Bucket.Open(ctx, key)
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, err
	}
	if json.Unmarshal(b, v) != nil {
		return nil, nil // unreadable: the listing still finds the object
	}
	return v, nil
}

// uploadBucket resolves "bucket\x00key" to the bucket the upload is in.
func (a *Archive) uploadBucket(ctx context.Context, u string) (Bucket, string, error) {
	name, key, _ := strings.Cut(u, "\x00")
	if a.Uploads != nil {
		b, err := a.Uploads(ctx, name)
		return b, key, err
	}
	if bo, ok := a.Bucket.(BucketOpener); ok {
		b, err := bo.OpenBucket(ctx, name, "")
		return b, key, err
	}
	return a.Bucket, key, nil
}

// audit writes one audit record, created under a name no other erasure
// uses: the prefix is append-only.
func (a *Archive) audit(ctx context.Context, e ocr.Erasure, reason string, objects int) (string, error) {
	salt, err := a.auditSalt(ctx)
	if err != nil {
		return "", err
	}
	now := a.now().UTC()
	tenant := e.Owner
	if tenant == "" {
		tenant = "default"
	}
	caller := e.Caller
	if caller == "" {
		caller = "operator"
	}
	rec := AuditRecord{Time: now, Tenant: tenant, Kind: e.Kind, OrderHash: OrderHash(salt, e.Kind, e.OrderNo),
		Caller: caller, Objects: objects, Reason: reason}
	b, _ := json.Marshal(rec)
	var r [6]byte
	_, _ = rand.Read(r[:])
	t := now.In(cst)
	key := a.key("_audit", t.Format("2006"), t.Format("01"), t.Format("02"),
		fmt.Sprintf("%s-%s.json", now.Format("150405.000000000"), hex.EncodeToString(r[:])))
	if err := a.Bucket.Create(ctx, key, b, "application/json"); err != nil {
		return "", fmt.Errorf("archive: audit record: %w", err)
	}
	return key, nil
}

// OrderHash is an audit record's name for an order.
func OrderHash(salt []byte, kind, orderNo string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(kind + ":" + orderNo))
	return hex.EncodeToString(m.Sum(nil))
}

// AuditSaltKey is where the audit salt lives when AuditSalt is not set:
// made once, at the first erasure.
func (a *Archive) AuditSaltKey() string { return a.key("_audit", "salt") }

// auditSalt returns AuditSalt, or the archive's stored salt (created on
// first use; of concurrent creators one wins and all read it).
func (a *Archive) auditSalt(ctx context.Context) ([]byte, error) {
	if len(a.AuditSalt) > 0 {
		return a.AuditSalt, nil
	}
	var r [32]byte
	_, _ = rand.Read(r[:])
	err := a.Bucket.Create(ctx, a.AuditSaltKey(), []byte(hex.EncodeToString(r[:])), "text/plain")
	if err != nil && !errors.Is(err, ErrExists) {
		return nil, fmt.Errorf("archive: audit salt: %w", err)
	}
	rc, _, err := a.Bucket.Open(ctx, a.AuditSaltKey())
	if err != nil {
		return nil, fmt.Errorf("archive: audit salt: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 256))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("archive: audit salt unreadable: %w", err)
	}
	return b, nil
}

// OrdersOn lists the order numbers archived under kind on the China
// dates from..to (inclusive), for an operator's erasure by date range.
func (a *Archive) OrdersOn(ctx context.Context, kind string, from, to time.Time) ([]string, error) {
	if kind != KindIDCard && kind != KindBankCard {
		return nil, fmt.Errorf("archive: unknown kind %q", kind)
	}
	seen := map[string]bool{}
	var out []string
	for d := from.In(cst); !d.After(to.In(cst)); d = d.AddDate(0, 0, 1) {
		dir := a.key(kind, d.Format("2006"), d.Format("01"), d.Format("02")) + "/"
		keys, err := a.Bucket.List(ctx, dir)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			no, _, _ := strings.Cut(strings.TrimPrefix(k, dir), "/")
			if sign.ValidOrderNo(no) && !seen[no] {
				seen[no] = true
				out = append(out, no)
			}
		}
	}
	return out, nil
}

// RecordedOrders lists the orders that have a record, with it (the owner
// from where the record lives).
func (a *Archive) RecordedOrders(ctx context.Context) ([]ocr.Order, error) {
	root := a.key("_orders") + "/"
	keys, err := a.Bucket.List(ctx, root)
	if err != nil {
		return nil, err
	}
	var out []ocr.Order
	for _, k := range keys {
		rest := strings.TrimSuffix(strings.TrimPrefix(k, root), ".json")
		owner, no, ok := strings.Cut(rest, "/")
		if !ok {
			owner, no = "", rest
		}
		if o, err := a.Order(ctx, owner, no); err != nil {
			return nil, err
		} else if o != nil {
			out = append(out, *o)
		}
	}
	return out, nil
}
