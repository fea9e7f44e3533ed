package devstack

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/presign"
)

// BucketPath is where the local stack stands in for the upload bucket: the
// forms of POST /v1/{kind}/uploads point here, and it checks them as S3
// does (presign.VerifyPost and VerifyPut), stores the photo under
// {Dir}/uploads/… and hands the object-created event to resultfetch.
const BucketPath = "/_local/bucket"

// The local bucket's name and region, as the forms' credential scope says.
const (
	localBucket = "local"
	localRegion = "local"
	localKeyID  = "cardocr-local"
)

// uploadTarget signs the local stack's forms and receives them.
type uploadTarget struct {
	url      string // base + BucketPath
	secret   string // made at start: forms of an earlier run no longer verify
	files    *archive.FileBucket
	maxBytes int64
	log      *slog.Logger
	evidence func() *Evidence // set once the local resultfetch exists
	wg       *sync.WaitGroup  // the stack's: Close waits for events in flight
	skew     atomic.Int64     // nanoseconds added to the clock (tests: a form received late)
}

func (t *uploadTarget) now() time.Time { return time.Now().Add(time.Duration(t.skew.Load())) }

func newUploadTarget(base, dir string, maxBytes int64, log *slog.Logger, wg *sync.WaitGroup) *uploadTarget {
	b := make([]byte, 20)
	rand.Read(b)
	return &uploadTarget{url: base + BucketPath, secret: hex.EncodeToString(b), files: &archive.FileBucket{Dir: dir},
		maxBytes: maxBytes, log: log, wg: wg}
}

func (t *uploadTarget) s3() presign.S3 {
	return presign.S3{AccessKeyID: localKeyID, SecretAccessKey: t.secret, Region: localRegion, Bucket: localBucket, BucketURL: t.url}
}

// PresignUpload is uploads.Presigner.
func (t *uploadTarget) PresignUpload(_ context.Context, u presign.Upload, method string) (presign.Form, error) {
	if method == "PUT" {
		return t.s3().Put(u, t.now())
	}
	return t.s3().Post(u, t.now())
}

func (t *uploadTarget) secrets(id string) string {
	if id == localKeyID {
		return t.secret
	}
	return ""
}

func (t *uploadTarget) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == BucketPath:
		t.post(w, r)
	case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, BucketPath+"/"):
		t.put(w, r)
	default:
		(&presign.Error{Status: http.StatusMethodNotAllowed, Code: "MethodNotAllowed", Message: "POST a form to " + BucketPath + ", or PUT a presigned URL"}).Write(w)
	}
}

// post receives a browser-based POST form: the fields, then the file.
func (t *uploadTarget) post(w http.ResponseWriter, r *http.Request) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		(&presign.Error{Status: http.StatusPreconditionFailed, Code: "PreconditionFailed", Message: "Bucket POST must be of the enclosure-type multipart/form-data"}).Write(w)
		return
	}
	body := http.MaxBytesReader(w, r.Body, t.maxBytes+1<<20)
	mr := multipart.NewReader(body, params["boundary"])
	fields := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err != nil {
			(&presign.Error{Status: http.StatusBadRequest, Code: "MalformedPOSTRequest", Message: "The body of your POST request is not well-formed multipart/form-data."}).Write(w)
			return
		}
		if p.FormName() != "file" {
			v, err := io.ReadAll(io.LimitReader(p, 64<<10))
			if err != nil {
				(&presign.Error{Status: http.StatusBadRequest, Code: "MalformedPOSTRequest", Message: "The body of your POST request is not well-formed multipart/form-data."}).Write(w)
				return
			}
			fields[p.FormName()] = string(v)
			continue
		}
		// S3 reads the fields before the file, and ignores what follows it.
		pol, perr := presign.VerifyPost(fields, localBucket, localRegion, t.secrets, t.now())
		if perr != nil {
			perr.Write(w)
			return
		}
		limit := t.maxBytes
		if pol.MaxBytes >= 0 {
			limit = pol.MaxBytes
		}
		var buf bytes.Buffer
		n, err := buf.ReadFrom(io.LimitReader(p, limit+1))
		if err != nil {
			(&presign.Error{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: "The request body terminated unexpectedly"}).Write(w)
			return
		}
		if serr := pol.CheckSize(n); serr != nil {
			serr.Write(w)
			return
		}
		t.store(w, r, keyField(fields), buf.Bytes(), http.StatusNoContent)
		return
	}
}

func keyField(fields map[string]string) string {
	for k, v := range fields {
		if strings.EqualFold(k, "key") {
			return v
		}
	}
	return ""
}

// put receives a presigned PUT of exactly its signed length.
func (t *uploadTarget) put(w http.ResponseWriter, r *http.Request) {
	if perr := presign.VerifyPut(r, localRegion, t.secrets, t.now()); perr != nil {
		perr.Write(w)
		return
	}
	if r.ContentLength < 0 || r.ContentLength > t.maxBytes {
		(&presign.Error{Status: http.StatusBadRequest, Code: "EntityTooLarge", Message: "Your proposed upload exceeds the maximum allowed size"}).Write(w)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, r.ContentLength+1))
	if err != nil || int64(len(data)) != r.ContentLength {
		(&presign.Error{Status: http.StatusBadRequest, Code: "IncompleteBody", Message: "You did not provide the number of bytes specified by the Content-Length HTTP header."}).Write(w)
		return
	}
	key, err := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), BucketPath+"/"))
	if err != nil {
		(&presign.Error{Status: http.StatusBadRequest, Code: "InvalidURI", Message: "Couldn't parse the specified URI."}).Write(w)
		return
	}
	t.store(w, r, key, data, http.StatusOK)
}

// store writes the object under {Dir}/ and hands its event to resultfetch,
// as S3 sends one after the upload (the watcher of uploads/ would find it
// within a second too; resultfetch handles a repeated event once).
func (t *uploadTarget) store(w http.ResponseWriter, r *http.Request, key string, data []byte, status int) {
	if !strings.HasPrefix(key, "uploads/") {
		(&presign.Error{Status: http.StatusForbidden, Code: "AccessDenied", Message: "Access Denied"}).Write(w)
		return
	}
	if err := t.files.Put(r.Context(), key, data, ""); err != nil {
		(&presign.Error{Status: http.StatusBadRequest, Code: "InvalidArgument", Message: "the object key is not valid"}).Write(w)
		return
	}
	sum := md5.Sum(data) // S3's ETag of a single-part upload
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:])+`"`)
	w.WriteHeader(status)
	var ev *Evidence
	if t.evidence != nil {
		ev = t.evidence()
	}
	if ev == nil {
		return
	}
	event, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
		"eventSource": "aws:s3", "eventName": "ObjectCreated:Post",
		"s3": map[string]any{"bucket": map[string]string{"name": localBucket}, "object": map[string]any{"key": url.QueryEscape(key), "size": len(data)}},
	}}})
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := ev.Handler.Handle(ctx, event); err != nil && !errors.Is(err, context.Canceled) {
			t.log.WarnContext(ctx, "upload not archived yet; the watcher will retry", "err", err)
		}
	}()
}
