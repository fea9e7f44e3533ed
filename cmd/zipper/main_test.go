package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestZipKeepsExecBit(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "README")
	if err := os.WriteFile(other, []byte("text"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "fn.zip")
	if err := writeZip(out, []string{bin, other}, epoch); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	modes := map[string]os.FileMode{}
	for _, f := range zr.File {
		modes[f.Name] = f.Mode()
		if f.CreatorVersion>>8 != 3 {
			t.Errorf("%s: creator %d, want Unix (3)", f.Name, f.CreatorVersion>>8)
		}
		if !f.Modified.Equal(epoch) {
			t.Errorf("%s: modified %v", f.Name, f.Modified)
		}
	}
	if modes["bootstrap"] != 0o755 || modes["README"] != 0o644 || len(modes) != 2 {
		t.Errorf("modes %v", modes)
	}
	// Same inputs, same bytes.
	first, _ := os.ReadFile(out)
	if err := writeZip(out, []string{bin, other}, epoch); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(out)
	if !bytes.Equal(first, second) {
		t.Error("zip is not reproducible")
	}
	if err := writeZip(out, []string{bin, bin}, time.Time{}); err == nil {
		t.Error("duplicate names accepted")
	}
}
