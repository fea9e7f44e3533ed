package devstack

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

func init() {
	for _, op := range []string{"getHealth", "submitIDCard", "getIDCardResult", "eraseIDCardResult", "submitBankCard", "getBankCardResult", "eraseBankCardResult"} {
		notProduced[op+" 405"] = "a wrong method matches no documented operation (TestHostileClients checks the 405 and its Allow on raw requests)"
		notProduced[op+" 500"] = "internal: nothing the stack does provokes it (httpapi's tests map the code)"
	}
	for _, op := range []string{"submitIDCard", "submitBankCard"} {
		notProduced[op+" 408"] = "provoked on raw connections (TestHostileClients), which the contract transport does not see"
	}
	for _, op := range []string{"getIDCardResult", "getBankCardResult"} {
		notProduced[op+" 429"] = "an upstream quota answer to a query: the emulator has no quota knob for WeBank queries yet"
	}
	for _, op := range []string{"getIDCardResult", "getBankCardResult"} {
		notProduced[op+" 422"] = "a stored recognition failure: the emulator keeps no failed orders"
	}
	for _, op := range []string{"eraseIDCardResult", "eraseBankCardResult"} {
		notProduced[op+" 503"] = "the archive failing mid-erasure: archivetest covers the stores, not the stack"
	}
}

// Each operation answers the error classes it documents, through the
// contract transport (which records every (operation, status) seen: the
// TestMain check fails on a documented one no test produces).
func TestEveryOperationAnswersItsErrors(t *testing.T) {
	s, _ := startStack(t, env{"REQUEST_TIMEOUT": "2s"})
	emu := s.Emulator
	front := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 41}.JPEG())
	bank := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 41}.JPEG())
	post := func(path, img string, key string) (int, string) {
		m := map[string]any{"image": img}
		if strings.Contains(path, "idcard") {
			m["side"] = "front"
		}
		st, b := do(t, s, "POST", path, "application/json", jsonBody(t, m), key)
		return st, string(b)
	}
	get := func(path, key string) (int, string) {
		st, b := do(t, s, "GET", path, "", nil, key)
		return st, string(b)
	}
	expect := func(what string, st int, body string, want int, code string) {
		t.Helper()
		if st != want || (code != "" && !strings.Contains(body, `"code":"`+code+`"`)) {
			t.Errorf("%s: %d %s, want %d %s", what, st, truncate([]byte(body)), want, code)
		}
	}
	_, idBody := post("/v1/idcard/ocr", front, s.APIKey)
	_, bankBody := post("/v1/bankcard/ocr", bank, s.APIKey)
	idNo, bankNo := orderNoOf(idBody), orderNoOf(bankBody)
	if idNo == "" || bankNo == "" {
		t.Fatalf("submits: %s %s", idBody, bankBody)
	}

	// 401 everywhere.
	for _, path := range []string{"/v1/idcard/results/" + idNo, "/v1/bankcard/results/" + bankNo} {
		st, b := get(path, "wrong")
		expect("GET "+path+" wrong key", st, b, 401, "unauthorized")
		st, b2 := do(t, s, "DELETE", path, "", nil, "wrong")
		expect("DELETE "+path+" wrong key", st, string(b2), 401, "unauthorized")
	}
	// Erasure: a bad reason (400), the other kind (404).
	st, b := do(t, s, "DELETE", "/v1/bankcard/results/"+bankNo+"?reason=%E4%B8%BA", "", nil, s.APIKey)
	expect("DELETE bad reason", st, string(b), 400, "invalid_request")
	st, b = do(t, s, "DELETE", "/v1/idcard/results/bad!no", "", nil, s.APIKey)
	expect("DELETE bad orderNo", st, string(b), 400, "invalid_request")
	st, b = do(t, s, "DELETE", "/v1/idcard/results/"+bankNo, "", nil, s.APIKey)
	expect("DELETE the other kind", st, string(b), 404, "not_found")
	st, b = do(t, s, "DELETE", "/v1/bankcard/results/"+idNo, "", nil, s.APIKey)
	expect("DELETE the other kind (bank)", st, string(b), 404, "not_found")

	// Upstream trouble on the queries and the bank submit: 502, 504.
	emu.SetFault(emulator.EndpointOCRResult, emulator.Fault{Kind: emulator.FaultStatus, Status: 500})
	emu.SetFault(emulator.EndpointBankCardResult, emulator.Fault{Kind: emulator.FaultStatus, Status: 500})
	emu.SetFault(emulator.EndpointBankCardOCR, emulator.Fault{Kind: emulator.FaultStatus, Status: 500})
	st, body := get("/v1/idcard/results/"+idNo, s.APIKey)
	expect("GET id, upstream 500", st, body, 502, "upstream_error")
	st, body = get("/v1/bankcard/results/"+bankNo, s.APIKey)
	expect("GET bank, upstream 500", st, body, 502, "upstream_error")
	st, body = post("/v1/bankcard/ocr", bank, s.APIKey)
	expect("POST bank, upstream 500", st, body, 502, "upstream_error")
	emu.ClearFaults()
	slow := emulator.Fault{Latency: 5 * time.Second}
	for _, ep := range []string{emulator.EndpointOCRResult, emulator.EndpointBankCardResult, emulator.EndpointBankCardOCR} {
		emu.SetFault(ep, slow)
	}
	st, body = get("/v1/idcard/results/"+idNo, s.APIKey)
	expect("GET id, upstream slow", st, body, 504, "upstream_timeout")
	st, body = get("/v1/bankcard/results/"+bankNo, s.APIKey)
	expect("GET bank, upstream slow", st, body, 504, "upstream_timeout")
	st, body = post("/v1/bankcard/ocr", bank, s.APIKey)
	expect("POST bank, upstream slow", st, body, 504, "upstream_timeout")
	emu.ClearFaults()

	// The stored pair killed (the secret changed): 503 on every route.
	emu.ExpireTokens()
	st, body = get("/v1/idcard/results/"+idNo, s.APIKey)
	expect("GET id, dead ticket", st, body, 503, "tickets_unavailable")
	st, body = get("/v1/bankcard/results/"+bankNo, s.APIKey)
	expect("GET bank, dead ticket", st, body, 503, "tickets_unavailable")
	st, body = post("/v1/bankcard/ocr", bank, s.APIKey)
	expect("POST bank, dead ticket", st, body, 503, "tickets_unavailable")

	// Erased: 410.
	if st, _ := do204(t, s, "DELETE", "/v1/bankcard/results/"+bankNo, s.APIKey); st != 204 {
		t.Fatalf("erase: %d", st)
	}
	st, body = get("/v1/bankcard/results/"+bankNo, s.APIKey)
	expect("GET erased bank", st, body, 410, "erased")
	if st, _ := do204(t, s, "DELETE", "/v1/idcard/results/"+idNo, s.APIKey); st != 204 {
		t.Fatalf("erase: %d", st)
	}
}

func orderNoOf(body string) string {
	i := strings.Index(body, `"orderNo":"`)
	if i < 0 {
		return ""
	}
	rest := body[i+len(`"orderNo":"`):]
	return rest[:strings.IndexByte(rest, '"')]
}
