package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/sign"
)

// The fuzz emulator has a fixed ticket so corpus entries can carry valid
// signatures and reach the image paths.
const fuzzTicket = "FuzzTicket0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQR"

func fuzzEmulator() *Emulator {
	now := time.Date(2026, 6, 1, 10, 0, 0, 0, cst)
	e := New(Config{Now: func() time.Time { return now }, MaxIDCardBase64: 1 << 20, MaxBankCardBase64: 1 << 20})
	e.tokens["fuzztoken"] = &token{value: "fuzztoken", expires: now.Add(time.Hour)}
	e.tickets[fuzzTicket] = &ticket{value: fuzzTicket, kind: ticketSign, token: "fuzztoken", expires: now.Add(time.Hour)}
	return e
}

// fuzzBody is a valid signed submission body.
func fuzzBody(orderNo, imageField string, img []byte, extra map[string]any) []byte {
	b := map[string]any{
		"appId": DefaultAppID, "version": "1.0.0", "nonce": testNonce, "orderNo": orderNo,
		"sign":     sign.Sign(DefaultAppID, orderNo, testNonce, "1.0.0", fuzzTicket),
		imageField: img,
	}
	for k, v := range extra {
		b[k] = v
	}
	out, _ := json.Marshal(b)
	return out
}

// FuzzSubmitBody feeds request bodies to both OCR submission endpoints:
// whatever the body, the answer is JSON with string code and msg.
func FuzzSubmitBody(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"appId":1}`))
	f.Add(fuzzBody("fuzz1", "idcardStr", front(1).JPEG(), map[string]any{"cardType": "0", "getNative": "1"}))
	f.Add(fuzzBody("fuzz2", "idcardStr", back(2).PNG(), nil))
	f.Add(fuzzBody("fuzz3", "bankcardStr", bank(3).BMP(), nil))
	f.Add(fuzzBody("fuzz4", "idcardStr", []byte("not an image"), nil))
	e := fuzzEmulator()
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/api/paas/idcardocrapp", "/api/paas/bankcardocrapp"} {
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)
			var a struct {
				Code *string `json:"code"`
				Msg  *string `json:"msg"`
			}
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &a) != nil || a.Code == nil || a.Msg == nil {
				t.Fatalf("%s: HTTP %d %.300q", path, rec.Code, rec.Body.Bytes())
			}
		}
	})
}

// FuzzImage feeds arbitrary bytes to the image checks and marker parser:
// no panics, and a recognized marker survives a round trip.
func FuzzImage(f *testing.F) {
	f.Add(front(1).JPEG())
	f.Add(back(2).PNG())
	f.Add(bank(3).BMP())
	f.Add(CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 4, Name: "张三", Warning: "10010100", ValidTo: LongTerm}.JPEG())
	f.Add([]byte("\xff\xd8\xff\xfe\x00\x14cardocr-emulator;x"))
	f.Add([]byte("BM"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, spec, has := inspectImage(data)
		if !has {
			return
		}
		again, ok := parseMarker(spec.Marker())
		if !ok || again != spec {
			t.Fatalf("round trip: %+v -> %q -> %+v", spec, spec.Marker(), again)
		}
	})
}
