package quota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// FileStore keeps the counts in a JSON file, {day: {field: n}}, changed
// under an exclusive flock: every process on the machine counts in it.
// Days older than a week are dropped as it is written.
type FileStore struct{ Path string }

func openFile(_ context.Context, u *url.URL) (Store, error) {
	p := u.Host + u.Path
	if p == "" {
		return nil, errors.New("quota: file:// URL without a path")
	}
	return &FileStore{Path: filepath.FromSlash(p)}, nil
}

func (f *FileStore) update(ctx context.Context, change func(doc map[string]map[string]int64) bool) error {
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	fh, err := os.OpenFile(f.Path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	defer fh.Close()
	for {
		err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("quota: lock: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	defer syscall.Flock(int(fh.Fd()), syscall.LOCK_UN)
	b, err := io.ReadAll(fh)
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	doc := map[string]map[string]int64{}
	if len(b) > 0 && json.Unmarshal(b, &doc) != nil {
		doc = map[string]map[string]int64{} // unreadable: start the day again
	}
	if !change(doc) {
		return nil
	}
	week := Day(time.Now().AddDate(0, 0, -7))
	for d := range doc {
		if strings.Compare(d, week) < 0 {
			delete(doc, d)
		}
	}
	out, _ := json.Marshal(doc)
	if _, err := fh.Seek(0, 0); err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	if err := fh.Truncate(0); err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	if _, err := fh.Write(out); err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	return nil
}

func (f *FileStore) Reserve(ctx context.Context, day string, c Counters) (bool, error) {
	ok := false
	err := f.update(ctx, func(doc map[string]map[string]int64) bool {
		d := doc[day]
		if d == nil {
			d = map[string]int64{}
			doc[day] = d
		}
		t := tenantField(c.Tenant)
		if (c.TenantLimit > 0 && d[t] >= c.TenantLimit) || (c.TotalLimit > 0 && d[totalField] >= c.TotalLimit) {
			return false
		}
		d[t]++
		d[totalField]++
		ok = true
		return true
	})
	return ok, err
}

func (f *FileStore) Release(ctx context.Context, day string, c Counters) error {
	return f.update(ctx, func(doc map[string]map[string]int64) bool {
		d := doc[day]
		if d == nil {
			return false
		}
		t := tenantField(c.Tenant)
		if d[t] > 0 {
			d[t]--
		}
		if d[totalField] > 0 {
			d[totalField]--
		}
		return true
	})
}

func (f *FileStore) Counts(ctx context.Context, day string) (map[string]int64, error) {
	out := map[string]int64{}
	err := f.update(ctx, func(doc map[string]map[string]int64) bool {
		for k, v := range doc[day] {
			if k == totalField {
				out[""] = v
			} else {
				out[strings.TrimPrefix(k, "t_")] = v
			}
		}
		return false
	})
	return out, err
}

// Suspensions live beside the counts, in <path>.suspended (written whole,
// atomically).
func (f *FileStore) suspensionsPath() string { return f.Path + ".suspended" }

type suspension struct {
	Reason string    `json:"reason"`
	Until  time.Time `json:"until"`
}

func (f *FileStore) readSuspensions() map[string]suspension {
	m := map[string]suspension{}
	if b, err := os.ReadFile(f.suspensionsPath()); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func (f *FileStore) Suspend(ctx context.Context, provider, reason string, until time.Time) error {
	return f.update(ctx, func(map[string]map[string]int64) bool { // under the lock
		m := f.readSuspensions()
		m[provider] = suspension{Reason: reason, Until: until}
		b, _ := json.Marshal(m)
		tmp := f.suspensionsPath() + ".tmp"
		if os.WriteFile(tmp, b, 0o600) == nil {
			_ = os.Rename(tmp, f.suspensionsPath())
		}
		return false
	})
}

func (f *FileStore) Suspension(_ context.Context, provider string) (string, time.Time, error) {
	s, ok := f.readSuspensions()[provider]
	if !ok {
		return "", time.Time{}, nil
	}
	return s.Reason, s.Until, nil
}
