package devstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/tickets"
)

// syncBuffer collects logs written from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

func startStack(t *testing.T, extra env) (*Stack, *syncBuffer) {
	t.Helper()
	e := env{"PORT": "0", "LOG_LEVEL": "debug", "LOG_FORMAT": "json"}
	for k, v := range extra {
		e[k] = v
	}
	logs := &syncBuffer{}
	s, err := Start(context.Background(), Options{
		Getenv: e.get, Dir: t.TempDir(), Stdout: io.Discard, Logs: logs,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

type apiError struct {
	OrderNo string `json:"orderNo"`
	Error   struct {
		Code         string `json:"code"`
		Message      string `json:"message"`
		Retryable    bool   `json:"retryable"`
		UpstreamCode string `json:"upstreamCode"`
	} `json:"error"`
}

func do(t *testing.T, s *Stack, method, path, contentType string, body io.Reader, key string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want JSON", method, path, ct)
	}
	return resp.StatusCode, b
}

func jsonBody(t *testing.T, v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

func multipartBody(t *testing.T, fields map[string]string, image []byte) (string, io.Reader) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	if image != nil {
		fw, _ := mw.CreateFormFile("image", "card.jpg")
		fw.Write(image)
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

type idResult struct {
	OrderNo  string `json:"orderNo"`
	Provider string `json:"provider"`
	Side     string `json:"side"`
	Card     struct {
		Name, Sex, Nation, BirthDate, IDNumber, Address, NativePlace, Authority, ValidFrom, ValidTo string
	} `json:"card"`
	Warnings []struct{ Code, Message string } `json:"warnings"`
	Checks   struct {
		IDNumberValid    *bool `json:"idNumberValid"`
		BirthDateMatches *bool `json:"birthDateMatches"`
		SexMatches       *bool `json:"sexMatches"`
		Expired          *bool `json:"expired"`
	} `json:"checks"`
	Clarity  *int              `json:"clarity"`
	Upstream json.RawMessage   `json:"upstream"`
	Files    map[string]string `json:"files"`
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

func dashed(yyyymmdd string) string {
	return yyyymmdd[:4] + "-" + yyyymmdd[4:6] + "-" + yyyymmdd[6:]
}

func TestIDCardEndToEnd(t *testing.T) {
	s, logs := startStack(t, nil)
	const seed = 4242
	person := emulator.Person(seed)
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: seed}.JPEG()
	back := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: seed, ValidFrom: "20200101", ValidTo: emulator.LongTerm}.PNG()

	// Front, as JSON with base64.
	st, body := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(front), "userId": "user42", "native": true}), s.APIKey)
	if st != 200 {
		t.Fatalf("front: %d %s", st, body)
	}
	var fr idResult
	if err := json.Unmarshal(body, &fr); err != nil {
		t.Fatal(err)
	}
	if fr.Side != "front" || fr.Provider != "webank" || fr.OrderNo == "" {
		t.Errorf("front meta: %+v", fr)
	}
	if fr.Card.Name != person.Name || fr.Card.IDNumber != person.IDNumber || fr.Card.Sex != person.Sex ||
		fr.Card.Address != person.Address || fr.Card.BirthDate != dashed(person.Birth) || fr.Card.Nation != person.Nation {
		t.Errorf("front card %+v, want %+v", fr.Card, person)
	}
	if fr.Card.NativePlace == "" {
		t.Errorf("native place missing although asked for")
	}
	if !isTrue(fr.Checks.IDNumberValid) || !isTrue(fr.Checks.BirthDateMatches) || !isTrue(fr.Checks.SexMatches) || fr.Checks.Expired != nil {
		t.Errorf("front checks: %s", body)
	}
	if fr.Card.Authority != "" || fr.Card.ValidTo != "" {
		t.Errorf("back fields on a front result: %+v", fr.Card)
	}
	if len(fr.Upstream) == 0 || fr.Files != nil {
		t.Errorf("upstream missing or files present: %s", body)
	}

	// Back, as multipart (what wx.uploadFile sends), long-term validity.
	ct, mb := multipartBody(t, map[string]string{"side": "back"}, back)
	st, body = do(t, s, "POST", "/v1/idcard/ocr", ct, mb, s.APIKey)
	if st != 200 {
		t.Fatalf("back: %d %s", st, body)
	}
	var br idResult
	json.Unmarshal(body, &br)
	if br.Side != "back" || br.Card.Authority != person.Authority || br.Card.ValidFrom != "2020-01-01" || br.Card.ValidTo != "long-term" {
		t.Errorf("back card: %s", body)
	}
	if !isFalse(br.Checks.Expired) || br.Card.IDNumber != "" {
		t.Errorf("back checks: %s", body)
	}

	// Result query with photos.
	st, body = do(t, s, "GET", "/v1/idcard/results/"+fr.OrderNo+"?files=1", "", nil, s.APIKey)
	if st != 200 {
		t.Fatalf("result: %d %s", st, body)
	}
	var rr idResult
	json.Unmarshal(body, &rr)
	if rr.Card.IDNumber != person.IDNumber || !isTrue(rr.Checks.IDNumberValid) {
		t.Errorf("result card: %s", body)
	}
	photo, err := base64.StdEncoding.DecodeString(rr.Files["frontPhoto"])
	if err != nil || !bytes.HasPrefix(photo, []byte{0xFF, 0xD8, 0xFF}) {
		t.Errorf("frontPhoto is not a base64 JPEG (%d files)", len(rr.Files))
	}
	if bytes.Contains(rr.Upstream, []byte("frontPhoto")) {
		t.Errorf("photos left in upstream")
	}
	// Without files=1, no photos.
	st, body = do(t, s, "GET", "/v1/idcard/results/"+br.OrderNo, "", nil, s.APIKey)
	var rb idResult
	json.Unmarshal(body, &rb)
	if st != 200 || rb.Files != nil || rb.Card.Authority != person.Authority || rb.Side != "back" {
		t.Errorf("back result: %d %s", st, body)
	}
	// Unknown order.
	st, body = do(t, s, "GET", "/v1/idcard/results/nosuchorder123", "", nil, s.APIKey)
	if st != 404 || code(body) != "not_found" {
		t.Errorf("unknown order: %d %s", st, body)
	}

	// Health.
	st, body = do(t, s, "GET", "/healthz", "", nil, "")
	if st != 200 || !strings.Contains(string(body), `"tickets":"fresh"`) {
		t.Errorf("healthz: %d %s", st, body)
	}

	assertNoPII(t, logs.String(), s, person.IDNumber, person.Name, person.Address)
}

