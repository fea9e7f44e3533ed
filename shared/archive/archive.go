// Package archive is the evidence archive: OCR results and their photos,
// written to object storage chosen by URL (ARCHIVE_URL), in the layout
//
//	{prefix}/{kind}/{yyyy}/{mm}/{dd}/{orderNo}/result.json
//	{prefix}/{kind}/{yyyy}/{mm}/{dd}/{orderNo}/{photo}.jpg
//
// with a "done" marker per order ({prefix}/_done/{kind}/{orderNo}.json,
// written last) so that a re-delivered message finds its order archived and
// costs nothing, and a "pending" marker ({prefix}/_pending/…), created only
// if absent before an upload is submitted, so that of concurrent or later
// deliveries only one submits and the others query instead of submitting
// (and billing) again. Messages that can never succeed are recorded under
// {prefix}/_rejected/.
//
// file://dir is built in; s3:// and cos:// are registered by the packages
// archive/s3archive and archive/cosarchive, so that a binary links only the
// SDKs it imports. Every backend asks for server-side encryption.
package archive

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/sign"
)

// ErrNotExist is wrapped by Bucket errors for a missing object.
var ErrNotExist = errors.New("archive: object does not exist")

// ErrExists is wrapped by Bucket.Create's error when the object exists.
var ErrExists = errors.New("archive: object exists")

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size int64
	ETag string // without quotes; may be empty (file backend: size and mtime)
	// Modified is when the object was written, where the store says (file
	// backend; the retention sweep reads it).
	Modified time.Time
}

// Bucket is an object store. Keys are slash-separated, without a leading
// slash.
type Bucket interface {
	// Put stores data under key, asking for server-side encryption.
	Put(ctx context.Context, key string, data []byte, contentType string) error
	// Create is Put only if key does not exist: of concurrent Creates of
	// one key exactly one succeeds; the others' errors wrap ErrExists.
	Create(ctx context.Context, key string, data []byte, contentType string) error
	// Open streams an object; the error wraps ErrNotExist when it is missing.
	Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error)
	// Stat describes an object; the error wraps ErrNotExist when it is missing.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Delete removes an object; a missing one is no error (erasures and
	// their retries delete what is there).
	Delete(ctx context.Context, key string) error
	// List returns the keys that start with prefix, in lexical order.
	List(ctx context.Context, prefix string) ([]string, error)
}

// BucketOpener is implemented by buckets that can open a sibling bucket of
// the same store (with the same credentials): the bucket an object-created
// event names. region may be empty (the store's own) or in the form the
// event gives it.
type BucketOpener interface {
	OpenBucket(ctx context.Context, name, region string) (Bucket, error)
}

// Opener builds a Bucket and the key prefix from an archive URL.
type Opener func(ctx context.Context, u *url.URL) (b Bucket, prefix string, err error)

var (
	mu      sync.RWMutex
	openers = map[string]Opener{"file": openFile}
)

// Register makes a URL scheme available to Open. Backend packages call it
// from init.
func Register(scheme string, o Opener) {
	mu.Lock()
	defer mu.Unlock()
	openers[scheme] = o
}

// Open returns the archive a URL names.
func Open(ctx context.Context, rawURL string) (*Archive, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL
		}
		return nil, fmt.Errorf("archive: bad archive URL: %w", err)
	}
	mu.RLock()
	o, ok := openers[u.Scheme]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("archive: unsupported scheme %q (is its backend linked in?)", u.Scheme)
	}
	b, prefix, err := o(ctx, u)
	if err != nil {
		return nil, err
	}
	return New(b, prefix), nil
}

// Archive writes records in the layout of the package doc.
type Archive struct {
	Bucket Bucket
	Prefix string           // without leading or trailing slash
	Now    func() time.Time // default time.Now
	// AuditSalt keys the order hashes of audit records (AUDIT_SALT); when
	// empty, a salt made at the first erasure is kept under _audit/salt.
	AuditSalt []byte
	// Uploads opens the bucket an uploaded object is in, for an erasure
	// (nil: BucketOpener, else Bucket itself).
	Uploads func(ctx context.Context, bucket string) (Bucket, error)
}

