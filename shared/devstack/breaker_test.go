package devstack

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

// PROVIDER_FALLBACK=tencentcloud,webank and Tencent Cloud answering
// FailedOperation.ArrearsError (the account is in arrears): the first call
// suspends Tencent Cloud for every instance; the next 20 requests make no
// Tencent Cloud call and are answered by WeBank; /healthz names the
// suspension; after it ends, one request probes Tencent Cloud again.
func TestAccountErrorSuspendsTheProvider(t *testing.T) {
	s, logs := startStack(t, env{"PROVIDER_FALLBACK": "tencentcloud,webank", "PROVIDER_SUSPEND_FOR": "2s"})
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 95}.JPEG()
	tc := s.TencentCloudEmulator
	tc.SetTencentCloudError("FailedOperation.ArrearsError", 0)
	tc.ResetCounts()
	for i := range 21 {
		code, a := submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": img})
		if code != http.StatusOK || a["provider"] != "webank" {
			t.Fatalf("request %d: %d %v", i+1, code, a)
		}
	}
	if n := tc.Count(emulator.EndpointTencentIDCardOCR); n != 1 {
		t.Errorf("Tencent Cloud calls %d for 21 requests, want 1 (the one that suspended it)", n)
	}
	resp, err := http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Suspended map[string]string }
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h.Suspended["tencentcloud"] != "FailedOperation.ArrearsError" {
		t.Errorf("/healthz: %+v", h)
	}
	// The suspension ends: the next request probes (and, still in
	// arrears, suspends it again).
	time.Sleep(2100 * time.Millisecond)
	tc.ResetCounts()
	for range 5 {
		submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": img})
	}
	if n := tc.Count(emulator.EndpointTencentIDCardOCR); n != 1 {
		t.Errorf("after the suspension: %d Tencent Cloud calls, want the one probe", n)
	}
	if !strings.Contains(logs.String(), `"metric":"provider_suspended"`) {
		t.Error("no provider_suspended metric line")
	}
}

// A throttle answer (RequestLimitExceeded) is retried once after a short
// wait, and never sent to the next provider.
func TestThrottleIsRetriedOnceAndNeverFallsBack(t *testing.T) {
	s, _ := startStack(t, env{"PROVIDER_FALLBACK": "tencentcloud,webank"})
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 96}.JPEG()
	tc := s.TencentCloudEmulator
	tc.ResetCounts()
	s.Emulator.ResetCounts()
	tc.SetTencentCloudError("RequestLimitExceeded", 1)
	code, a := submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": img})
	if code != http.StatusOK || a["provider"] != "tencentcloud" {
		t.Fatalf("once throttled: %d %v", code, a)
	}
	if n := tc.Count(emulator.EndpointTencentIDCardOCR); n != 2 {
		t.Errorf("Tencent Cloud calls %d, want 2 (throttled, retried)", n)
	}
	tc.SetTencentCloudError("RequestLimitExceeded", 0)
	code, a = submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": img})
	errObj, _ := a["error"].(map[string]any)
	if code != http.StatusServiceUnavailable || errObj["code"] != "busy" {
		t.Errorf("throttled twice: %d %v", code, a)
	}
	if n := s.Emulator.Count(emulator.EndpointIDCardOCR); n != 0 {
		t.Errorf("a throttled call fell back to WeBank (%d calls)", n)
	}
}
