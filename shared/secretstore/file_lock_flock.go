//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package secretstore

import (
	"context"
	"errors"
	"os"
	"syscall"
	"time"
)

// lockFile opens (creating) path and takes an exclusive flock on it,
// polling so that ctx bounds the wait.
func lockFile(ctx context.Context, path string) (*os.File, func(), error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, err
	}
	for {
		err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			fh.Close()
			return nil, nil, err
		}
		select {
		case <-ctx.Done():
			fh.Close()
			return nil, nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
	return fh, func() {
		_ = syscall.Flock(int(fh.Fd()), syscall.LOCK_UN)
		fh.Close()
	}, nil
}

// processGone reports whether no process with this pid exists on this
// machine (signal 0 probes without signalling). Unknown answers (EPERM: it
// exists, owned by someone else) count as alive.
func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}
