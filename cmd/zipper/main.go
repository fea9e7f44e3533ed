// Command zipper writes a deployment zip: each file at the archive root under
// its base name, with its Unix mode kept (the executable bit of bootstrap
// matters on AWS Lambda and SCF) and a fixed timestamp, so that the same
// inputs give the same bytes.
//
//	zipper out.zip dist/aws/fn/bootstrap [more files...]
package main

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// epoch is the timestamp of every entry (SOURCE_DATE_EPOCH overrides it).
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: zipper out.zip file...")
		os.Exit(2)
	}
	if err := writeZip(os.Args[1], os.Args[2:], modTime()); err != nil {
		fmt.Fprintln(os.Stderr, "zipper:", err)
		os.Exit(1)
	}
}

func modTime() time.Time {
	var s int64
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		if _, err := fmt.Sscan(v, &s); err == nil {
			return time.Unix(s, 0).UTC()
		}
	}
	return epoch
}

// writeZip writes files into out (replaced atomically).
func writeZip(out string, files []string, mtime time.Time) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".zipper-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	zw := zip.NewWriter(tmp)
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		if seen[name] {
			return fmt.Errorf("two files named %s", name)
		}
		seen[name] = true
		if err := addFile(zw, f, name, mtime); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

func addFile(zw *zip.Writer, path, name string, mtime time.Time) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return errors.New(path + " is not a regular file")
	}
	h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: mtime}
	h.SetMode(st.Mode().Perm()) // Unix creator, mode in the external attributes
	w, err := zw.CreateHeader(h)
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	return err
}
