package secretstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// processID tells this process's leases from other processes'. Made on
// first use: reading crypto/rand at init would cost every cold start.
var processID = sync.OnceValue(NewHolderID)

// TryLease implements Leaser for the file store: the leases live next to
// the secret in <path>.lease (a JSON list, expired entries dropped), read
// and rewritten under an exclusive lock (flock(2) where available, which
// the kernel releases if the process dies). A file store is one machine's,
// so a lease also names its process, and one whose process no longer runs
// counts as expired: a restarted local stack is not locked out by the
// process it replaced.
func (f *File) TryLease(ctx context.Context, slot string, ttl time.Duration) (bool, error) {
	if err := CheckLease(slot, ttl); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	holder := fmt.Sprintf("%s-%p", processID(), f)
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("secretstore: mkdir: %w", err)
	}
	fh, unlock, err := lockFile(ctx, f.Path+".lease")
	if err != nil {
		return false, fmt.Errorf("secretstore: lease lock: %w", err)
	}
	defer unlock()

	b, err := io.ReadAll(fh)
	if err != nil {
		return false, fmt.Errorf("secretstore: lease read: %w", err)
	}
	var docs []LeaseDoc
	if len(b) > 0 && json.Unmarshal(b, &docs) != nil {
		docs = nil // unreadable: start over (only leases are lost)
	}
	now := time.Now()
	live := docs[:0]
	for _, d := range docs {
		if now.Before(d.Expires) && (d.PID == os.Getpid() || !processGone(d.PID)) {
			live = append(live, d)
		}
	}
	for _, d := range live {
		if d.Slot == slot {
			return d.Holder == holder, nil
		}
	}
	live = append(live, LeaseDoc{Slot: slot, Holder: holder, Expires: now.Add(ttl), PID: os.Getpid()})
	out, _ := json.Marshal(live)
	if err := fh.Truncate(0); err != nil {
		return false, fmt.Errorf("secretstore: lease write: %w", err)
	}
	if _, err := fh.WriteAt(out, 0); err != nil {
		return false, fmt.Errorf("secretstore: lease write: %w", err)
	}
	if err := fh.Sync(); err != nil {
		return false, fmt.Errorf("secretstore: lease sync: %w", err)
	}
	return true, nil
}
