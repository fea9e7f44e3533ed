package archive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// FileBucket is a directory used as a bucket (file://dir): local use and
// tests. Writes are atomic (temporary file, then rename); files are
// private to the user (0600, directories 0700).
type FileBucket struct {
	Dir string
}

// openFile opens file://dir (relative: file://.local/archive; absolute:
// file:///var/archive). The whole path is the directory; there is no prefix.
func openFile(_ context.Context, u *url.URL) (Bucket, string, error) {
	dir := u.Host + u.Path
	if u.Opaque != "" {
		dir = u.Opaque
	}
	if dir == "" {
		return nil, "", errors.New("archive: file:// URL without a directory")
	}
	return &FileBucket{Dir: filepath.FromSlash(dir)}, "", nil
}

func (b *FileBucket) path(key string) (string, error) {
	clean := filepath.FromSlash(strings.TrimPrefix(key, "/"))
	if clean == "" || !filepath.IsLocal(clean) {
		return "", fmt.Errorf("archive: key %q leaves the directory", key)
	}
	return filepath.Join(b.Dir, clean), nil
}

// Put writes data atomically.
func (b *FileBucket) Put(ctx context.Context, key string, data []byte, _ string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := b.path(key)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(p, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// Create writes data only if key does not exist yet (ErrExists otherwise):
// the content is written to a temporary file, then linked to its name,
// which fails if the name exists (as O_EXCL would, but never leaving a
// half-written file under the name).
func (b *FileBucket) Create(ctx context.Context, key string, data []byte, _ string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := b.path(key)
	if err != nil {
		return err
	}
	tmp, err := writeTemp(p, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("archive: %s: %w", key, ErrExists)
		}
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// writeTemp writes data to a new temporary file next to p (mode 0600) and
// returns its name.
func writeTemp(p string, data []byte) (string, error) {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("archive: %w", err)
	}
	var r [8]byte
	_, _ = rand.Read(r[:])
	tmp := p + ".tmp-" + hex.EncodeToString(r[:])
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return "", fmt.Errorf("archive: %w", err)
	}
	return tmp, nil
}

// Open streams a file.
func (b *FileBucket) Open(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, ObjectInfo{}, err
	}
	p, err := b.path(key)
	if err != nil {
		return nil, ObjectInfo{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, ObjectInfo{}, fileErr(err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, ObjectInfo{}, fmt.Errorf("archive: %s is not a regular file: %w", key, ErrNotExist)
	}
	return f, info(fi), nil
}

// Stat describes a file.
func (b *FileBucket) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	p, err := b.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, fileErr(err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("archive: %s is not a regular file: %w", key, ErrNotExist)
	}
	return info(fi), nil
}

// Delete removes a file and the directories it leaves empty (up to Dir):
// an erased order leaves no trace in the tree.
func (b *FileBucket) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := b.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fileErr(err)
	}
	root := filepath.Clean(b.Dir)
	for d := filepath.Dir(p); d != root && strings.HasPrefix(d, root+string(filepath.Separator)); d = filepath.Dir(d) {
		if os.Remove(d) != nil { // not empty (or gone): stop
			break
		}
	}
	return nil
}

// List walks the directory of prefix and returns the keys of the regular
// files under prefix (temporary files of unfinished writes left out).
func (b *FileBucket) List(ctx context.Context, prefix string) ([]string, error) {
	dir := path.Dir(prefix + "x") // the directory holding prefix's last segment
	start := b.Dir
	if dir != "." {
		p, err := b.path(dir)
		if err != nil {
			return nil, err
		}
		start = p
	}
	var keys []string
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if !d.Type().IsRegular() || strings.Contains(d.Name(), ".tmp-") {
			return nil
		}
		rel, err := filepath.Rel(b.Dir, p)
		if err != nil {
			return nil
		}
		if k := filepath.ToSlash(rel); strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
		return nil
	})
	if err != nil {
		return nil, fileErr(err)
	}
	sort.Strings(keys)
	return keys, nil
}

// OpenBucket returns the same directory: locally, every "bucket" is the
// one directory.
func (b *FileBucket) OpenBucket(context.Context, string, string) (Bucket, error) { return b, nil }

func info(fi fs.FileInfo) ObjectInfo {
	return ObjectInfo{Size: fi.Size(), ETag: strconv.FormatInt(fi.ModTime().UnixNano(), 36), Modified: fi.ModTime()}
}

func fileErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("archive: %w", ErrNotExist)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("archive: %s: %w", pe.Op, pe.Err)
	}
	return fmt.Errorf("archive: %w", err)
}