// New returns an Archive over b under prefix.
func New(b Bucket, prefix string) *Archive {
	return &Archive{Bucket: b, Prefix: strings.Trim(prefix, "/")}
}

// cst is China Standard Time: dates in the layout are Beijing dates.
var cst = time.FixedZone("CST", 8*3600)

func (a *Archive) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Kinds of records.
const (
	KindIDCard   = "idcard"
	KindBankCard = "bankcard"
)

func (a *Archive) key(parts ...string) string {
	if a.Prefix != "" {
		parts = append([]string{a.Prefix}, parts...)
	}
	return path.Join(parts...)
}

// validOwner: a tenant id makes one path segment: letters, digits, '-'
// and '_' (tenants.Doc allows a subset of these).
func validOwner(o string) bool {
	if o == "" || len(o) > 64 || o[0] == '_' {
		return false
	}
	for i := 0; i < len(o); i++ {
		c := o[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func checkOrder(kind, orderNo string) error {
	if kind != KindIDCard && kind != KindBankCard {
		return fmt.Errorf("archive: unknown kind %q", kind)
	}
	if !sign.ValidOrderNo(orderNo) {
		return errors.New("archive: invalid order number")
	}
	return nil
}

// Marker is the content of a done marker.
type Marker struct {
	Kind       string    `json:"kind"`
	OrderNo    string    `json:"orderNo"`
	Result     string    `json:"result"` // key of result.json
	ArchivedAt time.Time `json:"archivedAt"`
}

// DoneKey is where the done marker of an order lives.
func (a *Archive) DoneKey(kind, orderNo string) string {
	return a.key("_done", kind, orderNo+".json")
}

func (a *Archive) pendingKey(kind, orderNo string) string {
	return a.key("_pending", kind, orderNo+".json")
}

// Done reports whether an order is archived.
func (a *Archive) Done(ctx context.Context, kind, orderNo string) (bool, error) {
	if err := checkOrder(kind, orderNo); err != nil {
		return false, err
	}
	return a.exists(ctx, a.DoneKey(kind, orderNo))
}

// Pending states.
const (
	// Sending: a submission was claimed and may have reached the
	// upstream; a later delivery queries instead of submitting.
	Sending = "sending"
	// NotSent: the claimed submission provably never reached the upstream
	// (no ticket, the upload could not be read, the connection was
	// refused); a later delivery may submit.
	NotSent = "not_sent"
)

// PendingMarker is the content of a pending marker.
type PendingMarker struct {
	Kind      string    `json:"kind"`
	OrderNo   string    `json:"orderNo"`
	StartedAt time.Time `json:"startedAt"`
	State     string    `json:"state,omitempty"` // Sending (also when absent) or NotSent
}

// Pending returns an order's pending marker, or nil when there is none.
func (a *Archive) Pending(ctx context.Context, kind, orderNo string) (*PendingMarker, error) {
	if err := checkOrder(kind, orderNo); err != nil {
		return nil, err
	}
	rc, _, err := a.Bucket.Open(ctx, a.pendingKey(kind, orderNo))
	if errors.Is(err, ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("archive: pending marker: %w", err)
	}
	defer rc.Close()
	var m PendingMarker
	b, err := io.ReadAll(io.LimitReader(rc, 4<<10))
	if err != nil {
		return nil, fmt.Errorf("archive: pending marker: %w", err)
	}
	if json.Unmarshal(b, &m) != nil || m.State == "" {
		m.State = Sending // unreadable or older markers: assume the worst
	}
	return &m, nil
}

// ClaimPending creates the order's pending marker (state Sending) unless one
// exists: claimed reports whether this caller made it and so may submit. Of
// concurrent deliveries of one upload exactly one claims it; the others
// query instead of submitting (and paying) again.
func (a *Archive) ClaimPending(ctx context.Context, kind, orderNo string) (claimed bool, err error) {
	if err := checkOrder(kind, orderNo); err != nil {
		return false, err
	}
	err = a.Bucket.Create(ctx, a.pendingKey(kind, orderNo), a.pendingDoc(kind, orderNo, Sending), "application/json")
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrExists):
		return false, nil
	}
	return false, fmt.Errorf("archive: pending marker: %w", err)
}

// SetPending overwrites the order's pending marker with state: NotSent when
// a claimed submission never reached the upstream, Sending when a later
// delivery takes over a NotSent one.
func (a *Archive) SetPending(ctx context.Context, kind, orderNo, state string) error {
	if err := checkOrder(kind, orderNo); err != nil {
		return err
	}
	if err := a.Bucket.Put(ctx, a.pendingKey(kind, orderNo), a.pendingDoc(kind, orderNo, state), "application/json"); err != nil {
		return fmt.Errorf("archive: pending marker: %w", err)
	}
	return nil
}

func (a *Archive) pendingDoc(kind, orderNo, state string) []byte {
	b, _ := json.Marshal(PendingMarker{Kind: kind, OrderNo: orderNo, StartedAt: a.now().UTC(), State: state})
	return b
}

// Reject records a message or event that can never succeed (an unknown
// kind, an invalid order number, an unreadable record) under
// {prefix}/_rejected/{yyyy}/{mm}/{dd}/{id}.json, so that it is acknowledged
// and still on record. id is the message id (or a hash); reason says why.
// The message itself is not stored: it may hold anything.
func (a *Archive) Reject(ctx context.Context, source, id, reason string) (string, error) {
	if !safeName(id) {
		return "", fmt.Errorf("archive: bad rejection id")
	}
	now := a.now()
	t := now.In(cst)
	key := a.key("_rejected", t.Format("2006"), t.Format("01"), t.Format("02"), id+".json")
	b, _ := json.Marshal(map[string]any{"source": source, "id": id, "reason": reason, "rejectedAt": now.UTC()})
	if err := a.Bucket.Put(ctx, key, b, "application/json"); err != nil {
		return "", fmt.Errorf("archive: rejection: %w", err)
	}
	return key, nil
}

func (a *Archive) exists(ctx context.Context, key string) (bool, error) {
	_, err := a.Bucket.Stat(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("archive: stat: %w", err)
}

// Record is one archived order.
type Record struct {
	Kind    string
	OrderNo string
	// Owner is the tenant ("" or "default": the default tenant). Another
	// tenant's evidence lives under _tenants/{owner}/, so that retention
	// and erasure can be set and shown per tenant.
	Owner string
	// Result is written as result.json (it should not carry the photos).
	Result any
	// Photos are base64 JPEGs (the text) by name, written decoded as
	// {name}.jpg, one at a time.
	Photos map[string][]byte
	// Source describes the uploaded object a submission came from.
	Source *Source
	// Error is set instead of Result when the order failed for good.
	Error *Failure
	// PhotosMissing: the upstream never delivered the photos, and the
	// order is past the point where waiting longer could help.
	PhotosMissing bool
}

// Source is the uploaded object an order was submitted from.
type Source struct {
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key"`
	ETag   string `json:"etag,omitempty"`
	Size   int64  `json:"size"`
}

// Failure is a permanent failure archived as the order's outcome.
type Failure struct {
	Code         string `json:"code"`
	Message      string `json:"message"`
	UpstreamCode string `json:"upstreamCode,omitempty"`
}

// document is result.json.
type document struct {
	Kind       string    `json:"kind"`
	OrderNo    string    `json:"orderNo"`
	ArchivedAt time.Time `json:"archivedAt"`
	Source     *Source   `json:"source,omitempty"`
	Photos     []string  `json:"photos,omitempty"`
	Result     any       `json:"result,omitempty"`
	Error      *Failure  `json:"error,omitempty"`
	// PhotosMissing: see Record.
	PhotosMissing bool `json:"photosMissing,omitempty"`
}

// Dir returns the directory of a default-tenant order archived at t.
func (a *Archive) Dir(kind, orderNo string, t time.Time) string {
	return a.DirOf("", kind, orderNo, t)
}

// TenantsDir is the subtree of the tenants other than the default one:
// {prefix}/_tenants/{tenant}/{kind}/yyyy/mm/dd/{orderNo}/.
const TenantsDir = "_tenants"

// kindRoot is where owner's evidence of kind lives.
func (a *Archive) kindRoot(owner, kind string) string {
	if owner = ocr.OwnerOf(owner); owner != "" {
		return a.key(TenantsDir, owner, kind)
	}
	return a.key(kind)
}

// DirOf returns the directory of owner's order archived at t.
func (a *Archive) DirOf(owner, kind, orderNo string, t time.Time) string {
	t = t.In(cst)
	return path.Join(a.kindRoot(owner, kind), t.Format("2006"), t.Format("01"), t.Format("02"), orderNo)
}

// Save writes the photos, then result.json, then the done marker: an order
// is done only once everything else is stored. It returns the key of
// result.json.
func (a *Archive) Save(ctx context.Context, r Record) (string, error) {
	if err := checkOrder(r.Kind, r.OrderNo); err != nil {
		return "", err
	}
	now := a.now()
	if o := ocr.OwnerOf(r.Owner); o != "" && !validOwner(o) {
		return "", errors.New("archive: invalid tenant id")
	}
	dir := a.DirOf(r.Owner, r.Kind, r.OrderNo, now)
	names := make([]string, 0, len(r.Photos))
	for name := range r.Photos {
		names = append(names, name)
	}
	sort.Strings(names)
	doc := document{Kind: r.Kind, OrderNo: r.OrderNo, ArchivedAt: now.UTC(), Source: r.Source, Result: r.Result, Error: r.Error, PhotosMissing: r.PhotosMissing}
	for _, name := range names {
		if !safeName(name) {
			return "", fmt.Errorf("archive: bad photo name %q", name)
		}
		img, err := decodeBase64(r.Photos[name])
		if err != nil {
			return "", fmt.Errorf("archive: photo %s: %w", name, err)
		}
		file := name + ".jpg"
		if err := a.Bucket.Put(ctx, path.Join(dir, file), img, "image/jpeg"); err != nil {
			return "", fmt.Errorf("archive: photo %s: %w", name, err)
		}
		doc.Photos = append(doc.Photos, file)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("archive: encoding result.json: %w", err)
	}
	resultKey := path.Join(dir, "result.json")
	if err := a.Bucket.Put(ctx, resultKey, buf.Bytes(), "application/json"); err != nil {
		return "", fmt.Errorf("archive: result.json: %w", err)
	}
	m, _ := json.Marshal(Marker{Kind: r.Kind, OrderNo: r.OrderNo, Result: resultKey, ArchivedAt: now.UTC()})
	if err := a.Bucket.Put(ctx, a.DoneKey(r.Kind, r.OrderNo), m, "application/json"); err != nil {
		return "", fmt.Errorf("archive: done marker: %w", err)
	}
	return resultKey, nil
}

func safeName(s string) bool {
	if s == "" || len(s) > 64 {
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

func decodeBase64(s []byte) ([]byte, error) {
	s = bytes.TrimSpace(s)
	if bytes.ContainsAny(s, "\r\n") { // a copy only when wrapped
		s = bytes.ReplaceAll(bytes.ReplaceAll(s, []byte("\r"), nil), []byte("\n"), nil)
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	if err != nil {
		n, err = base64.RawStdEncoding.Decode(out, bytes.TrimRight(s, "="))
	}
	if err != nil {
		return nil, errors.New("not valid base64")
	}
	return out[:n], nil
}
