package secretstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, "file://"+filepath.Join(dir, "sub", "tickets.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on missing file: %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, []byte(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, []byte(`{"a":2}`)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx)
	if err != nil || string(got) != `{"a":2}` {
		t.Fatalf("Get = %q, %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "sub", "tickets.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "sub"))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestOpenRelativeAndUnknown(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "file://.local/tickets.json")
	if err != nil {
		t.Fatal(err)
	}
	if p := s.(*File).Path; p != ".local/tickets.json" {
		t.Errorf("path %q", p)
	}
	if _, err := Open(ctx, "gopher://x"); err == nil {
		t.Error("unknown scheme accepted")
	}
}

// A write killed midway leaves a temporary file holding the secret: the
// next write removes it (a young one may be another write in progress).
func TestFilePutRemovesLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	f := &File{Path: filepath.Join(dir, "tickets.json")}
	old := filepath.Join(dir, ".tickets.json.123456")
	young := filepath.Join(dir, ".tickets.json.999999")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte(`{"webank":{"signTicket":"secret"}}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Minute)
	os.Chtimes(old, past, past)
	if err := f.Put(context.Background(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an old leftover survived the write: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("a young temporary file (a write in progress?) was removed: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, _ := e.Info(); fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is mode %v", e.Name(), fi.Mode().Perm())
		}
	}
}
