package devstack

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
)

// submitJSON posts a JSON submission with the stack's key and decodes the
// answer.
func submitJSON(t *testing.T, s *Stack, path string, body map[string]any) (int, map[string]any) {
	t.Helper()
	code, b := do(t, s, http.MethodPost, path, "application/json", jsonBody(t, body), s.APIKey)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %s", path, b)
	}
	return code, m
}

// The local stack serves provider=tencentcloud from its embedded Tencent
// Cloud OCR emulator: both sides of an ID card and a bank card, the same
// person the WeBank emulator reads from the same photo.
func TestTencentCloudProvider(t *testing.T) {
	s, logs := startStack(t, nil)
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 21}.JPEG()
	back := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 21}.JPEG()
	want := emulator.Person(21)

	code, a := submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "provider": "tencentcloud", "image": front})
	card, _ := a["card"].(map[string]any)
	if code != http.StatusOK || a["provider"] != "tencentcloud" || card["idNumber"] != want.IDNumber || card["name"] != want.Name || card["birthDate"] == "" {
		t.Fatalf("front: %d %v", code, a)
	}
	code, a = submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "back", "provider": "tencentcloud", "image": back})
	card, _ = a["card"].(map[string]any)
	if code != http.StatusOK || card["authority"] != want.Authority || card["validFrom"] == "" {
		t.Fatalf("back: %d %v", code, a)
	}
	// The back sent as the front: 422, no result.
	code, a = submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "provider": "tencentcloud", "image": back})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("wrong side: %d %v", code, a)
	}
	bank := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 21}.JPEG()
	code, a = submitJSON(t, s, "/v1/bankcard/ocr", map[string]any{"provider": "tencentcloud", "image": bank})
	card, _ = a["card"].(map[string]any)
	if code != http.StatusOK || a["provider"] != "tencentcloud" || card["number"] != emulator.BankCard(21).Number {
		t.Fatalf("bank: %d %v", code, a)
	}
	// The bank route no longer ignores provider.
	if code, a = submitJSON(t, s, "/v1/bankcard/ocr", map[string]any{"provider": "anything", "image": bank}); code != http.StatusBadRequest {
		t.Fatalf("unknown provider on the bank route: %d %v", code, a)
	}
	if code, a = submitJSON(t, s, "/v1/bankcard/ocr", map[string]any{"provider": "wechat", "image": bank}); code != http.StatusBadRequest {
		t.Fatalf("wechat bank card: %d %v", code, a)
	}
	assertNoPII(t, logs.String(), s, want.IDNumber, want.Name, emulator.BankCard(21).Number, emulator.DefaultTencentCloudSecretKey)
	if n := s.TencentCloudEmulator.Count(emulator.EndpointTencentIDCardOCR); n != 3 {
		t.Errorf("IDCardOCR calls %d, want 3", n)
	}
}

// PROVIDER_FALLBACK=webank,tencentcloud: WeBank failing, the submit is
// answered by Tencent Cloud and says so; an image problem never falls
// through (422, no second provider call).
func TestProviderFallback(t *testing.T) {
	s, logs := startStack(t, env{"PROVIDER_FALLBACK": "webank,tencentcloud"})
	e := s.Emulator
	front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 22}.JPEG()
	back := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 22}.JPEG()

	// Healthy WeBank: it answers, Tencent Cloud is not called.
	code, a := submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": front})
	if code != http.StatusOK || a["provider"] != "webank" || a["fallbackFrom"] != nil {
		t.Fatalf("healthy: %d %v", code, a)
	}
	// A wrong side is the image's problem: 422 from WeBank, no fallback.
	if code, a = submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": back}); code != http.StatusUnprocessableEntity {
		t.Fatalf("wrong side: %d %v", code, a)
	}
	if n := e.Count(emulator.EndpointTencentIDCardOCR); n != 0 {
		t.Fatalf("Tencent Cloud called %d times for a recognition failure", n)
	}

	// WeBank down (its gateway answers 503): Tencent Cloud answers.
	e.SetFault(emulator.EndpointIDCardOCR, emulator.Fault{Kind: emulator.FaultStatus})
	code, a = submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": front})
	card, _ := a["card"].(map[string]any)
	if code != http.StatusOK || a["provider"] != "tencentcloud" || a["fallbackFrom"] != "webank" || card["idNumber"] != emulator.Person(22).IDNumber {
		t.Fatalf("fallback: %d %v", code, a)
	}
	// Down, and the image shows the wrong side: Tencent Cloud says so once.
	if code, a = submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": back}); code != http.StatusUnprocessableEntity {
		t.Fatalf("wrong side after fallback: %d %v", code, a)
	}
	if n := e.Count(emulator.EndpointTencentIDCardOCR); n != 2 {
		t.Errorf("Tencent Cloud calls %d, want 2", n)
	}
	// Bank cards fall back the same way.
	e.SetFault(emulator.EndpointBankCardOCR, emulator.Fault{Kind: emulator.FaultStatus})
	bank := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 22}.JPEG()
	if code, a = submitJSON(t, s, "/v1/bankcard/ocr", map[string]any{"image": bank}); code != http.StatusOK || a["provider"] != "tencentcloud" || a["fallbackFrom"] != "webank" {
		t.Fatalf("bank fallback: %d %v", code, a)
	}
	if !strings.Contains(logs.String(), `"metric":"fallback"`) || !strings.Contains(logs.String(), "webank_to_tencentcloud") {
		t.Error("no fallback metric in the logs")
	}
}

// Tencent Cloud OCR read literally: the other side than asked for is
// "FailedOperation.CardSideError", a wrong side (422, exactly one call, no
// fallback even with a provider after it); an image whose Base64 is 9 MB is
// taken ("要求图片经Base64编码后不超过 10M").
func TestTencentCloudWrongSideAndLargeImage(t *testing.T) {
	s, _ := startStack(t, env{"PROVIDER_FALLBACK": "tencentcloud,webank", "SYNC_BODY_LIMIT": "0"})
	back := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideBack, Seed: 23}.JPEG()
	s.TencentCloudEmulator.ResetCounts()
	code, a := submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": back})
	errObj, _ := a["error"].(map[string]any)
	if code != http.StatusUnprocessableEntity || errObj["code"] != "recognition_failed" || errObj["upstreamCode"] != "FailedOperation.CardSideError" {
		t.Fatalf("wrong side: %d %v", code, a)
	}
	if n := s.TencentCloudEmulator.Count(emulator.EndpointTencentIDCardOCR); n != 1 {
		t.Errorf("IDCardOCR calls %d, want 1", n)
	}
	if n := s.Emulator.Count(emulator.EndpointIDCardOCR); n != 0 {
		t.Errorf("fell back to WeBank for a wrong side: %d calls", n)
	}
	big := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 23, MinSize: 9 << 20 / 4 * 3}.JPEG()
	code, a = submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "provider": "tencentcloud", "image": big})
	if code != http.StatusOK || a["provider"] != "tencentcloud" {
		t.Fatalf("a 9 MiB Base64 image: %d %v", code, a["error"])
	}
}
