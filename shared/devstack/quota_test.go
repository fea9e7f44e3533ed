package devstack

import (
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/tenants"
)

// A tenant with a daily quota of 3 billable calls: calls 4 and 5 get 429
// quota_exceeded with Retry-After (until midnight China time) and make no
// upstream call; bad input is not counted; another tenant is not affected.
func TestTenantQuotaCountedInTheSharedStore(t *testing.T) {
	var doc tenants.Doc
	small, _ := doc.Add("small", nil, 3, tenants.Rate{})
	other, _ := doc.Add("other", nil, 0, tenants.Rate{})
	docURL, _ := saveTenants(t, doc)
	s, logs := startStack(t, env{"TENANTS_URL": docURL})
	img := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 91}.JPEG())
	bank := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 91}.JPEG())
	post := func(key, path, image string) (int, http.Header, []byte) {
		body := map[string]any{"image": image}
		if strings.Contains(path, "idcard") {
			body["side"] = "front"
		}
		req, _ := http.NewRequest("POST", s.URL+path, jsonBody(t, body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	// Bad input first: no billable call, not counted.
	if st, _, _ := post(small, "/v1/idcard/ocr", "bm90IGFuIGltYWdl"); st != 400 {
		t.Fatalf("bad input: %d", st)
	}
	// A blurred card is answered 66661001, which the error code page marks
	// "不收费": the call reached WeBank but is given back.
	blurred := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 92, Blurry: true}.JPEG())
	if st, _, b := post(small, "/v1/idcard/ocr", blurred); st != 422 || code(b) != "recognition_failed" {
		t.Fatalf("blurred: %d %s", st, truncate(b))
	}
	s.Emulator.ResetCounts()
	for i := 1; i <= 5; i++ {
		path, image := "/v1/idcard/ocr", img
		if i%2 == 0 {
			path, image = "/v1/bankcard/ocr", bank
		}
		st, h, b := post(small, path, image)
		switch {
		case i <= 3 && st != 200:
			t.Fatalf("call %d: %d %s", i, st, truncate(b))
		case i > 3:
			ra, _ := strconv.Atoi(h.Get("Retry-After"))
			if st != 429 || code(b) != "quota_exceeded" || ra < 1 || ra > 86401 {
				t.Errorf("call %d: %d %s Retry-After %q", i, st, truncate(b), h.Get("Retry-After"))
			}
		}
	}
	if n := s.Emulator.Count(emulator.EndpointIDCardOCR) + s.Emulator.Count(emulator.EndpointBankCardOCR); n != 3 {
		t.Errorf("upstream submits %d, want 3", n)
	}
	if st, _, b := post(other, "/v1/idcard/ocr", img); st != 200 {
		t.Errorf("another tenant: %d %s", st, truncate(b))
	}
	// Billable calls are counted per tenant and provider in the logs (EMF
	// on Lambda): three for small, one for other, none for the free answer.
	n := map[string]int{}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"metric":"billable_calls"`) {
			for _, tn := range []string{"small", "other"} {
				if strings.Contains(line, `"tenant":"`+tn+`"`) {
					n[tn]++
				}
			}
		}
	}
	if n["small"] != 3 || n["other"] != 1 {
		t.Errorf("billable_calls lines %v, want small 3, other 1", n)
	}
}
