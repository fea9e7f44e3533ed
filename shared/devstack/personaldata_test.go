package devstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
)

// A repeated orderNo with another person's photo is a conflict, never the
// first person's identity: for ID and bank cards, JSON and multipart, before
// and after the order is archived, decided from the stored record with no
// upstream call.
func TestAnotherPersonsPhotoUnderAUsedOrderNo(t *testing.T) {
	s, logs := startStack(t, nil)
	idOf := func(seed int64) []byte {
		return emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: seed}.JPEG()
	}
	bankOf := func(seed int64) []byte { return emulator.CardSpec{Kind: emulator.KindBankCard, Seed: seed}.JPEG() }
	submit := func(path, form string, fields map[string]string, img []byte) (int, []byte) {
		t.Helper()
		if form == "multipart" {
			ct, body := multipartBody(t, fields, img)
			return do(t, s, "POST", path, ct, body, s.APIKey)
		}
		m := map[string]any{"image": base64.StdEncoding.EncodeToString(img)}
		for k, v := range fields {
			m[k] = v
		}
		return do(t, s, "POST", path, "application/json", jsonBody(t, m), s.APIKey)
	}
	for _, tc := range []struct {
		kind, path string
		fields     map[string]string
		image      func(int64) []byte
		secret     func(int64) string
	}{
		{"idcard", "/v1/idcard/ocr", map[string]string{"side": "front"}, idOf, func(n int64) string { return emulator.Person(n).IDNumber }},
		{"bankcard", "/v1/bankcard/ocr", map[string]string{}, bankOf, func(n int64) string { return emulator.BankCard(n).Number }},
	} {
		for _, form := range []string{"json", "multipart"} {
			for _, archived := range []bool{false, true} {
				name := tc.kind + "/" + form
				orderNo := tc.kind[:2] + form[:2] + "A"
				if archived {
					name += "/archived"
					orderNo += "rch"
				}
				t.Run(name, func(t *testing.T) {
					fields := map[string]string{"orderNo": orderNo}
					for k, v := range tc.fields {
						fields[k] = v
					}
					first := int64(len(orderNo)*100 + len(form))
					st, body := submit(tc.path, form, fields, tc.image(first))
					if st != 200 || !strings.Contains(string(body), tc.secret(first)) {
						t.Fatalf("first: %d %s", st, truncate(body))
					}
					if archived {
						msg, _ := json.Marshal(map[string]string{"kind": tc.kind, "orderNo": orderNo})
						if st, body := do(t, s, "POST", QueuePath, "application/json", strings.NewReader(string(msg)), ""); st != 200 || !strings.Contains(string(body), `"archived":1`) {
							t.Fatalf("archive: %d %s", st, body)
						}
					}
					s.Emulator.ResetCounts()
					// The same person again: the stored result, replayed.
					st, body = submit(tc.path, form, fields, tc.image(first))
					if st != 200 || !strings.Contains(string(body), `"replayed":true`) || !strings.Contains(string(body), tc.secret(first)) {
						t.Fatalf("retry: %d %s", st, truncate(body))
					}
					// Another person's photo: 409, nothing of the first person.
					st, body = submit(tc.path, form, fields, tc.image(first+1))
					if st != 409 || code(body) != "order_conflict" || strings.Contains(string(body), tc.secret(first)) {
						t.Fatalf("another person's photo: %d %s", st, truncate(body))
					}
					for _, ep := range []string{emulator.EndpointIDCardOCR, emulator.EndpointBankCardOCR} {
						if n := s.Emulator.Count(ep); n != 0 {
							t.Errorf("%d %s submits after the first; want 0 (the record decides)", n, ep)
						}
					}
				})
			}
		}
	}
	assertNoPII(t, logs.String(), s, emulator.Person(601).IDNumber)
}