func code(body []byte) string {
	var e apiError
	json.Unmarshal(body, &e)
	return e.Error.Code
}

// assertNoPII fails if the logs carry a full ID number, name, address,
// token or ticket.
func assertNoPII(t *testing.T, logs string, s *Stack, secrets ...string) {
	t.Helper()
	b, err := os.ReadFile(strings.TrimPrefix(s.Config.TicketStoreURL, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := tickets.ParseDocument(b)
	if err != nil || doc.WeBank == nil {
		t.Fatalf("tickets document: %v", err)
	}
	secrets = append(secrets, doc.WeBank.AccessToken, doc.WeBank.SignTicket, s.Config.Credentials.WeBankSecret, s.APIKey)
	if len(logs) < 100 {
		t.Fatalf("suspiciously few logs: %q", logs)
	}
	for _, sec := range secrets {
		if sec != "" && strings.Contains(logs, sec) {
			t.Errorf("logs contain a secret or personal datum (%d chars)", len(sec))
		}
	}
}

func TestBadInputCostsNoUpstreamCall(t *testing.T) {
	s, _ := startStack(t, nil)
	emu := s.Emulator
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 7}.JPEG()
	b64 := base64.StdEncoding.EncodeToString(front)
	big := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 7, MinSize: 16 << 20}.JPEG() // its Base64 is over the documented 20971520 characters
	mct, mbody := multipartBody(t, map[string]string{"side": "front"}, big)
	bigJSON := `{"side":"front","image":"` + base64.StdEncoding.EncodeToString(big) + `"}`

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		bodyReader  io.Reader
		key         string
		wantStatus  int
		wantCode    string
	}{
		{"no key", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","image":"` + b64 + `"}`, nil, "-", 401, "unauthorized"},
		{"wrong key", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","image":"` + b64 + `"}`, nil, "wrong", 401, "unauthorized"},
		{"bad base64", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","image":"!!!not base64!!!"}`, nil, "", 400, "invalid_image"},
		{"not an image", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","image":"` + base64.StdEncoding.EncodeToString([]byte("hello, this is text and not a picture")) + `"}`, nil, "", 400, "invalid_image"},
		{"wrong side", "POST", "/v1/idcard/ocr", "application/json", `{"side":"top","image":"` + b64 + `"}`, nil, "", 400, "invalid_request"},
		{"missing side", "POST", "/v1/idcard/ocr", "application/json", `{"image":"` + b64 + `"}`, nil, "", 400, "invalid_request"},
		{"missing image", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front"}`, nil, "", 400, "invalid_request"},
		{"16 MiB image, JSON", "POST", "/v1/idcard/ocr", "application/json", bigJSON, nil, "", 413, "image_too_large"},
		{"16 MiB image, multipart", "POST", "/v1/idcard/ocr", mct, "", mbody, "", 413, "image_too_large"},
		{"malformed JSON", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","image":`, nil, "", 400, "invalid_request"},
		{"bad order number in body", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","orderNo":"abc-123","image":"` + b64 + `"}`, nil, "", 400, "invalid_request"},
		{"order number too long", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","orderNo":"` + strings.Repeat("a", 33) + `","image":"` + b64 + `"}`, nil, "", 400, "invalid_request"},
		{"bad order number in path", "GET", "/v1/idcard/results/abc-123", "", "", nil, "", 400, "invalid_request"},
		{"order number too long in path", "GET", "/v1/idcard/results/" + strings.Repeat("9", 33), "", "", nil, "", 400, "invalid_request"},
		{"unsupported media type", "POST", "/v1/idcard/ocr", "text/plain", "side=front", nil, "", 415, "unsupported_media_type"},
		{"unknown provider", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","provider":"acme","image":"` + b64 + `"}`, nil, "", 400, "invalid_request"},
		{"bad userId", "POST", "/v1/idcard/ocr", "application/json", `{"side":"front","userId":"a b","image":"` + b64 + `"}`, nil, "", 400, "invalid_request"},
		{"unknown route", "GET", "/v1/nothing", "", "", nil, "", 404, "not_found"},
	}
	emu.ResetCounts()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := s.APIKey
			switch tt.key {
			case "-":
				key = ""
			case "":
			default:
				key = tt.key
			}
			body := tt.bodyReader
			if body == nil {
				body = strings.NewReader(tt.body)
			}
			st, resp := do(t, s, tt.method, tt.path, tt.contentType, body, key)
			if st != tt.wantStatus || code(resp) != tt.wantCode {
				t.Errorf("got %d %s, want %d %s", st, truncate(resp), tt.wantStatus, tt.wantCode)
			}
		})
	}
	for _, name := range []string{"idcardocrapp", "getOcrResult", "access_token", "api_ticket"} {
		if n := emu.Count(name); n != 0 {
			t.Errorf("bad input cost %d upstream %s calls", n, name)
		}
	}
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

func TestConcurrentSubmitsShareOneTokenFetch(t *testing.T) {
	s, logs := startStack(t, nil)
	emu := s.Emulator
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: int64(1000 + i)}.JPEG()
			st, body := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
				jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)}), s.APIKey)
			if st != 200 {
				errs <- fmt.Sprintf("%d %s", st, truncate(body))
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := emu.Count("idcardocrapp"); got != n {
		t.Errorf("idcardocrapp calls = %d, want %d", got, n)
	}
	if a, k := emu.Count("access_token"), emu.Count("api_ticket"); a != 1 || k != 1 {
		t.Errorf("token fetches %d, ticket fetches %d; want 1 and 1 (the refresher's)", a, k)
	}
	assertNoPII(t, logs.String(), s, emulator.Person(1000).IDNumber, emulator.Person(1000).Name)
}

func TestSamplesAndCredentialsWritten(t *testing.T) {
	s, _ := startStack(t, nil)
	dir := filepath.Dir(strings.TrimPrefix(s.Config.TicketStoreURL, "file://"))
	for _, f := range []string{"samples/idcard-front.jpg", "samples/idcard-back.jpg", "credentials.json", "tickets.json", "dev-api-key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if strings.HasSuffix(f, ".json") || f == "dev-api-key" {
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %v", f, fi.Mode().Perm())
			}
		}
	}
}

