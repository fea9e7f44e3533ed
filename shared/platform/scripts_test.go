package platform_test

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"github.com/cardocr/cardocr/shared/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestPackageScriptKeepsExecBit runs scripts/package.sh on a fake dist tree
// (bootstraps deliberately not executable) and checks each zip: the files at
// the root, mode 0755.
func TestPackageScriptKeepsExecBit(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dist := t.TempDir()
	for _, p := range []string{"aws/fn", "scf/fn"} {
		if err := os.MkdirAll(filepath.Join(dist, p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dist, p, "bootstrap"), []byte("#!/bin/sh\necho hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(t), "scripts", "package.sh"))
	cmd.Env = append(os.Environ(), "DIST="+dist, "GO="+goTool())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("package.sh: %v\n%s", err, out)
	}
	v := buildinfo.Release()
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for _, plat := range []string{"aws", "scf"} {
		name := plat + "/cardocr-" + v + "-" + plat + "-fn.zip"
		b, err := os.ReadFile(filepath.Join(dist, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if !strings.Contains(string(sums), hex.EncodeToString(sum[:])+"  "+name+"\n") {
			t.Errorf("SHA256SUMS lacks %s:\n%s", name, sums)
		}
	}
	for zipPath, want := range map[string][]string{
		"aws/cardocr-" + v + "-aws-fn.zip": {"bootstrap"},
		"scf/cardocr-" + v + "-scf-fn.zip": {"bootstrap", "scf_bootstrap"},
	} {
		zr, err := zip.OpenReader(filepath.Join(dist, zipPath))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
			if f.Mode() != 0o755 {
				t.Errorf("%s: %s has mode %v, want 0755", zipPath, f.Name, f.Mode())
			}
		}
		zr.Close()
		sort.Strings(names)
		if !reflect.DeepEqual(names, want) {
			t.Errorf("%s holds %v, want %v", zipPath, names, want)
		}
	}
}
