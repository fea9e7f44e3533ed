package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr"
)

// fixture archives orders on given China dates into a file archive.
func fixture(t *testing.T, orders map[string]time.Time) (dir string, a *archive.Archive) {
	t.Helper()
	dir = t.TempDir()
	a = archive.New(&archive.FileBucket{Dir: filepath.Join(dir, "archive")}, "")
	photo := []byte(base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 1}.JPEG()))
	for no, at := range orders {
		a.Now = func() time.Time { return at }
		if _, err := a.Claim(context.Background(), ocr.Order{OrderNo: no, Kind: "bankcard", ImageSHA256: "ab", State: ocr.OrderDone, CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Save(context.Background(), archive.Record{Kind: "bankcard", OrderNo: no, Result: map[string]string{"number": "6222020200112233445"},
			Photos: map[string][]byte{"originBankcardPhoto": photo}}); err != nil {
			t.Fatal(err)
		}
	}
	return dir, a
}

func count(t *testing.T, dir, match string) int {
	n := 0
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(p, match) {
			n++
		}
		return nil
	})
	return n
}

func TestEraseByOrderDateAndTenant(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 10, 0, 0, 0, cst) }
	dir, a := fixture(t, map[string]time.Time{"bankA1": day(1), "bankB2": day(2), "bankC3": day(3), "bankD4": day(4)})
	url := "file://" + filepath.Join(dir, "archive")
	env := func(k string) string { return map[string]string{"ARCHIVE_URL": url}[k] }
	ctx := context.Background()
	var out strings.Builder

	// A dry run lists and changes nothing.
	if err := run(ctx, []string{"-order", "bankA1", "-dry-run"}, env, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "would erase 3 objects") || count(t, dir, "bankA1") != 4 {
		t.Fatalf("dry run: %s (files %d)", out.String(), count(t, dir, "bankA1"))
	}
	// By order number (the kind from its record).
	out.Reset()
	if err := run(ctx, []string{"-order", "bankA1", "-reason", "ticket 42"}, env, &out); err != nil {
		t.Fatal(err)
	}
	if count(t, dir, "bankA1") != 1 || !strings.Contains(out.String(), "erased 3 objects") {
		t.Fatalf("by order: %s (files %d)", out.String(), count(t, dir, "bankA1"))
	}
	// By date range: the 2nd and 3rd, not the 4th.
	out.Reset()
	if err := run(ctx, []string{"-kind", "bankcard", "-from", "2026-11-02", "-to", "2026-11-03"}, env, &out); err != nil {
		t.Fatal(err)
	}
	if count(t, dir, "bankB2") != 1 || count(t, dir, "bankC3") != 1 || count(t, dir, "bankD4") != 4 || !strings.Contains(out.String(), "erased 2 orders") {
		t.Fatalf("by date: %s", out.String())
	}
	// By tenant: everything of the default tenant that is not erased yet.
	out.Reset()
	if err := run(ctx, []string{"-tenant", "default"}, env, &out); err != nil {
		t.Fatal(err)
	}
	if count(t, dir, "bankD4") != 1 || !strings.Contains(out.String(), "erased 1 orders") {
		t.Fatalf("by tenant: %s", out.String())
	}
	for _, no := range []string{"bankA1", "bankB2", "bankC3", "bankD4"} {
		if rec, err := a.Order(ctx, "", no); err != nil || rec == nil || rec.State != ocr.OrderErased {
			t.Errorf("%s: %+v %v", no, rec, err)
		}
	}
	// Four erasures, four audit records (and the salt), none with an order number.
	if n := count(t, filepath.Join(dir, "archive", "_audit"), ".json"); n != 4 {
		t.Errorf("audit records: %d", n)
	}
	if n := count(t, filepath.Join(dir, "archive", "_audit"), "bank"); n != 0 {
		t.Errorf("audit file names carry order numbers")
	}
	// Usage errors.
	for _, args := range [][]string{{}, {"-from", "2026-11-02"}, {"-kind", "bankcard", "-from", "2026-11-05", "-to", "2026-11-01"}} {
		if err := run(ctx, args, env, &out); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
