package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/resultfetch"
	"github.com/cardocr/cardocr/shared/setup"
)

// QueuePath is the local stand-in for the SQS/CMQ queue of resultfetch: POST
// a message {"kind":"idcard"|"bankcard","orderNo":"…"} (or any event
// resultfetch takes) and it is handled at once.
const QueuePath = "/_local/queue"

// Evidence is the local resultfetch: the queue endpoint, and a watcher of
// {Dir}/uploads/ standing in for object-created events (copy a card image
// to .local/uploads/bankcard/, uploads/idcard/front/ or uploads/idcard/back/).
// Results go to ARCHIVE_URL (file://.local/archive by default).
type Evidence struct {
	Handler *resultfetch.Handler
	dir     string
	log     *slog.Logger

	retention, auditRetention int // days

	scan sync.Mutex // one scan at a time
	mu   sync.Mutex
	seen map[string]string // upload key → size/mtime handled
}

func newEvidence(ctx context.Context, cfg config.Config, log *slog.Logger, dir string, opts ...setup.APIOption) (*Evidence, error) {
	h, err := setup.ResultFetch(ctx, cfg, log.With("component", "resultfetch"), opts...)
	if err != nil {
		return nil, err
	}
	local := &archive.FileBucket{Dir: dir}
	h.Uploads = func(context.Context, string, string) (archive.Bucket, error) { return local, nil }
	for _, d := range []string{"uploads/bankcard", "uploads/idcard/front", "uploads/idcard/back"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o700); err != nil {
			return nil, err
		}
	}
	return &Evidence{Handler: h, dir: dir, log: log.With("component", "resultfetch"), seen: map[string]string{},
		retention: cfg.RetentionDays, auditRetention: cfg.AuditRetentionDays}, nil
}

// ServeHTTP is POST /_local/queue.
func (e *Evidence) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		io.WriteString(w, `{"error":{"code":"invalid_request","message":"use POST"}}`+"\n")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil || !json.Valid(body) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"code":"invalid_request","message":"send a JSON message"}}`+"\n")
		return
	}
	out, err := e.Handler.Handle(r.Context(), body)
	if err != nil {
		// On a cloud the platform would redeliver it: say so.
		w.WriteHeader(http.StatusServiceUnavailable)
		msg, _ := json.Marshal(err.Error() + "; posting it again later can succeed (a cloud queue redelivers it)")
		io.WriteString(w, `{"error":{"code":"not_archived","message":`+string(msg)+`,"retryable":true}}`+"\n")
		return
	}
	if sum, ok := out.(resultfetch.Summary); ok && len(sum.Rejected) > 0 {
		w.WriteHeader(http.StatusUnprocessableEntity)
		msg, _ := json.Marshal(sum.Rejected[0].Reason + "; it was recorded under _rejected/ and will never succeed as it is")
		io.WriteString(w, `{"error":{"code":"rejected","message":`+string(msg)+`,"retryable":false}}`+"\n")
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// ScanUploads hands every new or changed file under {Dir}/uploads/ (older
// than minAge, so that a copy in progress is left for the next scan) to
// resultfetch as an object-created event. Failed files are tried again on
// the next scan, as a platform would redeliver. It returns how many files
// were handled.
func (e *Evidence) ScanUploads(ctx context.Context, minAge time.Duration) (int, error) {
	e.scan.Lock()
	defer e.scan.Unlock()
	root := filepath.Join(e.dir, "uploads")
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || ctx.Err() != nil {
			return ctx.Err()
		}
		fi, err := d.Info()
		if err != nil || !fi.Mode().IsRegular() || time.Since(fi.ModTime()) < minAge {
			return nil
		}
		rel, err := filepath.Rel(e.dir, p)
		if err != nil {
			return nil
		}
		key := filepath.ToSlash(rel)
		stamp := strconv.FormatInt(fi.Size(), 10) + "/" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
		e.mu.Lock()
		done := e.seen[key] == stamp
		e.mu.Unlock()
		if done {
			return nil
		}
		event, _ := json.Marshal(map[string]any{"Records": []any{map[string]any{
			"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
			"s3": map[string]any{"bucket": map[string]string{"name": "local"}, "object": map[string]any{"key": url.QueryEscape(key), "size": fi.Size()}},
		}}})
		if _, err := e.Handler.Handle(ctx, event); err != nil {
			e.log.WarnContext(ctx, "upload not archived yet; will retry", "err", err)
			return nil
		}
		e.mu.Lock()
		e.seen[key] = stamp
		e.mu.Unlock()
		n++
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	return n, err
}

// sweepEvery is how often the local stack applies the retention rules
// (the clouds' lifecycle rules run daily).
const sweepEvery = time.Hour

// watch scans the uploads every interval, and applies the retention rules
// at start and every sweepEvery, until ctx ends.
func (e *Evidence) watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	lastSweep := time.Time{}
	for {
		if time.Since(lastSweep) >= sweepEvery {
			e.Sweep(ctx)
			lastSweep = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := e.ScanUploads(ctx, interval); err != nil && ctx.Err() == nil {
				e.log.WarnContext(ctx, "scanning uploads", "err", err)
			}
		}
	}
}

// Sweep deletes what the retention rules expire: archived evidence after
// RETENTION_DAYS, audit records after AUDIT_RETENTION_DAYS, uploads after a
// day (docs/personal-data.md).
func (e *Evidence) Sweep(ctx context.Context) {
	if _, ok := e.Handler.Archive.Bucket.(*archive.FileBucket); !ok {
		return // a cloud bucket has lifecycle rules of its own
	}
	n, err := e.Handler.Archive.Sweep(ctx, e.retention, e.auditRetention)
	if err == nil {
		var m int
		m, err = archive.SweepUploads(ctx, &archive.FileBucket{Dir: e.dir}, time.Now())
		n += m
	}
	if err != nil && ctx.Err() == nil {
		e.log.WarnContext(ctx, "retention sweep", "err", err)
	} else if n > 0 {
		e.log.InfoContext(ctx, "retention sweep", "deleted", n)
	}
}
