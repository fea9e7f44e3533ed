package archive

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFileArchiveLayoutAndMarkers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := Open(ctx, "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	a.Prefix = "p"
	a.Now = func() time.Time { return time.Date(2026, 3, 31, 17, 30, 0, 0, time.UTC) } // 1 April in China
	if done, err := a.Done(ctx, KindBankCard, "o1"); err != nil || done {
		t.Fatalf("Done before Save: %v %v", done, err)
	}
	if p, err := a.Pending(ctx, KindBankCard, "o1"); err != nil || p != nil {
		t.Fatalf("Pending before a claim: %v %v", p, err)
	}
	if ok, err := a.ClaimPending(ctx, KindBankCard, "o1"); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := a.ClaimPending(ctx, KindBankCard, "o1"); err != nil || ok {
		t.Fatalf("second claim: %v %v", ok, err)
	}
	if p, err := a.Pending(ctx, KindBankCard, "o1"); err != nil || p == nil || p.State != Sending {
		t.Fatalf("Pending: %+v %v", p, err)
	}
	if err := a.SetPending(ctx, KindBankCard, "o1", NotSent); err != nil {
		t.Fatal(err)
	}
	if p, err := a.Pending(ctx, KindBankCard, "o1"); err != nil || p.State != NotSent {
		t.Fatalf("Pending after SetPending: %+v %v", p, err)
	}
	jpeg := []byte("/9j/4AAQ") // FF D8 FF E0 00 10
	key, err := a.Save(ctx, Record{Kind: KindBankCard, OrderNo: "o1", Result: map[string]string{"a": "b"}, Photos: map[string][]byte{"cardPhoto": jpeg}})
	if err != nil {
		t.Fatal(err)
	}
	if key != "p/bankcard/2026/04/01/o1/result.json" {
		t.Errorf("result key %q", key)
	}
	img, err := os.ReadFile(filepath.Join(dir, "p/bankcard/2026/04/01/o1/cardPhoto.jpg"))
	if err != nil || img[0] != 0xFF || img[1] != 0xD8 {
		t.Errorf("photo: %x %v", img, err)
	}
	fi, err := os.Stat(filepath.Join(dir, key))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("result.json: %v %v", fi, err)
	}
	var m Marker
	b, _ := os.ReadFile(filepath.Join(dir, "p/_done/bankcard/o1.json"))
	if json.Unmarshal(b, &m) != nil || m.Result != key {
		t.Errorf("marker %s", b)
	}
	if done, err := a.Done(ctx, KindBankCard, "o1"); err != nil || !done {
		t.Errorf("Done after Save: %v %v", done, err)
	}
	if _, err := a.Save(ctx, Record{Kind: "passport", OrderNo: "o1"}); err == nil {
		t.Error("unknown kind saved")
	}
	if _, err := a.Save(ctx, Record{Kind: KindIDCard, OrderNo: "../x"}); err == nil {
		t.Error("bad order number saved")
	}
	if _, err := a.Save(ctx, Record{Kind: KindIDCard, OrderNo: "o2", Photos: map[string][]byte{"../x": jpeg}}); err == nil {
		t.Error("bad photo name saved")
	}
	if _, err := a.Save(ctx, Record{Kind: KindIDCard, OrderNo: "o3", Photos: map[string][]byte{"x": []byte("!!")}}); err == nil {
		t.Error("bad base64 saved")
	}
}

func TestFileBucketRejectsEscapesAndMissing(t *testing.T) {
	ctx := context.Background()
	b := &FileBucket{Dir: t.TempDir()}
	for _, k := range []string{"../x", "a/../../x", ""} {
		if err := b.Put(ctx, k, []byte("x"), ""); err == nil {
			t.Errorf("Put(%q) allowed", k)
		}
	}
	if _, err := b.Stat(ctx, "missing"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Stat missing: %v", err)
	}
	if _, _, err := b.Open(ctx, "missing"); !errors.Is(err, ErrNotExist) {
		t.Errorf("Open missing: %v", err)
	}
	if _, err := Open(ctx, "ftp://x"); err == nil {
		t.Error("unknown scheme opened")
	}
	if _, err := Open(ctx, "file://"); err == nil {
		t.Error("file:// without a directory opened")
	}
}
