//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package secretstore

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"
)

// staleLock is when a lock file left by a dead process is broken. The
// critical section it guards takes microseconds.
const staleLock = 10 * time.Second

// lockFile takes a mutex made of an O_EXCL lock file next to path (no
// flock here), then opens path.
func lockFile(ctx context.Context, path string) (*os.File, func(), error) {
	lock := path + ".lock"
	for {
		l, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			l.Close()
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, nil, err
		}
		if fi, serr := os.Stat(lock); serr == nil && time.Since(fi.ModTime()) > staleLock {
			os.Remove(lock)
			continue
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		os.Remove(lock)
		return nil, nil, err
	}
	return fh, func() { fh.Close(); os.Remove(lock) }, nil
}

// processGone cannot tell here: a lease waits for its expiry.
func processGone(int) bool { return false }
