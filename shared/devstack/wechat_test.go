package devstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/wechat"
)

// End-to-end tests of provider "wechat" through the HTTP API against the
// embedded emulator.

// startWeChatStack is startStack with WeChat's emulator embedded (it
// answers an img_url from the URL, never from the network).
func startWeChatStack(t *testing.T, extra env) (*Stack, *syncBuffer) {
	t.Helper()
	e := env{"PORT": "0", "LOG_LEVEL": "debug", "LOG_FORMAT": "json"}
	for k, v := range extra {
		e[k] = v
	}
	logs := &syncBuffer{}
	s, err := Start(context.Background(), Options{Getenv: e.get, Dir: t.TempDir(), Stdout: io.Discard, Logs: logs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if s.WeChatEmulator == nil {
		t.Fatal("no embedded WeChat emulator")
	}
	return s, logs
}

func wxFront(seed int64) []byte {
	return emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: seed}.JPEG()
}

func wxBack(seed int64) []byte {
	return emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: seed, ValidFrom: "20200101", ValidTo: "20400101"}.PNG()
}

// wxSubmit posts a WeChat submission as JSON; safe from any goroutine.
func wxSubmit(s *Stack, fields map[string]any) (int, []byte, error) {
	fields["provider"] = "wechat"
	b, err := json.Marshal(fields)
	if err != nil {
		return 0, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/idcard/ocr", strings.NewReader(string(b)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

func mustSubmit(t *testing.T, s *Stack, side string, img []byte) (int, []byte) {
	t.Helper()
	st, body, err := wxSubmit(s, map[string]any{"side": side, "image": base64.StdEncoding.EncodeToString(img)})
	if err != nil {
		t.Fatal(err)
	}
	return st, body
}

func upstreamCode(body []byte) string {
	var e apiError
	json.Unmarshal(body, &e)
	return e.Error.UpstreamCode
}

// assertNoWeChatSecrets checks the logs for the WeChat token and secret
// besides what assertNoPII checks.
func assertNoWeChatSecrets(t *testing.T, logs string, s *Stack, personal ...string) {
	t.Helper()
	b, err := os.ReadFile(strings.TrimPrefix(s.Config.TicketStoreURL, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := tickets.ParseDocument(b)
	wt, err := wechat.StoredTokenOf(doc)
	if err != nil || wt == nil || wt.AccessToken == "" {
		t.Fatalf("no WeChat token stored: %v", err)
	}
	assertNoPII(t, logs, s, append(personal, wt.AccessToken, emulator.DefaultWeChatSecret)...)
}

func TestWeChatBothSides(t *testing.T) {
	s, logs := startWeChatStack(t, nil)
	const seed = 777
	p := emulator.Person(seed)

	st, body := mustSubmit(t, s, "front", wxFront(seed))
	if st != 200 {
		t.Fatalf("front: %d %s", st, body)
	}
	var fr idResult
	json.Unmarshal(body, &fr)
	if fr.Provider != "wechat" || fr.Side != "front" || fr.OrderNo == "" {
		t.Errorf("front meta: %s", body)
	}
	// The identity of a seed is the same as WeBank's.
	if fr.Card.Name != p.Name || fr.Card.IDNumber != p.IDNumber || fr.Card.Address != p.Address ||
		fr.Card.Sex != p.Sex || fr.Card.Nation != p.Nation || fr.Card.BirthDate != dashed(p.Birth) {
		t.Errorf("front card %+v, want %+v", fr.Card, p)
	}
	if !isTrue(fr.Checks.IDNumberValid) || !isTrue(fr.Checks.SexMatches) || fr.Checks.Expired != nil {
		t.Errorf("front checks: %s", body)
	}
	if !strings.Contains(string(fr.Upstream), `"type":"Front"`) || fr.Warnings == nil {
		t.Errorf("upstream/warnings: %s", body)
	}

	// Back, multipart as wx.uploadFile sends it.
	ct, mb := multipartBody(t, map[string]string{"side": "back", "provider": "wechat"}, wxBack(seed))
	st, body = do(t, s, "POST", "/v1/idcard/ocr", ct, mb, s.APIKey)
	if st != 200 {
		t.Fatalf("back: %d %s", st, body)
	}
	var br idResult
	json.Unmarshal(body, &br)
	if br.Side != "back" || br.Card.ValidFrom != "2020-01-01" || br.Card.ValidTo != "2040-01-01" || !isFalse(br.Checks.Expired) || br.Card.Name != "" {
		t.Errorf("back: %s", body)
	}
	emu := s.WeChatEmulator
	if got := emu.Count(emulator.EndpointWeChatIDCard); got != 2 {
		t.Errorf("cv/ocr/idcard calls = %d, want 2", got)
	}
	if emu.Count("idcardocrapp") != 0 {
		t.Error("WeBank was called for a WeChat request")
	}
	// Daily counters in the logs, per provider and outcome.
	if !strings.Contains(logs.String(), `"msg":"metric","metric":"upstream_calls","provider":"wechat","outcome":"ok","day":`) ||
		!strings.Contains(logs.String(), `"dailyCount":2`) {
		t.Errorf("no WeChat call counter lines in the logs")
	}
	assertNoWeChatSecrets(t, logs.String(), s, p.IDNumber, p.Name, p.Address)
}

func TestWeChatSideMismatchIsRecognitionFailed(t *testing.T) {
	s, _ := startWeChatStack(t, nil)
	st, body := mustSubmit(t, s, "front", wxBack(5))
	if st != 422 || code(body) != "recognition_failed" || !strings.Contains(string(body), "back side") {
		t.Errorf("back image as front: %d %s", st, body)
	}
	st, body = mustSubmit(t, s, "back", wxFront(5))
	if st != 422 || code(body) != "recognition_failed" {
		t.Errorf("front image as back: %d %s", st, body)
	}
	// Not a card at all: WeChat's 101001.
	st, body = mustSubmit(t, s, "front", emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 5, Blurry: true}.JPEG())
	if st != 422 || code(body) != "recognition_failed" || upstreamCode(body) != "101001" {
		t.Errorf("no card: %d %s", st, body)
	}
}

func TestWeChatSizeLimitCostsNoUpload(t *testing.T) {
	s, _ := startWeChatStack(t, env{"IMAGE_FIT": "off"}) // fitted, it would be sent
	emu := s.WeChatEmulator
	big := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 9, MinSize: 2 << 20}.JPEG()
	st, body := mustSubmit(t, s, "front", big)
	if st != 413 || code(body) != "image_too_large" {
		t.Errorf("2 MiB image: %d %s", st, body)
	}
	// As multipart too.
	ct, mb := multipartBody(t, map[string]string{"side": "front", "provider": "wechat"}, big)
	if st, body := do(t, s, "POST", "/v1/idcard/ocr", ct, mb, s.APIKey); st != 413 {
		t.Errorf("multipart: %d %s", st, body)
	}
	if got := emu.Count(emulator.EndpointWeChatIDCard); got != 0 {
		t.Errorf("cv/ocr/idcard calls = %d, want 0 (nothing uploaded)", got)
	}
	// Just under the limit goes through.
	ok := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 9, MinSize: 2<<20 - 1}.JPEG()
	if st, body := mustSubmit(t, s, "front", ok); st != 200 {
		t.Errorf("2 MiB - 1 image: %d %s", st, truncate(body))
	}
}

func TestWeChatImageURL(t *testing.T) {
	const u = "https://93.184.216.34/cards/front.jpg" // a literal public address: no DNS, never dialled
	s, _ := startWeChatStack(t, nil)                  // the emulator answers u from the URL, never dialling it
	emu := s.WeChatEmulator
	st, body, err := wxSubmit(s, map[string]any{"side": "front", "imageUrl": u})
	if err != nil || st != 200 || !strings.Contains(string(body), emulator.Person(emulator.URLSeed(u)).IDNumber) {
		t.Fatalf("imageUrl: %d %s %v", st, body, err)
	}
	for _, bad := range []string{"http://93.184.216.34/a.jpg", "https://127.0.0.1/a.jpg", "https://10.1.2.3/a.jpg", "https://[::1]/a.jpg",
		"https://169.254.169.254/latest/meta-data", "https://localhost/a.jpg", "https://user:pw@93.184.216.34/a.jpg"} {
		st, body, err := wxSubmit(s, map[string]any{"side": "front", "imageUrl": bad})
		if err != nil || st != 400 || code(body) != "invalid_request" {
			t.Errorf("%s: %d %s", bad, st, body)
		}
	}
	// imageUrl is for WeChat only.
	st, body = do(t, s, "POST", "/v1/idcard/ocr", "application/json", jsonBody(t, map[string]any{"side": "front", "imageUrl": u}), s.APIKey)
	if st != 400 {
		t.Errorf("imageUrl with webank: %d %s", st, body)
	}
	// An URL WeChat cannot download: 101000.
	st, body, _ = wxSubmit(s, map[string]any{"side": "front", "imageUrl": "https://93.184.216.34/missing.jpg"})
	if st != 400 || code(body) != "invalid_image" || upstreamCode(body) != "101000" {
		t.Errorf("missing image: %d %s", st, body)
	}
	if got := emu.Count(emulator.EndpointWeChatIDCard); got != 2 {
		t.Errorf("cv/ocr/idcard calls = %d, want 2 (refused URLs cost nothing)", got)
	}
}

// A token rotated elsewhere (another system's force_refresh): the
// refresher stores the new one; the API's cached token gets 40001, is
// reloaded from the store and the call retried once.
func TestWeChat40001ReloadsFromStoreAndRetriesOnce(t *testing.T) {
	s, logs := startWeChatStack(t, nil)
	emu := s.WeChatEmulator
	if st, body := mustSubmit(t, s, "front", wxFront(1)); st != 200 { // warms the reader's cache
		t.Fatalf("warm-up: %d %s", st, body)
	}
	emu.RotateWeChatStableToken()
	if _, err := s.Refresher.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	emu.ResetCounts()
	st, body := mustSubmit(t, s, "front", wxFront(2))
	if st != 200 {
		t.Fatalf("after rotation: %d %s", st, body)
	}
	if got, rej := emu.Count(emulator.EndpointWeChatIDCard), emu.Count("rejected:bad_token"); got != 2 || rej != 1 {
		t.Errorf("ocr calls %d, 40001 answers %d; want 2 and 1", got, rej)
	}
	if got := emu.Count(emulator.EndpointWeChatStableToken); got != 0 {
		t.Errorf("the API fetched %d tokens itself; the store had the new one", got)
	}
	if emu.Count("wechat:force_refresh") != 0 {
		t.Error("a force refresh was made")
	}

	// Rotated again, and the refresher has not run: the store has nothing
	// newer, so the reader asks stable_token in normal mode (never forced).
	emu.RotateWeChatStableToken()
	emu.ResetCounts()
	if st, body := mustSubmit(t, s, "back", wxBack(2)); st != 200 {
		t.Fatalf("after second rotation: %d %s", st, body)
	}
	if got, tok := emu.Count(emulator.EndpointWeChatIDCard), emu.Count(emulator.EndpointWeChatStableToken); got != 2 || tok != 1 {
		t.Errorf("ocr calls %d, normal-mode token calls %d; want 2 and 1", got, tok)
	}
	if emu.Count("wechat:force_refresh") != 0 {
		t.Error("a force refresh was made")
	}
	assertNoWeChatSecrets(t, logs.String(), s, emulator.Person(1).IDNumber, emulator.Person(2).IDNumber)
}

func TestWeChatUpstreamQuotaExhausted(t *testing.T) {
	s, _ := startWeChatStack(t, nil)
	emu := s.WeChatEmulator
	emu.SetWeChatOCRQuota(1)
	if st, body := mustSubmit(t, s, "front", wxFront(3)); st != 200 {
		t.Fatalf("first: %d %s", st, body)
	}
	st, body := mustSubmit(t, s, "front", wxFront(4))
	if st != 429 || code(body) != "quota_exceeded" || upstreamCode(body) != "45009" {
		t.Errorf("over quota: %d %s", st, body)
	}
	// Every instance would get the same answer, so the provider is now
	// suspended: the next call costs no upstream call.
	emu.ResetCounts()
	st, body = mustSubmit(t, s, "front", wxFront(5))
	if st != 503 || code(body) != "provider_suspended" || upstreamCode(body) != "45009" {
		t.Errorf("after the quota answer: %d %s", st, body)
	}
	if n := emu.Count(emulator.EndpointWeChatIDCard); n != 0 {
		t.Errorf("%d upstream calls while suspended", n)
	}

	// The purchased-quota answer (101003) too, on a fresh stack.
	s2, _ := startWeChatStack(t, nil)
	st, body = mustSubmit(t, s2, "front", emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 4, Code: "101003"}.JPEG())
	if st != 429 || code(body) != "quota_exceeded" {
		t.Errorf("101003: %d %s", st, body)
	}
}

