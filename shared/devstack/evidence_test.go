package devstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/resultfetch"
)

func TestLocalEvidencePath(t *testing.T) {
	s, logs := startStack(t, nil)
	archiveDir := strings.TrimPrefix(s.Config.ArchiveURL, "file://")
	localDir := filepath.Dir(archiveDir)
	day := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006/01/02")

	// Queue: a bank card submitted through the API, then its message.
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 808}.JPEG()
	st, body := do(t, s, "POST", "/v1/bankcard/ocr", "application/json",
		jsonBody(t, map[string]any{"image": base64.StdEncoding.EncodeToString(img), "orderNo": "bankLocal808"}), s.APIKey)
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	st, body = do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"kind":"bankcard","orderNo":"bankLocal808"}`), "")
	if st != 200 || !strings.Contains(string(body), `"archived":1`) {
		t.Fatalf("queue: %d %s", st, body)
	}
	dir := filepath.Join(archiveDir, "bankcard", filepath.FromSlash(day), "bankLocal808")
	for _, f := range []string{"result.json", "originBankcardPhoto.jpg", "bankcardCropPhoto.jpg", "bankcardNoPhoto.jpg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if orig, _ := os.ReadFile(filepath.Join(dir, "originBankcardPhoto.jpg")); !bytes.Equal(orig, img) {
		t.Errorf("archived original differs")
	}
	// One normalized copy of the card number, not a second raw one.
	if b, _ := os.ReadFile(filepath.Join(dir, "result.json")); strings.Count(string(b), emulator.BankCard(808).Number) != 1 {
		t.Errorf("result.json holds the card number %d times: %s", strings.Count(string(b), emulator.BankCard(808).Number), b)
	}
	// Again: already archived, no upstream call.
	s.Emulator.ResetCounts()
	st, body = do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"kind":"bankcard","orderNo":"bankLocal808"}`), "")
	if st != 200 || !strings.Contains(string(body), `"already_archived":1`) || s.Emulator.Count(emulator.EndpointBankCardResult) != 0 {
		t.Errorf("redelivery: %d %s %v", st, body, s.Emulator.Counts())
	}
	st, body = do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"kind":"passport","orderNo":"x1"}`), "")
	if st != 422 {
		t.Errorf("bad message: %d %s", st, body)
	}

	// Uploads: an ID card front dropped into .local/uploads/idcard/front/.
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 909}.JPEG()
	up := filepath.Join(localDir, "uploads", "idcard", "front", "user 909.jpg")
	if err := os.WriteFile(up, front, 0o600); err != nil {
		t.Fatal(err)
	}
	info, err := (&archive.FileBucket{Dir: localDir}).Stat(context.Background(), "uploads/idcard/front/user 909.jpg")
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Evidence.ScanUploads(context.Background(), 0)
	if err != nil || n != 1 {
		t.Fatalf("scan: %d %v", n, err)
	}
	// One copy is kept: the upload is gone once its order is archived.
	if _, err := os.Stat(up); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the uploaded photo is still in .local/uploads after archiving: %v", err)
	}
	orderNo := resultfetch.UploadOrderNo("local", "uploads/idcard/front/user 909.jpg", info.ETag, info.Size)
	var doc struct {
		Source archive.Source
		Result struct {
			Card struct{ IDNumber string }
		}
	}
	b, err := os.ReadFile(filepath.Join(archiveDir, "idcard", filepath.FromSlash(day), orderNo, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(b, &doc)
	for _, v := range []string{emulator.Person(909).IDNumber, emulator.Person(909).Name, emulator.Person(909).Address} {
		if n := strings.Count(string(b), v); n != 1 {
			t.Errorf("result.json holds a datum %d times (want one normalized copy): %s", n, b)
		}
	}
	if doc.Result.Card.IDNumber != emulator.Person(909).IDNumber || doc.Source.Key != "uploads/idcard/front/user 909.jpg" {
		t.Errorf("archived: %s", b)
	}
	if n, _ := s.Evidence.ScanUploads(context.Background(), 0); n != 0 {
		t.Errorf("rescan handled %d files", n)
	}
	if c := s.Emulator.Count(emulator.EndpointIDCardOCR); c != 1 {
		t.Errorf("ID submits = %d", c)
	}
	assertNoPII(t, logs.String(), s, emulator.Person(909).IDNumber, emulator.Person(909).Name, emulator.BankCard(808).Number)
}

// The documented queue message is {"orderNo":"…"}: bare, at /_local/queue
// and as a direct invoke, it is archived when the number says its kind (a
// generated one) or the order's record does (a caller's own number this
// service made); otherwise the answer says that kind is needed.
func TestBareOrderNoMessages(t *testing.T) {
	s, _ := startStack(t, nil)
	img := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 61}.JPEG())
	_, body := do(t, s, "POST", "/v1/bankcard/ocr", "application/json", jsonBody(t, map[string]any{"image": img}), s.APIKey)
	generated := orderNoOf(string(body))
	if st, _ := do(t, s, "POST", "/v1/bankcard/ocr", "application/json", jsonBody(t, map[string]any{"image": img, "orderNo": "myOwn61"}), s.APIKey); st != 200 {
		t.Fatal(st)
	}
	for _, no := range []string{generated, "myOwn61"} {
		st, b := do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"orderNo":"`+no+`"}`), "")
		if st != 200 || !strings.Contains(string(b), `"archived":1`) {
			t.Errorf("bare message for %s at the local queue: %d %s", no, st, b)
		}
	}
	// A direct invoke of the function (the handler itself), archived again: already.
	out, err := s.Evidence.Handler.Handle(context.Background(), json.RawMessage(`{"orderNo":"`+generated+`"}`))
	if err != nil || !strings.Contains(fmt.Sprint(out), "already_archived") {
		t.Errorf("direct invoke: %v %v", out, err)
	}
	// An order number this service never saw, without kind: 422 naming kind.
	st, b := do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"orderNo":"strangerNo1"}`), "")
	if st != 422 || !strings.Contains(string(b), "kind") {
		t.Errorf("unknown number without kind: %d %s", st, b)
	}
}
