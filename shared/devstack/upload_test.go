package devstack

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/tenants"
)

type uploadTicket struct {
	OrderNo string `json:"orderNo"`
	Upload  struct {
		Method    string            `json:"method"`
		URL       string            `json:"url"`
		Fields    map[string]string `json:"fields"`
		FileField string            `json:"fileField"`
		Headers   map[string]string `json:"headers"`
	} `json:"upload"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func requestUpload(t *testing.T, s *Stack, kind string, req map[string]any) uploadTicket {
	t.Helper()
	st, body := do(t, s, "POST", "/v1/"+kind+"/uploads", "application/json", jsonBody(t, req), s.APIKey)
	if st != 201 {
		t.Fatalf("upload request: %d %s", st, body)
	}
	var tk uploadTicket
	if err := json.Unmarshal(body, &tk); err != nil {
		t.Fatal(err)
	}
	return tk
}

// postForm sends the form as curl -F does: every field, then the file
// under fileField. It returns S3's status and error code.
func postForm(t *testing.T, tk uploadTicket, fields map[string]string, file []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile(tk.Upload.FileField, "photo.jpg")
	fw.Write(file)
	mw.Close()
	resp, err := http.Post(tk.Upload.URL, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Code string }
	if resp.StatusCode >= 300 {
		if err := xmlUnmarshal(b, &e); err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xml") {
			t.Fatalf("an S3 error is an XML document: %d %s", resp.StatusCode, b)
		}
	}
	return resp.StatusCode, e.Code
}

// pollResult asks for the order's result until it is not 202.
func pollResult(t *testing.T, s *Stack, kind, orderNo string) (int, []byte) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body := do(t, s, "GET", "/v1/"+kind+"/results/"+orderNo, "", nil, s.APIKey)
		if st != 202 || time.Now().After(deadline) {
			return st, body
		}
		if !strings.Contains(string(body), `"status":"pending"`) {
			t.Fatalf("202 without the pending status: %s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The presigned flow on the local stack: a form is issued, the result is
// pending, the form is posted as given, the result arrives.
func TestUploadFormFlow(t *testing.T) {
	s, logs := startStack(t, nil)
	const seed = 52
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: seed}.JPEG()
	tk := requestUpload(t, s, "bankcard", map[string]any{"contentType": "image/jpeg", "size": len(img)})
	if tk.Upload.Method != "POST" || tk.Upload.FileField != "file" || !strings.HasSuffix(tk.Upload.URL, BucketPath) ||
		time.Until(tk.ExpiresAt) > 15*time.Minute || tk.ExpiresAt.Before(time.Now()) {
		t.Fatalf("ticket %+v", tk)
	}
	if !strings.Contains(tk.Upload.Fields["key"], "/api/_/"+tk.OrderNo+".jpg") {
		t.Errorf("key %q does not carry the order", tk.Upload.Fields["key"])
	}
	if st, body := do(t, s, "GET", "/v1/bankcard/results/"+tk.OrderNo, "", nil, s.APIKey); st != 202 || !strings.Contains(string(body), `"status":"pending"`) {
		t.Fatalf("before the upload: %d %s", st, body)
	}
	before := s.Emulator.Count(emulator.EndpointBankCardOCR)
	if st, code := postForm(t, tk, tk.Upload.Fields, img); st != 204 {
		t.Fatalf("form: %d %s", st, code)
	}
	st, body := pollResult(t, s, "bankcard", tk.OrderNo)
	if st != 200 {
		t.Fatalf("result: %d %s", st, body)
	}
	var r bankResult
	json.Unmarshal(body, &r)
	if r.OrderNo != tk.OrderNo || r.Card.Number != emulator.BankCard(seed).Number {
		t.Errorf("result %s", body)
	}
	if n := s.Emulator.Count(emulator.EndpointBankCardOCR) - before; n != 1 {
		t.Errorf("%d submits, want 1", n)
	}
	// The uploaded photo is deleted once archived.
	key := filepath.Join(s.Config.ArchiveURL[len("file://"):], "..", filepath.FromSlash(tk.Upload.Fields["key"]))
	waitFor(t, func() bool { _, err := os.Stat(key); return os.IsNotExist(err) })
	if strings.Contains(logs.String(), r.Card.Number) {
		t.Error("the card number is in the logs")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Expired, tampered and oversized forms get S3's answers, and nothing is
// stored or sent.
func TestUploadFormRefusals(t *testing.T) {
	s, _ := startStack(t, env{"UPLOAD_MAX_BYTES": "64KiB"})
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 3}.JPEG()
	big := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 3, MinSize: 65<<10 + 1}.JPEG()
	tk := requestUpload(t, s, "idcard", map[string]any{"side": "front", "contentType": "image/jpeg"})
	with := func(k, v string) map[string]string {
		f := map[string]string{}
		for a, b := range tk.Upload.Fields {
			f[a] = b
		}
		f[k] = v
		return f
	}
	raw, _ := base64.StdEncoding.DecodeString(tk.Upload.Fields["policy"])
	longer := base64.StdEncoding.EncodeToString(bytes.Replace(raw, []byte(`65536`), []byte(`9999999`), 1))
	before := s.Emulator.Count(emulator.EndpointIDCardOCR)
	for _, tc := range []struct {
		name   string
		fields map[string]string
		file   []byte
		skew   time.Duration
		status int
		code   string
	}{
		{"another key", with("key", strings.Replace(tk.Upload.Fields["key"], tk.OrderNo, "someoneElse1", 1)), img, 0, 403, "AccessDenied"},
		{"another content type", with("Content-Type", "image/png"), img, 0, 403, "AccessDenied"},
		{"a changed policy", with("policy", longer), img, 0, 403, "SignatureDoesNotMatch"},
		{"a wrong signature", with("x-amz-signature", strings.Repeat("ab", 32)), img, 0, 403, "SignatureDoesNotMatch"},
		{"too large", tk.Upload.Fields, big, 0, 400, "EntityTooLarge"},
		{"expired", tk.Upload.Fields, img, 16 * time.Minute, 403, "AccessDenied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.bucket.skew.Store(int64(tc.skew))
			defer s.bucket.skew.Store(0)
			if st, code := postForm(t, tk, tc.fields, tc.file); st != tc.status || code != tc.code {
				t.Fatalf("%d %s, want %d %s", st, code, tc.status, tc.code)
			}
		})
	}
	if entries, _ := os.ReadDir(filepath.Join(filepath.Dir(s.Config.ArchiveURL[len("file://"):]), "uploads", "idcard", "front", "api", "_")); len(entries) != 0 {
		t.Errorf("refused forms stored %d files", len(entries))
	}
	if n := s.Emulator.Count(emulator.EndpointIDCardOCR); n != before {
		t.Errorf("%d upstream calls", n-before)
	}
	if st, body := do(t, s, "GET", "/v1/idcard/results/"+tk.OrderNo, "", nil, s.APIKey); st != 202 {
		t.Errorf("still pending: %d %s", st, body)
	}
}

// A form whose time ran out with nothing uploaded: 404 upload_expired.
func TestUploadExpired(t *testing.T) {
	s, _ := startStack(t, nil)
	tk := requestUpload(t, s, "idcard", map[string]any{"side": "back", "contentType": "image/png"})
	// The order as it is 20 minutes later: its form expired long ago.
	p := filepath.Join(s.Config.ArchiveURL[len("file://"):], "_orders", tk.OrderNo+".json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	json.Unmarshal(b, &rec)
	rec["expiresAt"] = time.Now().Add(-10 * time.Minute).UTC().Format(time.RFC3339)
	b, _ = json.Marshal(rec)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	st, body := do(t, s, "GET", "/v1/idcard/results/"+tk.OrderNo, "", nil, s.APIKey)
	var e apiError
	json.Unmarshal(body, &e)
	if st != 404 || e.Error.Code != "upload_expired" {
		t.Fatalf("%d %s", st, body)
	}
}

// The upload request's own refusals, before any form is signed.
func TestUploadRequestRefusals(t *testing.T) {
	s, _ := startStack(t, nil)
	for _, tc := range []struct {
		kind   string
		req    map[string]any
		status int
		code   string
	}{
		{"idcard", map[string]any{"contentType": "image/jpeg"}, 400, "invalid_request"},
		{"bankcard", map[string]any{"contentType": "image/heic"}, 415, "unsupported_media_type"},
		{"bankcard", map[string]any{"contentType": "image/jpeg", "size": 21 << 20}, 413, "image_too_large"},
		{"bankcard", map[string]any{"contentType": "image/jpeg", "method": "PUT"}, 400, "invalid_request"},
		{"bankcard", map[string]any{"contentType": "image/jpeg", "orderNo": "bad-order!"}, 400, "invalid_request"},
		{"bankcard", map[string]any{"contentType": "image/jpeg", "image": "AAAA"}, 400, "invalid_request"},
		{"idcard", map[string]any{"side": "front", "contentType": "image/heic"}, 415, "unsupported_media_type"},
		{"idcard", map[string]any{"side": "front", "contentType": "image/jpeg", "size": 21 << 20}, 413, "image_too_large"},
	} {
		st, body := do(t, s, "POST", "/v1/"+tc.kind+"/uploads", "application/json", jsonBody(t, tc.req), s.APIKey)
		var e apiError
		json.Unmarshal(body, &e)
		if st != tc.status || e.Error.Code != tc.code {
			t.Errorf("%v: %d %s, want %d %s", tc.req, st, body, tc.status, tc.code)
		}
	}
	// A caller's orderNo already used by a direct submit is not reissued.
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 5}.JPEG()
	ct, mb := multipartBody(t, map[string]string{"orderNo": "direct0001"}, img)
	if st, body := do(t, s, "POST", "/v1/bankcard/ocr", ct, mb, s.APIKey); st != 200 {
		t.Fatalf("submit: %d %s", st, body)
	}
	st, body := do(t, s, "POST", "/v1/bankcard/uploads", "application/json", jsonBody(t, map[string]any{"contentType": "image/jpeg", "orderNo": "direct0001"}), s.APIKey)
	if st != 409 {
		t.Errorf("a used orderNo: %d %s", st, body)
	}
	// An ID card form under a number issued for the back: another order.
	requestUpload(t, s, "idcard", map[string]any{"side": "back", "contentType": "image/jpeg", "orderNo": "sides0001"})
	st, body = do(t, s, "POST", "/v1/idcard/uploads", "application/json", jsonBody(t, map[string]any{"side": "front", "contentType": "image/jpeg", "orderNo": "sides0001"}), s.APIKey)
	if st != 409 {
		t.Errorf("the other side under an issued number: %d %s", st, body)
	}
	// The same request again, before anything arrived: a fresh form.
	again := requestUpload(t, s, "idcard", map[string]any{"side": "back", "contentType": "image/jpeg", "orderNo": "sides0001"})
	if again.OrderNo != "sides0001" {
		t.Errorf("reissued %+v", again)
	}
}

// A presigned PUT, for clients that send the bytes as they are.
func TestUploadPut(t *testing.T) {
	s, _ := startStack(t, nil)
	const seed = 61
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: seed}.JPEG()
	tk := requestUpload(t, s, "idcard", map[string]any{"side": "back", "contentType": "image/jpeg", "size": len(img), "method": "PUT", "orderNo": "myPut0001"})
	if tk.OrderNo != "myPut0001" || tk.Upload.Method != "PUT" || tk.Upload.Headers["Content-Type"] != "image/jpeg" {
		t.Fatalf("ticket %+v", tk)
	}
	put := func(body []byte, ct string) int {
		req, _ := http.NewRequest("PUT", tk.Upload.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := put(img, "image/png"); st != 403 {
		t.Errorf("another content type: %d", st)
	}
	if st := put(append(img, 0), "image/jpeg"); st != 403 {
		t.Errorf("another length: %d", st)
	}
	if st := put(img, "image/jpeg"); st != 200 {
		t.Fatalf("PUT: %d", st)
	}
	st, body := pollResult(t, s, "idcard", tk.OrderNo)
	if st != 200 || !strings.Contains(string(body), `"side":"back"`) {
		t.Fatalf("result: %d %s", st, body)
	}
}

// The 8 MB, 12 MP phone photo through a form: fitted by resultfetch, read.
func TestUploadPhoneFitted(t *testing.T) {
	s, _ := startStack(t, nil)
	const seed = 33
	img := phonePhoto(t, seed)
	tk := requestUpload(t, s, "bankcard", map[string]any{"contentType": "image/jpeg", "size": len(img)})
	if st, code := postForm(t, tk, tk.Upload.Fields, img); st != 204 {
		t.Fatalf("form: %d %s", st, code)
	}
	st, body := pollResult(t, s, "bankcard", tk.OrderNo)
	if st != 200 || !strings.Contains(string(body), emulator.BankCard(seed).Number) {
		t.Fatalf("result: %d %s", st, body)
	}
}

// A photo an upload cannot be read from is answered as a direct submit
// would be.
func TestUploadTerminalFailure(t *testing.T) {
	s, _ := startStack(t, nil)
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 8}.JPEG() // the back, sent as the front
	tk := requestUpload(t, s, "idcard", map[string]any{"side": "front", "contentType": "image/jpeg"})
	if st, code := postForm(t, tk, tk.Upload.Fields, img); st != 204 {
		t.Fatalf("form: %d %s", st, code)
	}
	st, body := pollResult(t, s, "idcard", tk.OrderNo)
	var e apiError
	json.Unmarshal(body, &e)
	if st != 422 || e.Error.Code != "recognition_failed" {
		t.Fatalf("result: %d %s", st, body)
	}
	// As the direct submit answers it.
	ct, mb := multipartBody(t, map[string]string{"side": "front"}, img)
	st2, body2 := do(t, s, "POST", "/v1/idcard/ocr", ct, mb, s.APIKey)
	var e2 apiError
	json.Unmarshal(body2, &e2)
	if st2 != st || e2.Error.Code != e.Error.Code || e2.Error.Message != e.Error.Message {
		t.Errorf("direct submit %d %s; upload %d %s", st2, body2, st, body)
	}
}

func xmlUnmarshal(b []byte, v any) error { return xml.Unmarshal(b, v) }

// The acceptance's words: the form posted with curl -F exactly as given
// (every field, then the file), the result polled: 202, then 200.
func TestUploadWithCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl here")
	}
	s, _ := startStack(t, nil)
	const seed = 71
	photo := filepath.Join(t.TempDir(), "bankcard.jpg")
	os.WriteFile(photo, emulator.CardSpec{Kind: emulator.KindBankCard, Seed: seed}.JPEG(), 0o600)
	tk := requestUpload(t, s, "bankcard", map[string]any{"contentType": "image/jpeg"})
	if st, body := do(t, s, "GET", "/v1/bankcard/results/"+tk.OrderNo, "", nil, s.APIKey); st != 202 {
		t.Fatalf("before: %d %s", st, body)
	}
	args := []string{"-s", "-o", "/dev/null", "-w", "%{http_code}"}
	for k, v := range tk.Upload.Fields {
		args = append(args, "-F", k+"="+v)
	}
	args = append(args, "-F", tk.Upload.FileField+"=@"+photo, tk.Upload.URL)
	out, err := exec.Command("curl", args...).Output()
	if err != nil || string(out) != "204" {
		t.Fatalf("curl: %s %v", out, err)
	}
	st, body := pollResult(t, s, "bankcard", tk.OrderNo)
	if st != 200 || !strings.Contains(string(body), emulator.BankCard(seed).Number) {
		t.Fatalf("result: %d %s", st, body)
	}
}

func init() {
	for _, op := range []string{"requestIDCardUpload", "requestBankCardUpload"} {
		notProduced[op+" 405"] = "a wrong method matches no documented operation (httpapi's TestUploadRoute checks the 405)"
		notProduced[op+" 500"] = "internal: a presigner failing (httpapi's TestUploadRoute maps it)"
		notProduced[op+" 404"] = "the local stack always has an archive to upload to (httpapi's TestUploadRoute: none, 404)"
		notProduced[op+" 503"] = "the order store failing: the file archive does not fail on demand (ocr's tests cover storeError)"
	}
}

// A tenant's upload is its own: the form's key names the tenant, only it
// reads the result, another tenant's key sees no order; a tenant without
// the kind is 403, one over its rate 429; a wrong key 401.
func TestUploadBelongsToItsTenant(t *testing.T) {
	var doc tenants.Doc
	keyA, _ := doc.Add("acme", nil, 0, tenants.Rate{})
	keyB, _ := doc.Add("bravo", nil, 0, tenants.Rate{})
	keyID, _ := doc.Add("idonly", []string{"idcard"}, 0, tenants.Rate{})
	keyBank, _ := doc.Add("bankonly", []string{"bankcard"}, 0, tenants.Rate{})
	keySlow, _ := doc.Add("slow", nil, 0, tenants.Rate{PerSecond: 0.01, Burst: 1})
	docURL, _ := saveTenants(t, doc)
	s, _ := startStack(t, env{"TENANTS_URL": docURL})
	ask := func(kind, key string, req map[string]any) (int, []byte) {
		return do(t, s, "POST", "/v1/"+kind+"/uploads", "application/json", jsonBody(t, req), key)
	}
	const seed = 77
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: seed}.JPEG()
	st, body := ask("idcard", keyA, map[string]any{"side": "front", "contentType": "image/jpeg", "orderNo": "acmeUp0001"})
	if st != 201 {
		t.Fatalf("acme: %d %s", st, body)
	}
	var tk uploadTicket
	json.Unmarshal(body, &tk)
	if !strings.Contains(tk.Upload.Fields["key"], "/api/acme/acmeUp0001.jpg") {
		t.Fatalf("key %q", tk.Upload.Fields["key"])
	}
	// The same number for another tenant is another order.
	if st, body := ask("idcard", keyB, map[string]any{"side": "front", "contentType": "image/jpeg", "orderNo": "acmeUp0001"}); st != 201 {
		t.Fatalf("bravo, same number: %d %s", st, body)
	}
	if st, code := postForm(t, tk, tk.Upload.Fields, img); st != 204 {
		t.Fatalf("form: %d %s", st, code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, body = do(t, s, "GET", "/v1/idcard/results/acmeUp0001", "", nil, keyA)
		if st != 202 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if st != 200 || !strings.Contains(string(body), emulator.Person(seed).IDNumber) {
		t.Fatalf("acme's result: %d %s", st, truncate(body))
	}
	// bravo's order under the same number is still waiting for its photo;
	// it never sees acme's card.
	if st, body := do(t, s, "GET", "/v1/idcard/results/acmeUp0001", "", nil, keyB); st != 202 || strings.Contains(string(body), emulator.Person(seed).IDNumber) {
		t.Errorf("bravo: %d %s", st, truncate(body))
	}
	for _, c := range []struct {
		kind, key string
		want      int
		code      string
	}{
		{"bankcard", keyID, 403, "forbidden"},
		{"idcard", keyBank, 403, "forbidden"},
		{"idcard", "wrong", 401, "unauthorized"},
		{"bankcard", "wrong", 401, "unauthorized"},
	} {
		st, body := ask(c.kind, c.key, map[string]any{"side": "front", "contentType": "image/jpeg"})
		if st != c.want || !strings.Contains(string(body), c.code) {
			t.Errorf("%s with %s: %d %s", c.kind, c.code, st, body)
		}
	}
	// The tenant's rate holds for uploads too.
	got429 := map[string]bool{}
	for i := 0; i < 4; i++ {
		for _, kind := range []string{"idcard", "bankcard"} {
			req := map[string]any{"contentType": "image/jpeg"}
			if kind == "idcard" {
				req["side"] = "back"
			}
			if st, _ := ask(kind, keySlow, req); st == 429 {
				got429[kind] = true
			}
		}
	}
	if !got429["idcard"] || !got429["bankcard"] {
		t.Errorf("a tenant over its rate: 429 on %v", got429)
	}
}

// An upload through a tenant's form is billed to the tenant: past its
// daily quota, no upstream call is made, and the result query says why.
func TestUploadCountsAgainstTheTenantsQuota(t *testing.T) {
	var doc tenants.Doc
	key, _ := doc.Add("metered", nil, 1, tenants.Rate{})
	docURL, _ := saveTenants(t, doc)
	s, _ := startStack(t, env{"TENANTS_URL": docURL})
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 81}.JPEG()
	ct, body := multipartBody(t, nil, img)
	if st, b := do(t, s, "POST", "/v1/bankcard/ocr", ct, body, key); st != 200 {
		t.Fatalf("the day's one call: %d %s", st, b)
	}
	before := s.Emulator.Count(emulator.EndpointBankCardOCR)
	st, b := do(t, s, "POST", "/v1/bankcard/uploads", "application/json", jsonBody(t, map[string]any{"contentType": "image/jpeg"}), key)
	if st != 201 {
		t.Fatalf("upload request: %d %s", st, b)
	}
	var tk uploadTicket
	json.Unmarshal(b, &tk)
	if st, code := postForm(t, tk, tk.Upload.Fields, img); st != 204 {
		t.Fatalf("form: %d %s", st, code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, b = do(t, s, "GET", "/v1/bankcard/results/"+tk.OrderNo, "", nil, key)
		if st != 202 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st != 429 || !strings.Contains(string(b), "quota_exceeded") {
		t.Errorf("over quota: %d %s", st, b)
	}
	if n := s.Emulator.Count(emulator.EndpointBankCardOCR) - before; n != 0 {
		t.Errorf("%d upstream calls over the quota", n)
	}
}

// An order erased after its form was issued: the photo that comes later
// is not sent (nor billed to anyone), and is deleted; the order stays 410.
func TestUploadAfterErasure(t *testing.T) {
	s, _ := startStack(t, nil)
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 83}.JPEG()
	tk := requestUpload(t, s, "bankcard", map[string]any{"contentType": "image/jpeg", "orderNo": "erasedUp01"})
	if st, b := do204(t, s, "DELETE", "/v1/bankcard/results/erasedUp01?reason=test", s.APIKey); st != 204 {
		t.Fatalf("erase: %d %s", st, b)
	}
	before := s.Emulator.Count(emulator.EndpointBankCardOCR)
	if st, code := postForm(t, tk, tk.Upload.Fields, img); st != 204 {
		t.Fatalf("form: %d %s", st, code)
	}
	key := filepath.Join(filepath.Dir(s.Config.ArchiveURL[len("file://"):]), filepath.FromSlash(tk.Upload.Fields["key"]))
	waitFor(t, func() bool { _, err := os.Stat(key); return os.IsNotExist(err) })
	if n := s.Emulator.Count(emulator.EndpointBankCardOCR) - before; n != 0 {
		t.Errorf("%d upstream calls for an erased order's photo", n)
	}
	if st, b := do(t, s, "GET", "/v1/bankcard/results/erasedUp01", "", nil, s.APIKey); st != 410 {
		t.Errorf("after: %d %s", st, b)
	}
}