func TestSupersededTicketIsReloadedAndRetriedOnce(t *testing.T) {
	logs := &syncBuffer{}
	e := env{"PORT": "0", "TICKET_REFRESH_INTERVAL": "4s", "TICKET_CACHE_TTL": "1h"}
	s, err := Start(context.Background(), Options{
		Getenv: e.get, Dir: t.TempDir(), Stdout: io.Discard, Logs: logs,
		Emulator: emulator.Config{Overlap: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	submit := func() (int, []byte) {
		img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 9}.JPEG()
		return do(t, s, "POST", "/v1/idcard/ocr", "application/json",
			jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)}), s.APIKey)
	}
	if st, body := submit(); st != 200 { // the reader now caches pair 1 for an hour
		t.Fatalf("%d %s", st, body)
	}
	time.Sleep(2100 * time.Millisecond) // past half the cadence: a refresh is due
	if out, err := s.Refresher.Refresh(context.Background()); err != nil || out != "refreshed" {
		t.Fatalf("refresh: %v %v", out, err)
	}
	time.Sleep(300 * time.Millisecond) // pair 1 is past its overlap now
	s.Emulator.ResetCounts()
	if st, body := submit(); st != 200 {
		t.Fatalf("after rotation: %d %s", st, body)
	}
	if n := s.Emulator.Count("idcardocrapp"); n != 2 {
		t.Errorf("idcardocrapp calls = %d, want 2 (one rejected, one retried)", n)
	}
	if a := s.Emulator.Count("access_token"); a != 0 {
		t.Errorf("the request path fetched %d tokens", a)
	}
}

func TestExternalUpstreamSwitchesEmulatorOff(t *testing.T) {
	emu := emulator.New(emulator.Config{AppID: "IDAEXT01", Secret: "external-secret"})
	up := httptest.NewServer(emu)
	defer up.Close()
	s, _ := startStack(t, env{"KYC_BASE_URL": up.URL, "WEBANK_APP_ID": "IDAEXT01", "WEBANK_SECRET": "external-secret", "API_KEYS": "k1,k2"})
	if s.Emulator != nil {
		t.Fatal("embedded emulator started although KYC_BASE_URL is set")
	}
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 3}.JPEG()
	st, body := do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)}), "k2")
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	if emu.Count("idcardocrapp") != 1 || emu.Count("access_token") != 1 {
		t.Errorf("external upstream counts: %v", emu.Counts())
	}
	st, _ = do(t, s, "GET", "/v1/idcard/results/x1", "", nil, s.APIKey+"x")
	if st != 401 {
		t.Errorf("wrong key: %d", st)
	}
}
