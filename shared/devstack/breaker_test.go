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
	// The console shows the suspension and today's billable calls: the
	// 21 WeBank answers, not the refused Tencent Cloud call.
	resp, err = http.Get(s.URL + "/_local/state")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		BillableToday map[string]int64
		Suspended     map[string]string
	}
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.BillableToday[""] != 21 || st.BillableToday["default"] != 21 || !strings.HasPrefix(st.Suspended["tencentcloud"], "FailedOperation.ArrearsError until ") {
		t.Errorf("console state: %+v", st)
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
	if code != http.StatusTooManyRequests || errObj["code"] != "busy" {
		t.Errorf("throttled twice: %d %v", code, a)
	}
	if n := s.Emulator.Count(emulator.EndpointIDCardOCR); n != 0 {
		t.Errorf("a throttled call fell back to WeBank (%d calls)", n)
	}
}

// Each instance paces itself to its share of Tencent Cloud's documented
// 20 calls/s: with CONCURRENCY_CAP=20 that is one a second here. Of eight
// requests at once, one goes at once, one waits its second, and the rest
// get 429 busy with Retry-After, without an upstream call and without
// falling back to WeBank.
func TestProviderShareIsPaced(t *testing.T) {
	s, _ := startStack(t, env{"PROVIDER_FALLBACK": "tencentcloud,webank", "CONCURRENCY_CAP": "20"})
	tc := s.TencentCloudEmulator
	tc.ResetCounts()
	s.Emulator.ResetCounts()
	type answer struct {
		code int
		a    map[string]any
	}
	answers := make(chan answer, 8)
	for i := range 8 {
		go func() {
			img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: int64(200 + i)}.JPEG()
			code, a := submitJSON(t, s, "/v1/idcard/ocr", map[string]any{"side": "front", "image": img})
			answers <- answer{code, a}
		}()
	}
	ok, busy := 0, 0
	for range 8 {
		an := <-answers
		errObj, _ := an.a["error"].(map[string]any)
		switch {
		case an.code == http.StatusOK:
			ok++
		case an.code == http.StatusTooManyRequests && errObj["code"] == "busy":
			busy++
		default:
			t.Errorf("unexpected answer %d %v", an.code, an.a)
		}
	}
	if busy == 0 || ok == 0 {
		t.Errorf("ok %d, busy %d: want some of each", ok, busy)
	}
	if n := tc.Count(emulator.EndpointTencentIDCardOCR); n != int64(ok) {
		t.Errorf("Tencent Cloud calls %d, answers 200 %d", n, ok)
	}
	if n := s.Emulator.Count(emulator.EndpointIDCardOCR); n != 0 {
		t.Errorf("a paced call fell back to WeBank (%d calls)", n)
	}
}
