package devstack

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
)

// Every order this service made can be queried: a wechat or tencentcloud
// order is answered from the result archived at submit (EVIDENCE=on), in
// the same shape as a WeBank result, or with a 404 that names the provider
// (EVIDENCE=off). WeBank, which never saw these orders, is never asked.
func TestOrdersOfProvidersWithoutResultsCanBeQueried(t *testing.T) {
	for _, evidence := range []string{"on", "off"} {
		t.Run("evidence "+evidence, func(t *testing.T) {
			s, _ := startStack(t, env{"EVIDENCE": evidence})
			front := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 31}.JPEG()
			bank := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 31}.JPEG()
			orders := map[string]string{} // orderNo → route kind
			for _, tc := range []struct{ path, provider, kind string }{
				{"/v1/idcard/ocr", "wechat", "idcard"},
				{"/v1/idcard/ocr", "tencentcloud", "idcard"},
				{"/v1/bankcard/ocr", "tencentcloud", "bankcard"},
			} {
				fields := map[string]any{"provider": tc.provider, "image": bank}
				if tc.kind == "idcard" {
					fields["side"], fields["image"] = "front", front
				}
				code, a := submitJSON(t, s, tc.path, fields)
				if code != http.StatusOK {
					t.Fatalf("%s %s: %d %v", tc.path, tc.provider, code, a)
				}
				orders[a["orderNo"].(string)] = tc.kind + "/" + tc.provider
			}
			s.Emulator.ResetCounts()
			for orderNo, what := range orders {
				kind, provider, _ := strings.Cut(what, "/")
				st, body := do(t, s, "GET", "/v1/"+kind+"/results/"+orderNo, "", nil, s.APIKey)
				var r map[string]any
				json.Unmarshal(body, &r)
				if evidence == "on" {
					card, _ := r["card"].(map[string]any)
					want := emulator.Person(31).IDNumber
					got, _ := card["idNumber"].(string)
					if kind == "bankcard" {
						want = emulator.BankCard(31).Number
						got, _ = card["number"].(string)
					}
					if st != 200 || r["provider"] != provider || r["orderNo"] != orderNo || got != want || r["checks"] == nil || r["warnings"] == nil {
						t.Errorf("%s %s: %d %s", what, orderNo, st, truncate(body))
					}
				} else if st != 404 || !strings.Contains(string(body), provider) || !strings.Contains(string(body), "keeps no results") {
					t.Errorf("%s %s: %d %s", what, orderNo, st, truncate(body))
				}
			}
			for _, ep := range []string{emulator.EndpointOCRResult, emulator.EndpointBankCardResult} {
				if n := s.Emulator.Count(ep); n != 0 {
					t.Errorf("WeBank was asked %d times (%s) for orders it never saw", n, ep)
				}
			}
		})
	}
}
