package devstack

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
)

type bankResult struct {
	OrderNo string `json:"orderNo"`
	Card    struct {
		Number    string `json:"number"`
		ValidThru string `json:"validThru"`
	} `json:"card"`
	Warnings []struct{ Code, Message string } `json:"warnings"`
	Checks   struct {
		LuhnValid *bool `json:"luhnValid"`
		Expired   *bool `json:"expired"`
	} `json:"checks"`
	Clarity  *int              `json:"clarity"`
	Upstream json.RawMessage   `json:"upstream"`
	Files    map[string]string `json:"files"`
}

func hasWarning(r bankResult, code string) bool {
	for _, w := range r.Warnings {
		if w.Code == code {
			return true
		}
	}
	return false
}

func TestBankCardEndToEnd(t *testing.T) {
	s, logs := startStack(t, nil)
	const seed = 77
	card := emulator.BankCard(seed)
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: seed, Warning: "-9111,-9114"}.JPEG()

	// JSON with base64 and a caller-chosen order number.
	st, body := do(t, s, "POST", "/v1/bankcard/ocr", "application/json",
		jsonBody(t, map[string]any{"image": base64.StdEncoding.EncodeToString(img), "userId": "user7", "orderNo": "bankE2E0001"}), s.APIKey)
	if st != 200 {
		t.Fatalf("submit: %d %s", st, body)
	}
	var r bankResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if r.OrderNo != "bankE2E0001" || r.Card.Number != card.Number || r.Card.ValidThru != card.ValidThru {
		t.Errorf("submit card %+v, want %+v", r, card)
	}
	if !isTrue(r.Checks.LuhnValid) || !isFalse(r.Checks.Expired) || r.Clarity == nil {
		t.Errorf("submit checks: %s", body)
	}
	if !hasWarning(r, "border_incomplete") || !hasWarning(r, "recaptured") {
		t.Errorf("submit warnings: %s", body)
	}
	if len(r.Upstream) == 0 || bytes.Contains(r.Upstream, []byte("Photo")) || r.Files != nil {
		t.Errorf("upstream missing or photos outside files: %s", truncate(body))
	}

	// Multipart, as wx.uploadFile sends it.
	ct, mb := multipartBody(t, map[string]string{"userId": "user7"}, emulator.CardSpec{Kind: emulator.KindBankCard, Seed: seed + 1}.JPEG())
	st, body = do(t, s, "POST", "/v1/bankcard/ocr", ct, mb, s.APIKey)
	var m bankResult
	json.Unmarshal(body, &m)
	if st != 200 || m.Card.Number != emulator.BankCard(seed+1).Number || m.OrderNo == "" || len(m.Warnings) != 0 {
		t.Errorf("multipart: %d %s", st, body)
	}

	// The result, with files: the query spells its fields differently.
	st, body = do(t, s, "GET", "/v1/bankcard/results/bankE2E0001?files=1", "", nil, s.APIKey)
	if st != 200 {
		t.Fatalf("result: %d %s", st, body)
	}
	var q bankResult
	json.Unmarshal(body, &q)
	if q.Card.Number != card.Number || q.Card.ValidThru != card.ValidThru || !isTrue(q.Checks.LuhnValid) || !hasWarning(q, "recaptured") {
		t.Errorf("result: %s", truncate(body))
	}
	for _, k := range []string{"bankcardCropPhoto", "bankcardNoPhoto", "originBankcardPhoto"} {
		b, err := base64.StdEncoding.DecodeString(q.Files[k])
		if err != nil || !bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) {
			t.Errorf("%s is not a base64 JPEG", k)
		}
	}
	if orig, _ := base64.StdEncoding.DecodeString(q.Files["originBankcardPhoto"]); !bytes.Equal(orig, img) {
		t.Errorf("original photo differs from the upload")
	}
	st, body = do(t, s, "GET", "/v1/bankcard/results/bankE2E0001", "", nil, s.APIKey)
	json.Unmarshal(body, &q)
	if st != 200 || strings.Contains(string(body), `"files"`) {
		t.Errorf("result without files: %d %s", st, truncate(body))
	}
	st, body = do(t, s, "GET", "/v1/bankcard/results/nosuchbank1", "", nil, s.APIKey)
	if st != 404 || code(body) != "not_found" {
		t.Errorf("unknown order: %d %s", st, body)
	}

	assertNoPII(t, logs.String(), s, card.Number, emulator.BankCard(seed+1).Number)
}

