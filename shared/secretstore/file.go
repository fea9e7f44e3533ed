package secretstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File keeps the secret in one file. Writes are atomic (temporary file in
// the same directory, fsync, rename) and the file is mode 0600, its
// temporary files too. A process killed mid-write leaves its temporary
// file (holding the secret): the next write removes such leftovers.
type File struct {
	Path string
}

// openFile accepts file:///abs/path and file://relative/path (host and path
// joined), so that file://.local/tickets.json works as the README writes it.
func openFile(_ context.Context, u *url.URL) (Store, error) {
	p := u.Host + u.Path
	if u.Opaque != "" {
		p = u.Opaque
	}
	if p == "" {
		return nil, errors.New("secretstore: file URL without a path")
	}
	return &File{Path: filepath.Clean(p)}, nil
}

func (f *File) Get(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, filepath.Base(f.Path))
	}
	if err != nil {
		return nil, fmt.Errorf("secretstore: read: %w", err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: %s is empty", ErrNotFound, filepath.Base(f.Path))
	}
	return b, nil
}

func (f *File) Put(ctx context.Context, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secretstore: mkdir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".*")
	if err != nil {
		return fmt.Errorf("secretstore: create temp: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("secretstore: chmod: %w", err)
	}
	if _, err := tmp.Write(value); err != nil {
		tmp.Close()
		return fmt.Errorf("secretstore: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("secretstore: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("secretstore: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("secretstore: rename: %w", err)
	}
	f.removeLeftovers(tmp.Name())
	return nil
}

// leftoverAge: a temporary file older than this is not a concurrent
// write's (a write takes milliseconds).
const leftoverAge = time.Minute

// removeLeftovers deletes temporary files of earlier writes that never
// finished, except ours and any young enough to be in progress.
func (f *File) removeLeftovers(ours string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(f.Path), "."+globEscape(filepath.Base(f.Path))+".*"))
	for _, m := range matches {
		if m == ours || strings.HasSuffix(m, ".lease") || strings.HasSuffix(m, ".lock") {
			continue
		}
		if fi, err := os.Lstat(m); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > leftoverAge {
			_ = os.Remove(m)
		}
	}
}

func globEscape(s string) string {
	return strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`).Replace(s)
}