// DELETE erases the order's files from .local (listed before and after),
// a later GET is 410, a repeat is 204 again, and each erasure writes one
// audit record that holds no personal data.
func TestEraseAnOrderOnTheLocalStack(t *testing.T) {
	s, logs := startStack(t, nil)
	archiveDir := strings.TrimPrefix(s.Config.ArchiveURL, "file://")
	person := emulator.Person(707)
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 707}.JPEG()
	st, body := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(front), "orderNo": "erase707"}), s.APIKey)
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	if st, body := do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"kind":"idcard","orderNo":"erase707"}`), ""); st != 200 {
		t.Fatalf("archive: %d %s", st, body)
	}
	// Another order, which must stay.
	st, _ = do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 708}.JPEG()), "orderNo": "keep708"}), s.APIKey)
	if st != 200 {
		t.Fatal(st)
	}
	files := func(match string) []string {
		var out []string
		filepath.WalkDir(filepath.Dir(archiveDir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(p, match) {
				out = append(out, p)
			}
			return nil
		})
		slices.Sort(out)
		return out
	}
	before := files("erase707")
	if len(before) < 4 { // result.json, the photo(s), done marker, the order record
		t.Fatalf("files of the order before: %q", before)
	}
	if got := files("keep708"); len(got) != 1 {
		t.Fatalf("the other order's record: %q", got)
	}
	s.Emulator.ResetCounts()
	for i := range 2 {
		st, body := do204(t, s, "DELETE", "/v1/idcard/results/erase707?reason=user+asked", s.APIKey)
		if st != 204 || len(body) != 0 {
			t.Fatalf("DELETE %d: %d %s", i+1, st, body)
		}
	}
	after := files("erase707")
	if len(after) != 1 || !strings.HasSuffix(after[0], filepath.Join("_orders", "erase707.json")) {
		t.Errorf("files of the order after: %q (before: %q); want only the tombstone", after, before)
	}
	if tomb, _ := os.ReadFile(after[0]); strings.Contains(string(tomb), "imageSha256") {
		t.Errorf("the tombstone keeps content: %s", tomb)
	}
	if got := files("keep708"); len(got) != 1 {
		t.Errorf("the other order's record: %q", got)
	}
	for _, q := range []string{"", "?files=1"} {
		if st, body := do(t, s, "GET", "/v1/idcard/results/erase707"+q, "", nil, s.APIKey); st != 410 || code(body) != "erased" {
			t.Errorf("GET after DELETE: %d %s", st, body)
		}
	}
	if n := s.Emulator.Count(emulator.EndpointOCRResult); n != 0 {
		t.Errorf("the upstream was asked %d times for an erased order", n)
	}
	// The queue cannot bring it back.
	if st, body := do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"kind":"idcard","orderNo":"erase707"}`), ""); st != 200 || !strings.Contains(string(body), `"erased":1`) {
		t.Errorf("queue message for an erased order: %d %s", st, body)
	}
	if after := files("erase707"); len(after) != 1 {
		t.Errorf("re-archived after erasure: %q", after)
	}
	audits := files(filepath.Join(archiveDir, "_audit") + string(filepath.Separator))
	var records []string
	for _, p := range audits {
		if filepath.Base(p) == "salt" {
			continue
		}
		b, _ := os.ReadFile(p)
		records = append(records, string(b))
		for _, pii := range []string{person.Name, person.IDNumber, person.Address, "erase707"} {
			if strings.Contains(string(b), pii) {
				t.Errorf("audit record holds personal data or the order number: %s", b)
			}
		}
	}
	if len(records) != 2 || !strings.Contains(records[0], `"caller":"key:`) || !strings.Contains(records[0], `"reason":"user asked"`) {
		t.Errorf("audit records: %q", records)
	}
	assertNoPII(t, logs.String(), s, person.IDNumber, person.Name)
}

// do204 is do for answers without a body.
func do204(t *testing.T, s *Stack, method, path, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 204 && resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s %s: Cache-Control %q", method, path, resp.Header.Get("Cache-Control"))
	}
	return resp.StatusCode, b
}

// The decision is the stored record's, not an instance's memory: a second
// stack on the same archive (another instance) refuses another person's
// photo under an order number the first one used, without an upstream call.
func TestConflictAcrossInstances(t *testing.T) {
	shared := "file://" + filepath.Join(t.TempDir(), "archive")
	start := func() *Stack {
		// Each instance has its own upstream session (emulator, tickets);
		// they share the archive, as deployed functions do.
		s, err := Start(context.Background(), Options{Getenv: env{"PORT": "0", "API_KEYS": "k1", "ARCHIVE_URL": shared}.get,
			Dir: t.TempDir(), Stdout: io.Discard, Logs: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	one, two := start(), start()
	post := func(s *Stack, seed int64) (int, []byte) {
		img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: seed}.JPEG()
		return do(t, s, "POST", "/v1/idcard/ocr", "application/json",
			jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img), "orderNo": "shared1"}), "k1")
	}
	if st, body := post(one, 11); st != 200 {
		t.Fatalf("first instance: %d %s", st, body)
	}
	st, body := post(two, 12)
	if st != 409 || code(body) != "order_conflict" || strings.Contains(string(body), emulator.Person(11).IDNumber) {
		t.Fatalf("second instance, another photo: %d %s", st, truncate(body))
	}
	if n := two.Emulator.Count(emulator.EndpointIDCardOCR); n != 0 {
		t.Errorf("second instance submitted %d times", n)
	}
}
