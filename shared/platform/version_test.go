package platform_test

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/buildinfo"
)

// A copy of the repository without its git history (a release tarball, a
// vendored copy) still knows its version: the binary built there says the
// release of shared/buildinfo/VERSION for -version and in /healthz.
func TestVersionFromACopyWithoutGit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a function")
	}
	root := repoRoot(t)
	cp := t.TempDir()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && (rel == ".git" || rel == "dist" || rel == ".local" || rel == ".aws-sam") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(cp, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(cp, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ocrresult")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./functions/ocrresult")
	build.Dir = cp
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	want := buildinfo.Release()
	if out, err := exec.Command(bin, "-version").Output(); err != nil || strings.TrimSpace(string(out)) != "ocrresult "+want {
		t.Fatalf("-version: %q %v, want %q", out, err, "ocrresult "+want)
	}
	// HTTP mode on a loopback port: /healthz says the same.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	tickets := filepath.Join(t.TempDir(), "tickets.json")
	os.WriteFile(tickets, []byte("{}"), 0o600)
	run := exec.CommandContext(ctx, bin)
	run.Env = append(os.Environ(), "PORT="+strconv.Itoa(port), "BIND_ADDR=127.0.0.1", "AUTH_MODE=none",
		"TICKET_STORE_URL=file://"+tickets, "WEBANK_APP_ID=IDA1", "WEBANK_SECRET=s", "AWS_LAMBDA_RUNTIME_API=", "SCF_RUNTIME=")
	run.Stdout, run.Stderr = io.Discard, io.Discard
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { run.Process.Kill(); run.Wait() }()
	var h struct{ Version string }
	for i := 0; ; i++ {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/healthz")
		if err == nil {
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("no /healthz: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if h.Version != want {
		t.Errorf("/healthz version %q, want %q", h.Version, want)
	}
}