func TestWeChatLocalDailyQuota(t *testing.T) {
	s, logs := startWeChatStack(t, env{"DAILY_QUOTA_WECHAT": "2"})
	emu := s.WeChatEmulator
	for i := range 2 {
		if st, body := mustSubmit(t, s, "front", wxFront(int64(10+i))); st != 200 {
			t.Fatalf("call %d: %d %s", i, st, body)
		}
	}
	st, body := mustSubmit(t, s, "front", wxFront(12))
	if st != 429 || code(body) != "quota_exceeded" || upstreamCode(body) != "" || !strings.Contains(string(body), "DAILY_QUOTA_WECHAT") {
		t.Errorf("over the local quota: %d %s", st, body)
	}
	if got := emu.Count(emulator.EndpointWeChatIDCard); got != 2 {
		t.Errorf("cv/ocr/idcard calls = %d, want 2", got)
	}
	if !strings.Contains(logs.String(), `"outcome":"local_quota"`) {
		t.Error("no local_quota counter line")
	}
	// WeBank is not limited by it.
	st, body = do(t, s, "POST", "/v1/idcard/ocr", "application/json",
		jsonBody(t, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(wxFront(12))}), s.APIKey)
	if st != 200 {
		t.Errorf("webank: %d %s", st, truncate(body))
	}
}