func TestBankCardChecksAndFailures(t *testing.T) {
	s, _ := startStack(t, nil)
	post := func(spec emulator.CardSpec) (int, bankResult, []byte) {
		st, body := do(t, s, "POST", "/v1/bankcard/ocr", "application/json",
			jsonBody(t, map[string]any{"image": base64.StdEncoding.EncodeToString(spec.JPEG())}), s.APIKey)
		var r bankResult
		json.Unmarshal(body, &r)
		return st, r, body
	}
	// A UnionPay number failing Luhn: a warning, not a rejection.
	st, r, body := post(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 5, CardNumber: "6222020000000000001", BadLuhn: true})
	if st != 200 || !isTrue(r.Checks.LuhnValid) || !hasWarning(r, "luhn_failed_unionpay") {
		t.Errorf("UnionPay bad Luhn: %d %s", st, body)
	}
	// Another issuer failing Luhn.
	st, r, body = post(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 5, CardNumber: "4367420000000001", BadLuhn: true})
	if st != 200 || !isFalse(r.Checks.LuhnValid) || !hasWarning(r, "luhn_failed") {
		t.Errorf("Visa bad Luhn: %d %s", st, body)
	}
	// Expired card: flagged by the checks and by the provider's 66661009.
	st, r, body = post(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 6, ValidTo: "01/2020"})
	if st != 200 || !isTrue(r.Checks.Expired) || r.Card.ValidThru != "01/2020" || !hasWarning(r, "card_expired") {
		t.Errorf("expired: %d %s", st, body)
	}
	// Recognition failures.
	for spec, want := range map[string]emulator.CardSpec{
		"blurry":     {Kind: emulator.KindBankCard, Seed: 8, Blurry: true},
		"unreadable": {Kind: emulator.KindBankCard, Seed: 8, Unreadable: true},
		"not a card": {Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 8},
	} {
		st, _, body := post(want)
		if st != 422 || code(body) != "recognition_failed" {
			t.Errorf("%s: %d %s", spec, st, body)
		}
	}
}

func TestBankCardBadInputCostsNoUpstreamCall(t *testing.T) {
	s, _ := startStack(t, env{"IMAGE_FIT": "off"}) // a fitted 2.5 MiB photo is sent: TestPhonePhotoFitted
	img := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 3}.JPEG()
	b64 := base64.StdEncoding.EncodeToString(img)
	big := emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 3, MinSize: 5 << 19}.JPEG() // 2.5 MiB: its Base64 is over the documented 3 MB
	mct, mbody := multipartBody(t, nil, big)
	tests := []struct {
		name, method, path, ct, body string
		key                          string
		wantStatus                   int
		wantCode                     string
	}{
		{"no key", "POST", "/v1/bankcard/ocr", "application/json", `{"image":"` + b64 + `"}`, "-", 401, "unauthorized"},
		{"bad base64", "POST", "/v1/bankcard/ocr", "application/json", `{"image":"%%%"}`, "", 400, "invalid_image"},
		{"not an image", "POST", "/v1/bankcard/ocr", "application/json", `{"image":"` + base64.StdEncoding.EncodeToString([]byte("plain text, not a picture at all")) + `"}`, "", 400, "invalid_image"},
		{"missing image", "POST", "/v1/bankcard/ocr", "application/json", `{"userId":"u1"}`, "", 400, "invalid_request"},
		{"malformed JSON", "POST", "/v1/bankcard/ocr", "application/json", `{"image":`, "", 400, "invalid_request"},
		{"2.5 MiB, JSON", "POST", "/v1/bankcard/ocr", "application/json", `{"image":"` + base64.StdEncoding.EncodeToString(big) + `"}`, "", 413, "image_too_large"},
		{"2.5 MiB, multipart", "POST", "/v1/bankcard/ocr", mct, "", "", 413, "image_too_large"},
		{"bad orderNo", "POST", "/v1/bankcard/ocr", "application/json", `{"orderNo":"a-b","image":"` + b64 + `"}`, "", 400, "invalid_request"},
		{"bad userId", "POST", "/v1/bankcard/ocr", "application/json", `{"userId":"` + strings.Repeat("u", 65) + `","image":"` + b64 + `"}`, "", 400, "invalid_request"},
		{"unsupported media type", "POST", "/v1/bankcard/ocr", "text/plain", "x", "", 415, "unsupported_media_type"},
		{"wrong method", "GET", "/v1/bankcard/ocr", "", "", "", 405, "invalid_request"},
		{"bad orderNo in path", "GET", "/v1/bankcard/results/a_b", "", "", "", 400, "invalid_request"},
		{"orderNo too long in path", "GET", "/v1/bankcard/results/" + strings.Repeat("1", 33), "", "", "", 400, "invalid_request"},
	}
	s.Emulator.ResetCounts()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := s.APIKey
			if tt.key == "-" {
				key = ""
			}
			var st int
			var resp []byte
			if tt.name == "2.5 MiB, multipart" {
				st, resp = do(t, s, tt.method, tt.path, tt.ct, mbody, key)
			} else {
				st, resp = do(t, s, tt.method, tt.path, tt.ct, strings.NewReader(tt.body), key)
			}
			if st != tt.wantStatus || code(resp) != tt.wantCode {
				t.Errorf("got %d %s, want %d %s", st, truncate(resp), tt.wantStatus, tt.wantCode)
			}
		})
	}
	if c := s.Emulator.Counts(); len(c) != 0 {
		for k, n := range c {
			if n != 0 {
				t.Errorf("bad input cost %d upstream %s calls", n, k)
			}
		}
	}
}
