package secretstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
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