func TestWeChatConcurrentRequestsShareOneTokenFetch(t *testing.T) {
	s, logs := startWeChatStack(t, env{"METRICS_FORMAT": "emf"})
	emu := s.WeChatEmulator
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, body, err := wxSubmit(s, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(wxFront(int64(2000 + i)))})
			if err != nil || st != 200 {
				errs <- fmt.Sprintf("%d %s %v", st, truncate(body), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := emu.Count(emulator.EndpointWeChatIDCard); got != n {
		t.Errorf("cv/ocr/idcard calls = %d, want %d", got, n)
	}
	if got := emu.Count(emulator.EndpointWeChatStableToken); got != 1 {
		t.Errorf("stable_token calls = %d, want 1 (the refresher's)", got)
	}
	// CloudWatch EMF lines.
	var emf, billable int
	for _, line := range strings.Split(logs.String(), "\n") {
		if !strings.Contains(line, `"_aws"`) {
			continue
		}
		if strings.Contains(line, `"Name":"Billable"`) && strings.Contains(line, `"Dimensions":[["Tenant","Provider"],["Provider"],[]]`) &&
			strings.Contains(line, `"Tenant":"default"`) && strings.Contains(line, `"Provider":"wechat"`) {
			billable++
		}
		var m struct {
			AWS struct {
				Timestamp         int64
				CloudWatchMetrics []struct {
					Namespace  string
					Dimensions [][]string
					Metrics    []struct{ Name, Unit string }
				}
			} `json:"_aws"`
			Provider, Outcome string
			Calls             int
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("EMF line is not JSON: %v", err)
		}
		cw := m.AWS.CloudWatchMetrics
		if m.Provider == "" || m.Calls == 0 {
			continue // not an upstream call (the refresher's selfcheck, the Billable line)
		}
		if len(cw) != 1 || cw[0].Namespace == "" || len(cw[0].Metrics) != 1 || cw[0].Metrics[0].Name != "Calls" || m.AWS.Timestamp == 0 {
			t.Fatalf("EMF metadata: %s", line)
		}
		if m.Provider == "wechat" && m.Outcome == "ok" && m.Calls == 1 {
			emf++
		}
	}
	if emf != n || billable != n {
		t.Errorf("%d EMF Calls lines and %d Billable lines for WeChat calls, want %d", emf, billable, n)
	}
	assertNoWeChatSecrets(t, logs.String(), s, emulator.Person(2000).IDNumber, emulator.Person(2000).Name)
}

func TestWeChatNotConfigured(t *testing.T) {
	// WeChat pointed elsewhere and no WeChat credentials: provider off.
	s, _ := startStack(t, env{"WECHAT_BASE_URL": "http://127.0.0.1:9"})
	if s.WeChatEmulator != nil {
		t.Fatal("embedded WeChat emulator although WECHAT_BASE_URL is set")
	}
	st, body, err := wxSubmit(s, map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(wxFront(1))})
	if err != nil || st != 400 || code(body) != "invalid_request" || !strings.Contains(string(body), "not configured") {
		t.Errorf("not configured: %d %s %v", st, body, err)
	}
}

