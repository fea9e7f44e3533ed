package devstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

// End-to-end tests of the rules the documents state and our first reading
// missed (issue "the documents, read literally").

func startStackWith(t *testing.T, extra env, ec emulator.Config) (*Stack, *syncBuffer) {
	t.Helper()
	e := env{"PORT": "0", "LOG_LEVEL": "debug", "LOG_FORMAT": "json"}
	for k, v := range extra {
		e[k] = v
	}
	logs := &syncBuffer{}
	s, err := Start(context.Background(), Options{Getenv: e.get, Dir: t.TempDir(), Stdout: io.Discard, Logs: logs, Emulator: ec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// "身份证人像面或者国徽面图片的 Base64，大小不超过20MB" (length 20971520) and
// bankcardStr "Base64 String … 大小不超过3MB": the limits are on the Base64,
// so 16 MiB ID card and 2.5 MiB bank card images are refused on every
// path before any upstream call, and a 14 MiB ID card image is accepted.
func TestBase64LimitsOnEveryPath(t *testing.T) {
	if testing.Short() {
		t.Skip("large images")
	}
	// The documents' limits as enforced before any call when photos are
	// not fitted (IMAGE_FIT=off) and no synchronous bound stands in front
	// (SYNC_BODY_LIMIT=0); fitted photos: TestPhonePhotoFitted.
	s, _ := startStack(t, env{"IMAGE_FIT": "off", "SYNC_BODY_LIMIT": "0"})
	bigID := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 14, MinSize: 16 << 20}.JPEG()
	bigBank := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 14, MinSize: 5 << 19}.JPEG()
	s.Emulator.ResetCounts()

	for _, c := range []struct {
		name, path string
		fields     map[string]string
		img        []byte
	}{
		{"ID card 16 MiB", "/v1/idcard/ocr", map[string]string{"side": "front"}, bigID},
		{"bank card 2.5 MiB", "/v1/bankcard/ocr", nil, bigBank},
	} {
		js := map[string]any{"image": base64.StdEncoding.EncodeToString(c.img)}
		for k, v := range c.fields {
			js[k] = v
		}
		st, body := do(t, s, "POST", c.path, "application/json", jsonBody(t, js), s.APIKey)
		if st != 413 || code(body) != "image_too_large" {
			t.Errorf("%s, JSON: %d %s", c.name, st, truncate(body))
		}
		ct, mb := multipartBody(t, c.fields, c.img)
		st, body = do(t, s, "POST", c.path, ct, mb, s.APIKey)
		if st != 413 || code(body) != "image_too_large" {
			t.Errorf("%s, multipart: %d %s", c.name, st, truncate(body))
		}
	}
	// The evidence path: the object's size is known before it is read.
	uploads := filepath.Join(filepath.Dir(strings.TrimPrefix(s.Config.ArchiveURL, "file://")), "uploads")
	must(t, os.WriteFile(filepath.Join(uploads, "idcard", "front", "big.jpg"), bigID, 0o600))
	must(t, os.WriteFile(filepath.Join(uploads, "bankcard", "big.jpg"), bigBank, 0o600))
	if n, err := s.Evidence.ScanUploads(context.Background(), 0); err != nil || n != 2 {
		t.Fatalf("scan: %d %v", n, err)
	}
	archived := 0
	filepath.WalkDir(strings.TrimPrefix(s.Config.ArchiveURL, "file://"), func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "result.json" {
			b, _ := os.ReadFile(p)
			if !strings.Contains(string(b), `"code": "image_too_large"`) {
				t.Errorf("%s: %s", p, b)
			}
			archived++
		}
		return nil
	})
	if archived != 2 {
		t.Errorf("%d uploads archived as image_too_large, want 2", archived)
	}
	for k, n := range s.Emulator.Counts() {
		if n != 0 {
			t.Errorf("too large images cost %d %s calls", n, k)
		}
	}

	// 14 MiB: within the limit, sent and recognized (JSON and multipart).
	ok := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 15, MinSize: 14 << 20}.JPEG()
	st, body := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(ok)}), s.APIKey)
	if st != 200 || !strings.Contains(string(body), emulator.Person(15).IDNumber) {
		t.Errorf("14 MiB, JSON: %d %s", st, truncate(body))
	}
	ct, mb := multipartBody(t, map[string]string{"side": "front"}, ok)
	if st, body := do(t, s, "POST", "/v1/idcard/ocr", ct, mb, s.APIKey); st != 200 {
		t.Errorf("14 MiB, multipart: %d %s", st, truncate(body))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// "部分情况下获取照片会有1秒左右的延迟", with the photos 2 s late: a files=1
// query right after the submit returns the photos or says they are pending
// (never silently without them), and the queue and upload paths archive
// them.
func TestLatePhotosEndToEnd(t *testing.T) {
	s, logs := startStackWith(t, nil, emulator.Config{PhotoDelay: 2 * time.Second})
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 71}.JPEG()
	st, body := do(t, s, "POST", "/v1/bankcard/ocr", "application/json",
		jsonBody(t, map[string]any{"image": base64.StdEncoding.EncodeToString(img), "orderNo": "bankLate71"}), s.APIKey)
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	st, body = do(t, s, "GET", "/v1/bankcard/results/bankLate71?files=1", "", nil, s.APIKey)
	var r struct {
		Files        map[string]string `json:"files"`
		FilesPending bool              `json:"filesPending"`
	}
	json.Unmarshal(body, &r)
	if st != 200 || (r.Files["originBankcardPhoto"] == "") == !r.FilesPending {
		t.Errorf("files=1 right after the submit: %d photos %d, pending %v", st, len(r.Files), r.FilesPending)
	}

	// Queue: a fresh order, its message at once.
	img2 := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 72}.JPEG()
	st, body = do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "back", "image": base64.StdEncoding.EncodeToString(img2), "orderNo": "idLate72"}), s.APIKey)
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	st, body = do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"kind":"idcard","orderNo":"idLate72"}`), "")
	if st != 200 || !strings.Contains(string(body), `"archived":1`) {
		t.Fatalf("queue: %d %s", st, body)
	}
	// Upload: submitted, then its photos awaited.
	uploads := filepath.Join(filepath.Dir(strings.TrimPrefix(s.Config.ArchiveURL, "file://")), "uploads")
	must(t, os.WriteFile(filepath.Join(uploads, "bankcard", "late.jpg"), emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 73}.JPEG(), 0o600))
	if n, err := s.Evidence.ScanUploads(context.Background(), 0); err != nil || n != 1 {
		t.Fatalf("scan: %d %v", n, err)
	}
	photos := map[string]bool{}
	filepath.WalkDir(strings.TrimPrefix(s.Config.ArchiveURL, "file://"), func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".jpg") {
			photos[filepath.Base(filepath.Dir(p))+"/"+d.Name()] = true
		}
		return nil
	})
	if !photos["idLate72/backPhoto.jpg"] {
		t.Errorf("queued order archived without its photo: %v", photos)
	}
	n := 0
	for k := range photos {
		if strings.HasSuffix(k, "/originBankcardPhoto.jpg") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("upload archived without its photo: %v", photos)
	}
	assertNoPII(t, logs.String(), s, emulator.Person(72).IDNumber, emulator.BankCard(71).Number, emulator.BankCard(73).Number)
}

// "订单号…每次调用唯一": a client that timed out retries with the same orderNo.
// Whatever the upstream answers a repeat with, the retry gets the stored
// result (replayed) with no second billable call; another side or kind
// under the same number is order_conflict.
func TestRepeatedOrderNumber(t *testing.T) {
	for _, dup := range []string{"", "66661099", "400101", "-1304"} {
		t.Run("duplicate code "+dup, func(t *testing.T) {
			s, _ := startStackWith(t, nil, emulator.Config{DuplicateOrderCode: dup})
			front := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 81}.JPEG())
			back := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 81}.JPEG())
			bank := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 81}.JPEG())
			type res struct {
				OrderNo  string `json:"orderNo"`
				Replayed bool   `json:"replayed"`
				Card     struct {
					IDNumber string `json:"idNumber"`
					Number   string `json:"number"`
				} `json:"card"`
			}
			post := func(path string, fields map[string]any) (int, res, []byte) {
				st, body := do(t, s, "POST", path, "application/json", jsonBody(t, fields), s.APIKey)
				var r res
				json.Unmarshal(body, &r)
				return st, r, body
			}
			s.Emulator.ResetCounts()
			for i := range 2 {
				st, r, body := post("/v1/idcard/ocr", map[string]any{"side": "front", "image": front, "orderNo": "retry81"})
				if st != 200 || r.Card.IDNumber != emulator.Person(81).IDNumber || r.Replayed != (i == 1) {
					t.Fatalf("submit %d: %d %s", i+1, st, truncate(body))
				}
			}
			if n := s.Emulator.Count("accepted:" + emulator.EndpointIDCardOCR); n != 1 {
				t.Errorf("accepted OCR calls %d, want 1", n)
			}
			// The other side, or a bank card, under the same number.
			if st, _, body := post("/v1/idcard/ocr", map[string]any{"side": "back", "image": back, "orderNo": "retry81"}); st != 409 || code(body) != "order_conflict" {
				t.Errorf("back under a front's number: %d %s", st, truncate(body))
			}
			if st, _, body := post("/v1/bankcard/ocr", map[string]any{"image": bank, "orderNo": "retry81"}); st != 409 || code(body) != "order_conflict" {
				t.Errorf("bank card under an ID card's number: %d %s", st, truncate(body))
			}
			// Bank cards too.
			for i := range 2 {
				st, r, body := post("/v1/bankcard/ocr", map[string]any{"image": bank, "orderNo": "bankRetry81"})
				if st != 200 || r.Card.Number != emulator.BankCard(81).Number || r.Replayed != (i == 1) {
					t.Fatalf("bank submit %d: %d %s", i+1, st, truncate(body))
				}
			}
			if st, _, body := post("/v1/idcard/ocr", map[string]any{"side": "front", "image": front, "orderNo": "bankRetry81"}); st != 409 || code(body) != "order_conflict" {
				t.Errorf("ID card under a bank card's number: %d %s", st, truncate(body))
			}
			if n := s.Emulator.Count("accepted:" + emulator.EndpointBankCardOCR); n != 1 {
				t.Errorf("accepted bank OCR calls %d, want 1", n)
			}
		})
	}
}
