package archive_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/ocr"
)

func TestRetentionRules(t *testing.T) {
	rules := archive.RetentionRules("/archive/", 180, 1096)
	got := map[string]int{}
	for _, r := range rules {
		got[r.Prefix] = r.Days
	}
	want := map[string]int{"uploads/": 1, "archive/idcard/": 180, "archive/bankcard/": 180, "archive/_done/": 180, "archive/_pending/": 180,
		"archive/_orders/": 180, "archive/_rejected/": 180, "archive/_tenants/": 180, "archive/_callbacks/": 180, "archive/_audit/": 1096}
	if len(got) != len(want) {
		t.Fatalf("rules %+v", rules)
	}
	for p, d := range want {
		if got[p] != d {
			t.Errorf("%s: %d days, want %d", p, got[p], d)
		}
	}
}

// The file archive's sweep expires what the lifecycle rules would: results
// and markers past the retention, audit records only past theirs, uploads
// after a day.
func TestFileSweep(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := &archive.FileBucket{Dir: dir}
	a := archive.New(b, "")
	old := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a.Now = func() time.Time { return old }
	if _, err := a.Save(ctx, archive.Record{Kind: "bankcard", OrderNo: "bankOld1", Result: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	// A tenant's evidence, under its own subtree, is swept by its day too.
	if _, err := a.Save(ctx, archive.Record{Kind: "bankcard", OrderNo: "tenantOld1", Owner: "acme", Result: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Claim(ctx, ocr.Order{OrderNo: "bankOld1", Kind: "bankcard", State: ocr.OrderDone}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Erase(ctx, ocr.Erasure{Kind: "bankcard", OrderNo: "gone1", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	// Markers and records are judged by their own time.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			os.Chtimes(p, old, old)
		}
		return nil
	})
	newer := old.AddDate(0, 0, 100)
	a.Now = func() time.Time { return newer }
	if _, err := a.Save(ctx, archive.Record{Kind: "bankcard", OrderNo: "bankNew1", Result: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Save(ctx, archive.Record{Kind: "bankcard", OrderNo: "tenantNew1", Owner: "acme", Result: map[string]string{"x": "y"}}); err != nil {
		t.Fatal(err)
	}
	upload := filepath.Join(dir, "uploads", "bankcard", "a.jpg")
	os.MkdirAll(filepath.Dir(upload), 0o700)
	os.WriteFile(upload, []byte("x"), 0o600)
	os.Chtimes(upload, old, old)

	a.Now = func() time.Time { return old.AddDate(0, 0, 181) }
	n, err := a.Sweep(ctx, 180, 1096)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			left = append(left, filepath.ToSlash(rel))
		}
		return nil
	})
	joined := strings.Join(left, " ")
	if strings.Contains(joined, "bankOld1") || !strings.Contains(joined, "bankNew1/result.json") || !strings.Contains(joined, "_audit/2026/01/01/") ||
		strings.Contains(joined, "tenantOld1") || !strings.Contains(joined, "_tenants/acme/bankcard/2026/04/11/tenantNew1/result.json") ||
		!strings.Contains(joined, "uploads/bankcard/a.jpg") {
		t.Errorf("swept %d; left %q", n, left)
	}
	if n, err := archive.SweepUploads(ctx, b, old.AddDate(0, 0, 181)); err != nil || n != 1 {
		t.Errorf("uploads swept %d %v", n, err)
	}
	// Audit records go after theirs.
	a.Now = func() time.Time { return old.AddDate(0, 0, 1200) }
	if _, err := a.Sweep(ctx, 180, 1096); err != nil {
		t.Fatal(err)
	}
	if keys, _ := b.List(ctx, "_audit/2026/"); len(keys) != 0 {
		t.Errorf("audit records past their retention: %q", keys)
	}
}