// A refused imageUrl is bad input: checked before the token is loaded (so
// a 400 even with no token stored, not a 503), never counted as a call,
// never taken from the daily quota.
func TestWeChatBadImageURLCostsNothing(t *testing.T) {
	s, logs := startWeChatStack(t, env{"DAILY_QUOTA_WECHAT": "1"})
	if err := os.Remove(strings.TrimPrefix(s.Config.TicketStoreURL, "file://")); err != nil {
		t.Fatal(err)
	}
	s.Reader.Invalidate(tickets.Pair{})
	for range 3 {
		st, body, err := wxSubmit(s, map[string]any{"side": "front", "imageUrl": "https://10.0.0.1/front.jpg"})
		if err != nil || st != 400 || code(body) != "invalid_request" {
			t.Fatalf("refused imageUrl with no token stored: %d %s %v", st, body, err)
		}
	}
	if strings.Contains(logs.String(), `"provider":"wechat"`) {
		t.Error("a refused imageUrl was counted as a WeChat call")
	}
	if n := s.WeChatEmulator.Count(emulator.EndpointWeChatIDCard); n != 0 {
		t.Errorf("%d WeChat calls", n)
	}
	// The quota of 1 is still there once a token is back.
	if _, err := s.Refresher.ForceRefresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st, body := mustSubmit(t, s, "front", wxFront(31)); st != 200 {
		t.Errorf("first real call after refused URLs: %d %s", st, truncate(body))
	}
}
