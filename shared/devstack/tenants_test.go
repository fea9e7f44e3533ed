package devstack

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tenants"
)

// Two tenants on the local stack (made as cmd/tenants makes them): an order
// belongs to the tenant that made it, so tenant B reading or erasing A's
// order gets exactly what an unknown number gets (404); both may use the
// same order number without colliding upstream; a tenant uses only the
// kinds it may (403); a revoked key stops working within the cache TTL.
func TestTenantsOwnTheirOrders(t *testing.T) {
	ctx := context.Background()
	var doc tenants.Doc
	keyA, _ := doc.Add("acme", nil, 0, tenants.Rate{})
	keyB, _ := doc.Add("bravo", nil, 0, tenants.Rate{})
	keyID, _ := doc.Add("idonly", []string{"idcard"}, 0, tenants.Rate{})
	keyBank, _ := doc.Add("bankonly", []string{"bankcard"}, 0, tenants.Rate{})
	docURL, st := saveTenants(t, doc)
	s, logs := startStack(t, env{"TENANTS_URL": docURL, "TENANTS_CACHE_TTL": "1s"})
	front := func(seed int64) string {
		return base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: seed}.JPEG())
	}
	bank := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 5}.JPEG())
	submit := func(key, orderNo string, seed int64) (int, string) {
		st, b := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
			jsonBody(t, map[string]any{"side": "front", "image": front(seed), "orderNo": orderNo}), key)
		return st, string(b)
	}
	// The same order number, two tenants, two people: each gets its own.
	stA, bodyA := submit(keyA, "shared0001", 501)
	stB, bodyB := submit(keyB, "shared0001", 502)
	if stA != 200 || stB != 200 || !strings.Contains(bodyA, emulator.Person(501).IDNumber) || !strings.Contains(bodyB, emulator.Person(502).IDNumber) {
		t.Fatalf("same number, two tenants: %d %s / %d %s", stA, truncate([]byte(bodyA)), stB, truncate([]byte(bodyB)))
	}
	if !strings.Contains(bodyA, `"orderNo":"shared0001"`) {
		t.Errorf("the tenant's own number is not answered: %s", truncate([]byte(bodyA)))
	}
	// Each reads its own result back.
	if st, b := do(t, s, "GET", "/v1/idcard/results/shared0001", "", nil, keyB); st != 200 || !strings.Contains(string(b), emulator.Person(502).IDNumber) {
		t.Errorf("B reads its own: %d %s", st, truncate(b))
	}
	// A's own order, read by B: 404 as an unknown number, and nothing of A.
	_, own := submit(keyA, "acmeOnly01", 503)
	if !strings.Contains(own, "acmeOnly01") {
		t.Fatal(own)
	}
	s.Emulator.ResetCounts()
	stX, bX := do(t, s, "GET", "/v1/idcard/results/acmeOnly01", "", nil, keyB)
	stU, bU := do(t, s, "GET", "/v1/idcard/results/neverMade01", "", nil, keyB)
	if stX != 404 || stU != 404 || code(bX) != code(bU) || strings.Contains(string(bX), emulator.Person(503).IDNumber) {
		t.Errorf("B's GET of A's order: %d %s; of an unknown one: %d %s", stX, bX, stU, bU)
	}
	if st, b := do(t, s, "DELETE", "/v1/idcard/results/acmeOnly01", "", nil, keyB); st != 404 {
		t.Errorf("B's DELETE of A's order: %d %s", st, b)
	}
	if n := s.Emulator.Count(emulator.EndpointOCRResult); n != 0 {
		t.Errorf("another tenant's query reached the upstream %d times", n)
	}
	if st, b := do(t, s, "GET", "/v1/idcard/results/acmeOnly01", "", nil, keyA); st != 200 {
		t.Errorf("A's own order after B's attempts: %d %s", st, truncate(b))
	}
	// Kinds: 403 on every route of a kind the tenant may not use.
	for _, c := range []struct{ key, method, path, body string }{
		{keyID, "POST", "/v1/bankcard/ocr", `{"image":"` + bank + `"}`},
		{keyID, "GET", "/v1/bankcard/results/x1", ""},
		{keyID, "DELETE", "/v1/bankcard/results/x1", ""},
		{keyBank, "POST", "/v1/idcard/ocr", `{"side":"front","image":"` + front(504) + `"}`},
		{keyBank, "GET", "/v1/idcard/results/x1", ""},
		{keyBank, "DELETE", "/v1/idcard/results/x1", ""},
	} {
		ct := ""
		if c.body != "" {
			ct = "application/json"
		}
		if st, b := do(t, s, c.method, c.path, ct, strings.NewReader(c.body), c.key); st != 403 || code(b) != "forbidden" {
			t.Errorf("%s %s: %d %s", c.method, c.path, st, b)
		}
	}
	// Revoked: 401 within the cache's TTL.
	doc2, _ := tenants.Load(ctx, st)
	if err := doc2.Revoke("bravo", ""); err != nil {
		t.Fatal(err)
	}
	tenants.Save(ctx, st, doc2)
	time.Sleep(1100 * time.Millisecond)
	if st, _ := do(t, s, "GET", "/v1/idcard/results/shared0001", "", nil, keyB); st != 401 {
		t.Errorf("a revoked key: %d", st)
	}
	assertNoPII(t, logs.String(), s, keyA, keyB, keyID, keyBank)
}

// A tenant's evidence lives under its own prefix of the archive
// (_tenants/{tenant}/), so retention and erasure work per tenant: a
// Tencent Cloud order of tenant acme (EVIDENCE=on locally) is archived
// there, read back from there, and erased from there.
func TestTenantEvidenceUnderItsOwnPrefix(t *testing.T) {
	var doc tenants.Doc
	key, _ := doc.Add("acme", nil, 0, tenants.Rate{})
	docURL, _ := saveTenants(t, doc)
	s, _ := startStack(t, env{"TENANTS_URL": docURL})
	img := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 611}.JPEG())
	if st, b := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "front", "image": img, "orderNo": "acmeTc0001", "provider": "tencentcloud"}), key); st != 200 {
		t.Fatalf("submit: %d %s", st, truncate(b))
	}
	root, _ := strings.CutPrefix(s.Config.ArchiveURL, "file://")
	tenantFiles := func() []string {
		var out []string
		filepath.Walk(filepath.Join(root, "_tenants", "acme"), func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	files := tenantFiles()
	if len(files) == 0 || !strings.Contains(strings.Join(files, " "), filepath.Join("_tenants", "acme", "idcard")) {
		t.Fatalf("acme's evidence is not under _tenants/acme/idcard: %q", files)
	}
	for _, kind := range []string{"idcard", "bankcard"} {
		if ms, _ := filepath.Glob(filepath.Join(root, kind, "*", "*", "*", "*")); len(ms) != 0 {
			t.Errorf("evidence in the default tenant's tree: %q", ms)
		}
	}
	if st, b := do(t, s, "GET", "/v1/idcard/results/acmeTc0001", "", nil, key); st != 200 || !strings.Contains(string(b), emulator.Person(611).IDNumber) {
		t.Fatalf("read back: %d %s", st, truncate(b))
	}
	if st, b := do204(t, s, "DELETE", "/v1/idcard/results/acmeTc0001?reason=test", key); st != 204 {
		t.Fatalf("erase: %d %s", st, b)
	}
	if left := tenantFiles(); len(left) != 0 {
		t.Errorf("left after erasure: %q", left)
	}
}

// saveTenants writes doc as the tenants document of a stack (a file
// store, as cmd/tenants writes it) and returns its TENANTS_URL and store.
func saveTenants(t *testing.T, doc tenants.Doc) (string, secretstore.Store) {
	t.Helper()
	docURL := "file://" + filepath.Join(t.TempDir(), "tenants.json")
	st, err := secretstore.Open(context.Background(), docURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := tenants.Save(context.Background(), st, doc); err != nil {
		t.Fatal(err)
	}
	return docURL, st
}

// A queue message names the tenant whose order number it carries: a
// tenant's WeBank order is archived under that tenant's prefix; the same
// number under another tenant is rejected (nothing is fetched for it), and
// a message without a tenant never reaches the tenant's order.
func TestQueueMessageForATenantsOrder(t *testing.T) {
	var doc tenants.Doc
	keyA, _ := doc.Add("acme", nil, 0, tenants.Rate{})
	doc.Add("bravo", nil, 0, tenants.Rate{})
	docURL, _ := saveTenants(t, doc)
	s, logs := startStack(t, env{"TENANTS_URL": docURL})
	img := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 621}.JPEG())
	if st, b := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "front", "image": img, "orderNo": "acmeWb0001"}), keyA); st != 200 {
		t.Fatalf("submit: %d %s", st, truncate(b))
	}
	root, _ := strings.CutPrefix(s.Config.ArchiveURL, "file://")
	results := func(pattern string) []string {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		return m
	}
	// Another tenant's message for the same number: rejected, no query.
	s.Emulator.ResetCounts()
	if st, b := do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"tenant":"bravo","orderNo":"acmeWb0001"}`), ""); st != 422 {
		t.Errorf("bravo's message: %d %s", st, b)
	}
	if n := s.Emulator.Count(emulator.EndpointOCRResult); n != 0 {
		t.Errorf("bravo's message queried the upstream %d times", n)
	}
	// The default tenant's message for the number finds nothing of acme's.
	do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"kind":"idcard","orderNo":"acmeWb0001"}`), "")
	for _, p := range results("idcard/*/*/*/acmeWb0001/result.json") {
		if b, _ := os.ReadFile(p); strings.Contains(string(b), emulator.Person(621).IDNumber) {
			t.Errorf("acme's result archived for the default tenant: %s", p)
		}
	}
	// acme's own message: archived under its prefix, by its upstream number.
	if st, b := do(t, s, "POST", QueuePath, "application/json", strings.NewReader(`{"tenant":"acme","orderNo":"acmeWb0001"}`), ""); st != 200 {
		t.Fatalf("acme's message: %d %s", st, b)
	}
	got := results("_tenants/acme/idcard/*/*/*/t*/result.json")
	if len(got) != 1 {
		t.Fatalf("acme's result under its prefix: %q", got)
	}
	if b, _ := os.ReadFile(got[0]); !strings.Contains(string(b), emulator.Person(621).IDNumber) {
		t.Errorf("the archived result is not acme's order")
	}
	assertNoPII(t, logs.String(), s, keyA)
}
