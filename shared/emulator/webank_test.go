package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/jpeg"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/sign"
)

var stamp14 = regexp.MustCompile(`^\d{14}$`)

func TestAccessToken(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.get("/api/oauth2/access_token", tokenQuery(DefaultAppID, DefaultSecret))
	if a.code() != "0" || a.str("msg") != "请求成功" {
		t.Fatalf("answer %v", a)
	}
	if !stamp14.MatchString(a.str("transactionTime")) || !stamp14.MatchString(a.str("expire_time")) {
		t.Errorf("times: %v", a)
	}
	if a["expire_in"] != "7200" {
		t.Errorf("expire_in = %#v, want the string \"7200\"", a["expire_in"])
	}
	if len(a.str("access_token")) < 32 {
		t.Errorf("access_token too short")
	}

	// The appId spelling works too.
	q := tokenQuery(DefaultAppID, DefaultSecret)
	q.Del("app_id")
	q.Set("appId", DefaultAppID)
	if a := h.get("/api/oauth2/access_token", q); a.code() != "0" {
		t.Errorf("appId spelling: %v", a)
	}

	bad := []struct {
		name string
		q    url.Values
	}{
		{"bare GET", url.Values{}},
		{"wrong secret", tokenQuery(DefaultAppID, "nope")},
		{"unknown app", tokenQuery("IDAOTHER", DefaultSecret)},
		{"grant_type upper case", func() url.Values {
			q := tokenQuery(DefaultAppID, DefaultSecret)
			q.Set("grant_type", "CLIENT_CREDENTIAL")
			return q
		}()},
		{"no version", func() url.Values { q := tokenQuery(DefaultAppID, DefaultSecret); q.Del("version"); return q }()},
		{"both spellings disagree", func() url.Values { q := tokenQuery(DefaultAppID, DefaultSecret); q.Set("appId", "IDAOTHER"); return q }()},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if a := h.get("/api/oauth2/access_token", tt.q); a.code() != "400101" {
				t.Errorf("code = %q, want 400101", a.code())
			}
		})
	}

	req, _ := http.NewRequest(http.MethodPost, h.srv.URL+"/api/oauth2/access_token?"+tokenQuery(DefaultAppID, DefaultSecret).Encode(), nil)
	if status, a := h.do(req); status != http.StatusMethodNotAllowed || a.code() != "400101" {
		t.Errorf("POST: %d %v", status, a)
	}
	req, _ = http.NewRequest(http.MethodGet, h.srv.URL+"/api/nope", nil)
	if status, a := h.do(req); status != http.StatusNotFound || a.code() != "400101" {
		t.Errorf("unknown path: %d %v", status, a)
	}
}

func TestExpireInAsNumber(t *testing.T) {
	h := newHarness(t, Config{ExpireInAsNumber: true, TokenTTL: 90 * time.Second, TicketTTL: 30 * time.Second})
	a := h.get("/api/oauth2/access_token", tokenQuery(DefaultAppID, DefaultSecret))
	if a["expire_in"] != float64(90) {
		t.Errorf("token expire_in = %#v, want number 90", a["expire_in"])
	}
	ta := h.ticketAnswer(a.str("access_token"))
	tk := ta["tickets"].([]any)[0].(map[string]any)
	if tk["expire_in"] != float64(30) {
		t.Errorf("ticket expire_in = %#v, want number 30", tk["expire_in"])
	}
}

func TestAPITicket(t *testing.T) {
	h := newHarness(t, Config{})
	tok := h.token()
	a := h.ticketAnswer(tok)
	if a.code() != "0" || a.str("msg") != "请求成功" || !stamp14.MatchString(a.str("transactionTime")) {
		t.Fatalf("answer %v", a)
	}
	ts, _ := a["tickets"].([]any)
	if len(ts) != 1 {
		t.Fatalf("tickets = %v, want exactly one", a["tickets"])
	}
	tk := ts[0].(map[string]any)
	if tk["expire_in"] != "3600" || !stamp14.MatchString(tk["expire_time"].(string)) || tk["value"] == "" {
		t.Errorf("ticket %v", tk)
	}

	base := func() url.Values {
		return url.Values{"app_id": {DefaultAppID}, "access_token": {tok}, "type": {"SIGN"}, "version": {"1.0.0"}}
	}
	with := func(k, v string) url.Values { q := base(); q.Set(k, v); return q }
	without := func(k string) url.Values { q := base(); q.Del(k); return q }
	tests := []struct {
		name string
		q    url.Values
		code string
	}{
		{"appId spelling", func() url.Values { q := without("app_id"); q.Set("appId", DefaultAppID); return q }(), "0"},
		{"type lower case", with("type", "sign"), "400101"},
		{"unknown type", with("type", "OTHER"), "400101"},
		{"no version", without("version"), "400101"},
		{"no token", without("access_token"), "400101"},
		{"unknown app", with("app_id", "IDAOTHER"), "400101"},
		{"unknown token", with("access_token", "notatoken"), "15"},
		{"NONCE needs user_id", with("type", "NONCE"), "400101"},
		{"NONCE user_id special chars", func() url.Values { q := with("type", "NONCE"); q.Set("user_id", "a-b"); return q }(), "400101"},
		{"NONCE", func() url.Values { q := with("type", "NONCE"); q.Set("user_id", "user42"); return q }(), "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.get("/api/oauth2/api_ticket", tt.q)
			if a.code() != tt.code {
				t.Fatalf("code = %q, want %q (%v)", a.code(), tt.code, a["msg"])
			}
			if tt.name == "NONCE" {
				if v := a["tickets"].([]any)[0].(map[string]any)["expire_in"]; v != "120" {
					t.Errorf("NONCE expire_in = %v, want 120", v)
				}
			}
		})
	}
}

func TestIDCardSubmit(t *testing.T) {
	h := newHarness(t, Config{})
	tk := h.credentials()
	p := Person(42)

	_, a := h.submitID(tk, front(42).JPEG(), "0")
	if a.code() != "0" || a.str("msg") != "请求成功" || a.str("bizSeqNo") == "" || !stamp14.MatchString(a.str("transactionTime")) {
		t.Fatalf("front: %v", a)
	}
	r := a.result()
	want := map[string]string{
		"name": p.Name, "sex": p.Sex, "nation": p.Nation, "birth": p.Birth, "address": p.Address,
		"idcard": p.IDNumber, "warning": "00000000", "multiWarning": "00000000",
	}
	for k, v := range want {
		if r.str(k) != v {
			t.Errorf("front %s = %q, want %q", k, r.str(k), v)
		}
	}
	for _, k := range []string{"ocrId", "orderNo", "bizSeqNo", "transactionTime", "clarity", "sign"} {
		if r.str(k) == "" {
			t.Errorf("front result lacks %s", k)
		}
	}
	if r["success"] != false {
		t.Errorf("success = %v", r["success"])
	}
	for _, k := range []string{"validDate", "authority", "nativePlace"} {
		if _, ok := r[k]; ok {
			t.Errorf("front result has %s", k)
		}
	}

	// Back side, same seed = same person; cardType omitted: detected.
	_, a = h.submitID(tk, back(42).JPEG(), "")
	r = a.result()
	if a.code() != "0" || r.str("authority") != p.Authority || r.str("validDate") != p.ValidFrom+"-"+p.ValidTo {
		t.Fatalf("back: %v", a)
	}
	if _, ok := r["name"]; ok {
		t.Errorf("back result has name")
	}

	// webankAppId, getNative, PNG and BMP uploads, explicit spec fields.
	spec := CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 7, Warning: "10010100", Clarity: 55}
	for _, img := range [][]byte{spec.PNG(), spec.BMP()} {
		o := newOrderNo()
		body := h.idBody(tk, o, img, "0")
		body["webankAppId"] = body["appId"]
		delete(body, "appId")
		body["getNative"] = "1"
		a = h.post("/api/paas/idcardocrapp", url.Values{"orderNo": {o}}, body)
		r = a.result()
		if a.code() != "0" || r.str("nativePlace") != Person(7).NativePlace || r.str("warning") != "10010100" || r.str("clarity") != "55" || r.str("orderNo") != o {
			t.Errorf("png/bmp: %v", a)
		}
	}

	// No orderNo on the URL is tolerated (the docs only ask for it).
	o := newOrderNo()
	if a := h.post("/api/paas/idcardocrapp", nil, h.idBody(tk, o, front(1).JPEG(), "0")); a.code() != "0" {
		t.Errorf("without URL orderNo: %v", a)
	}
	// Lower-case sign is accepted ("不区分大小写").
	o = newOrderNo()
	body := h.idBody(tk, o, front(1).JPEG(), "0")
	body["sign"] = strings.ToLower(body["sign"].(string))
	if a := h.post("/api/paas/idcardocrapp", url.Values{"orderNo": {o}}, body); a.code() != "0" {
		t.Errorf("lower-case sign: %v", a)
	}
	// A long-term card.
	_, a = h.submitID(tk, CardSpec{Kind: KindIDCard, Side: SideBack, Seed: 3, ValidFrom: "20190128", ValidTo: LongTerm}.JPEG(), "1")
	if a.result().str("validDate") != "20190128-长期" {
		t.Errorf("long-term: %v", a)
	}
}

func TestIDCardRejections(t *testing.T) {
	clock := newClock()
	h := newHarness(t, Config{Now: clock.Now})
	tk := h.credentials()
	jpg := front(5).JPEG()

	type mod func(b map[string]any)
	set := func(k string, v any) mod { return func(b map[string]any) { b[k] = v } }
	del := func(k string) mod { return func(b map[string]any) { delete(b, k) } }
	img := func(p []byte) mod { return set("idcardStr", base64.StdEncoding.EncodeToString(p)) }
	truncated := jpg[:len(jpg)/2]
	gif := []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;")
	expired := CardSpec{Kind: KindIDCard, Side: SideBack, Seed: 5, ValidFrom: "20050101", ValidTo: "20250101"}
	tests := []struct {
		name   string
		mod    mod
		code   string
		reason string
	}{
		{"wrong sign", set("sign", strings.Repeat("A", 40)), "400101", "bad_sign"},
		{"sign over userId too", func(b map[string]any) {
			b["sign"] = sign.Sign(DefaultAppID, b["orderNo"].(string), testNonce, "1.0.0", tk, "user001")
		}, "400101", "bad_sign"},
		{"sign not hex", set("sign", strings.Repeat("Z", 40)), "400101", "invalid_request"},
		{"unknown appId", set("appId", "IDAOTHER"), "400101", "unknown_app"},
		{"no appId", del("appId"), "400101", "invalid_request"},
		{"short nonce", set("nonce", "abc"), "400101", "invalid_request"},
		{"version", set("version", "1.0.1"), "400101", "invalid_request"},
		{"userId special chars", set("userId", "user#1"), "400101", "invalid_request"},
		{"userId too long", set("userId", strings.Repeat("u", 33)), "400101", "invalid_request"},
		{"cardType 2", set("cardType", "2"), "400101", "invalid_request"},
		{"cardType number", set("cardType", 0), "400101", "invalid_request"},
		{"no image", del("idcardStr"), "400101", "invalid_request"},
		{"orderNo too long", set("orderNo", strings.Repeat("a", 33)), "66660000", "bad_order_no"},
		{"orderNo special chars", set("orderNo", "abc_123"), "66660000", "bad_order_no"},
		{"not base64", set("idcardStr", "!!!notbase64!!!"), "66661010", "not_image"},
		{"data URI", set("idcardStr", "data:image/jpeg;base64,"+base64.StdEncoding.EncodeToString(jpg)), "66661010", "not_image"},
		{"not an image", img([]byte("hello, this is text")), "66661010", "not_image"},
		{"GIF", img(gif), "66661010", "not_image"},
		{"truncated JPEG", img(truncated), "66661005", "decode_error"},
		{"bank card image", img(bank(5).JPEG()), "66661001", "not_recognized"},
		{"emblem as portrait", img(back(5).JPEG()), "66661006", "wrong_side"},
		{"portrait as emblem", func(b map[string]any) { b["cardType"] = "1" }, "66661007", "wrong_side"},
		{"unreadable", img(CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 5, Unreadable: true}.JPEG()), "66661008", "unreadable"},
		{"bad check digit", img(CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 5, BadCheckDigit: true}.JPEG()), "66661008", "unreadable"},
		{"blurry", img(CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 5, Blurry: true}.JPEG()), "66661001", "not_recognized"},
		{"expired", func(b map[string]any) { b["cardType"] = "1"; img(expired.JPEG())(b) }, "66661003", "expired_card"},
		{"dates reversed", func(b map[string]any) {
			b["cardType"] = "1"
			img(CardSpec{Kind: KindIDCard, Side: SideBack, Seed: 5, ValidFrom: "20300101", ValidTo: "20200101"}.JPEG())(b)
		}, "66661004", "bad_dates"},
		{"forced code", img(CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 5, Code: "66661099"}.JPEG()), "66661099", "forced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrderNo()
			b := h.idBody(tk, o, jpg, "0")
			tt.mod(b)
			h.e.ResetCounts()
			var q url.Values
			if s, ok := b["orderNo"].(string); ok && validOrderNo(s) {
				q = url.Values{"orderNo": {s}}
			}
			a := h.post("/api/paas/idcardocrapp", q, b)
			if a.code() != tt.code {
				t.Fatalf("code = %q (%s), want %q", a.code(), a.str("msg"), tt.code)
			}
			if a.str("msg") == "" {
				t.Errorf("no msg")
			}
			if n := h.e.Count("rejected:" + tt.reason); n != 1 {
				t.Errorf("rejected:%s = %d, want 1 (counts %v)", tt.reason, n, h.e.Counts())
			}
		})
	}

	t.Run("URL orderNo differs", func(t *testing.T) {
		o := newOrderNo()
		a := h.post("/api/paas/idcardocrapp", url.Values{"orderNo": {o + "x"}}, h.idBody(tk, o, jpg, "0"))
		if a.code() != "400101" {
			t.Errorf("code %q", a.code())
		}
	})
	t.Run("content type", func(t *testing.T) {
		o := newOrderNo()
		body, _ := json.Marshal(h.idBody(tk, o, jpg, "0"))
		if a := h.postRaw("/api/paas/idcardocrapp", nil, "text/plain", body); a.code() != "400101" {
			t.Errorf("text/plain: %v", a)
		}
		if a := h.postRaw("/api/paas/idcardocrapp", nil, "application/json; charset=utf-8", body); a.code() != "0" {
			t.Errorf("json with charset: %v", a)
		}
	})
	t.Run("malformed JSON", func(t *testing.T) {
		if a := h.postRaw("/api/paas/idcardocrapp", nil, "application/json", []byte(`{"appId":`)); a.code() != "400101" {
			t.Errorf("%v", a)
		}
	})
	t.Run("duplicate orderNo", func(t *testing.T) {
		o := newOrderNo()
		b := h.idBody(tk, o, jpg, "0")
		if a := h.post("/api/paas/idcardocrapp", nil, b); a.code() != "0" {
			t.Fatalf("first: %v", a)
		}
		h.e.ResetCounts()
		if a := h.post("/api/paas/idcardocrapp", nil, b); a.code() != "66660000" {
			t.Fatalf("second: %v", a)
		}
		if h.e.Count("rejected:duplicate_order") != 1 {
			t.Errorf("counts %v", h.e.Counts())
		}
		// Order numbers are shared by both OCR APIs.
		if a := h.post("/api/paas/bankcardocrapp", nil, h.bankBody(tk, o, bank(1).JPEG())); a.code() != "66660000" {
			t.Fatalf("same orderNo on bank: %v", a)
		}
		// A failed call also uses its orderNo up.
		o2 := newOrderNo()
		if a := h.post("/api/paas/idcardocrapp", nil, h.idBody(tk, o2, back(5).JPEG(), "0")); a.code() != "66661006" {
			t.Fatalf("wrong side: %v", a)
		}
		if a := h.post("/api/paas/idcardocrapp", nil, h.idBody(tk, o2, jpg, "0")); a.code() != "66660000" {
			t.Fatalf("reuse after failure: %v", a)
		}
		// A call rejected before authentication does not.
		o3 := newOrderNo()
		b3 := h.idBody(tk, o3, jpg, "0")
		good := b3["sign"]
		b3["sign"] = strings.Repeat("0", 40)
		h.post("/api/paas/idcardocrapp", nil, b3)
		b3["sign"] = good
		if a := h.post("/api/paas/idcardocrapp", nil, b3); a.code() != "0" {
			t.Fatalf("after bad sign: %v", a)
		}
		// Retention: the number is free again once forgotten.
		clock.Advance(73 * time.Hour)
		tk2 := h.credentials()
		b = h.idBody(tk2, o, jpg, "0")
		if a := h.post("/api/paas/idcardocrapp", nil, b); a.code() != "0" {
			t.Fatalf("after retention: %v", a)
		}
	})
}

// The limits are on the Base64 string, not on the image. Seed 000/001:
// idcardStr "身份证人像面或者国徽面图片的 Base64，大小不超过20MB", length
// column 20971520; bank card: bankcardStr "Base64 String … 大小不超过3MB".
// An image of n bytes is a string of 4·⌈n/3⌉ characters, so the largest
// images are 15728640 and 2359296 bytes.
func TestImageSizeLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("large bodies")
	}
	h := newHarness(t, Config{})
	tk := h.credentials()
	cases := []struct {
		name string
		kind string
		size int // raw bytes
		code string
	}{
		{"ID card string exactly 20971520 characters", KindIDCard, 15728640, "0"},
		{"ID card string 20971524 characters", KindIDCard, 15728641, "66660015"},
		{"ID card 16 MiB image (string 22369624)", KindIDCard, 16 << 20, "66660015"},
		{"bank card string exactly 3145728 characters", KindBankCard, 2359296, "0"},
		{"bank card string 3145732 characters", KindBankCard, 2359297, "66660015"},
		{"bank card 2.5 MiB image", KindBankCard, 5 << 19, "66660015"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.e.ResetCounts()
			var a answer
			if c.kind == KindIDCard {
				_, a = h.submitID(tk, CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 9, MinSize: c.size}.JPEG(), "0")
			} else {
				_, a = h.submitBank(tk, CardSpec{Kind: KindBankCard, Seed: 9, MinSize: c.size}.JPEG())
			}
			if a.code() != c.code {
				t.Errorf("code %q (%s), want %q", a.code(), a.str("msg"), c.code)
			}
			if c.code != "0" && h.e.Count("rejected:too_large") != 1 {
				t.Errorf("counts %v", h.e.Counts())
			}
		})
	}
	// Far beyond the limit: the body itself is refused, with the same code.
	h2 := newHarness(t, Config{MaxIDCardBase64: 1 << 10})
	tk2 := h2.credentials()
	_, a := h2.submitID(tk2, CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 9, MinSize: 1 << 20}.JPEG(), "0")
	if a.code() != "66660015" || h2.e.Count("rejected:too_large") != 1 {
		t.Errorf("huge body: %v %v", a, h2.e.Counts())
	}
}

// Seed 000 names the submit field webankAppId, seed 001 names it appId
// ("appId | 业务流程唯一标识,即 wbappid"). Either, or both with one value, is
// accepted; both with different values is not.
func TestSubmitAppIDNames(t *testing.T) {
	h := newHarness(t, Config{})
	tk := h.credentials()
	for _, c := range []struct {
		name        string
		appId, wbId any
		code        string
	}{
		{"appId only (seed 001)", DefaultAppID, nil, "0"},
		{"webankAppId only (seed 000)", nil, DefaultAppID, "0"},
		{"both, same value", DefaultAppID, DefaultAppID, "0"},
		{"both, different values", DefaultAppID, "IDAOTHER", "400101"},
		{"neither", nil, nil, "400101"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, kind := range []string{KindIDCard, KindBankCard} {
				o := newOrderNo()
				var body map[string]any
				path := "/api/paas/idcardocrapp"
				if kind == KindIDCard {
					body = h.idBody(tk, o, front(3).JPEG(), "0")
				} else {
					body, path = h.bankBody(tk, o, bank(3).JPEG()), "/api/paas/bankcardocrapp"
				}
				delete(body, "appId")
				if c.appId != nil {
					body["appId"] = c.appId
				}
				if c.wbId != nil {
					body["webankAppId"] = c.wbId
				}
				if a := h.post(path, url.Values{"orderNo": {o}}, body); a.code() != c.code {
					t.Errorf("%s: code %q (%s), want %q", kind, a.code(), a.str("msg"), c.code)
				}
			}
		})
	}
}

// "订单号…由合作方上送，每次调用唯一": the answer to a repeat is not
// documented, so the code is a knob; the order's first result stays.
func TestDuplicateOrderCodeKnob(t *testing.T) {
	for _, code := range []string{"", "66661099", "400101"} {
		h := newHarness(t, Config{DuplicateOrderCode: code})
		tk := h.credentials()
		o := newOrderNo()
		body := h.idBody(tk, o, front(4).JPEG(), "0")
		if a := h.post("/api/paas/idcardocrapp", nil, body); a.code() != "0" {
			t.Fatalf("first: %v", a)
		}
		want := code
		if want == "" {
			want = "66660000"
		}
		if a := h.post("/api/paas/idcardocrapp", nil, body); a.code() != want {
			t.Errorf("repeat: code %q, want %q", a.code(), want)
		}
		if n := h.e.Count("accepted:" + EndpointIDCardOCR); n != 1 {
			t.Errorf("accepted %d, want 1", n)
		}
		if a := h.get("/api/server/getOcrResult", h.queryValues(tk, o)); a.code() != "0" || a.result().str("idcard") != Person(4).IDNumber {
			t.Errorf("the first result is gone: %v", a)
		}
	}
}

// Seeds 002 and 004: "为确保用户操作整体流程顺利完成，部分情况下获取照片会有1秒左右
// 的延迟". Each order keeps the delay in force when it was submitted.
func TestPhotoDelayPerOrder(t *testing.T) {
	clock := newClock()
	h := newHarness(t, Config{Now: clock.Now, PhotoDelay: 2 * time.Second})
	tk := h.credentials()
	slow, _ := h.submitBank(tk, bank(5).JPEG())
	h.e.SetPhotoDelay(0)
	quick, _ := h.submitBank(tk, bank(6).JPEG())
	photo := func(o string) string {
		q := h.queryValues(tk, o)
		q.Set("get_file", "1")
		a := h.get("/api/server/getBankCardOcrResult", q)
		if a.code() != "0" || a.result().str("bankCardNo") == "" {
			t.Fatalf("query: %v", a)
		}
		return a.result().str("originBankcardPhoto")
	}
	if photo(slow) != "" || photo(quick) == "" {
		t.Fatalf("at 0 s: the slow order has photos or the quick one has none")
	}
	clock.Advance(1999 * time.Millisecond)
	if photo(slow) != "" {
		t.Errorf("photos before the order's delay")
	}
	clock.Advance(time.Millisecond)
	if photo(slow) == "" {
		t.Errorf("no photos once the delay has passed")
	}
}

func TestGetOcrResult(t *testing.T) {
	clock := newClock()
	h := newHarness(t, Config{Now: clock.Now, PhotoDelay: time.Second})
	tk := h.credentials()
	p := Person(11)
	of, _ := h.submitID(tk, front(11).JPEG(), "0")
	ob, _ := h.submitID(tk, back(11).PNG(), "1")

	a := h.get("/api/server/getOcrResult", h.queryValues(tk, of))
	r := a.result()
	if a.code() != "0" || r.str("frontCode") != "0" || r.str("backCode") != "66660020" || r.str("orderNo") != of {
		t.Fatalf("front order: %v", a)
	}
	for k, v := range map[string]string{"name": p.Name, "sex": p.Sex, "nation": p.Nation, "birth": p.Birth, "address": p.Address, "idcard": p.IDNumber,
		"frontWarnCode": "00000000", "frontMultiWarning": "00000000"} {
		if r.str(k) != v {
			t.Errorf("%s = %q, want %q", k, r.str(k), v)
		}
	}
	if r.str("frontClarity") == "" || r.str("operateTime") != "2026-06-01 10:00:00" {
		t.Errorf("clarity/operateTime: %v", r)
	}
	for _, k := range []string{"frontPhoto", "headPhoto", "validDate", "backWarnCode", "nativePlace"} {
		if _, ok := r[k]; ok {
			t.Errorf("unexpected %s", k)
		}
	}

	// Photos: within PhotoDelay none, after it base64 JPEGs.
	q := h.queryValues(tk, of)
	q.Set("get_file", "1")
	if r := h.get("/api/server/getOcrResult", q).result(); r.str("frontPhoto") != "" {
		t.Errorf("photo before PhotoDelay")
	}
	clock.Advance(2 * time.Second)
	q.Set("get_native", "1")
	r = h.get("/api/server/getOcrResult", q).result()
	for _, k := range []string{"frontPhoto", "frontCrop", "headPhoto"} {
		assertJPEG(t, k, r.str(k))
	}
	if r.str("nativePlace") != p.NativePlace {
		t.Errorf("nativePlace %q", r.str("nativePlace"))
	}
	raw, _ := base64.StdEncoding.DecodeString(r.str("frontPhoto"))
	if !bytes.Equal(raw, front(11).JPEG()) {
		t.Errorf("frontPhoto is not the uploaded JPEG")
	}

	q = h.queryValues(tk, ob)
	q.Set("get_file", "1")
	a = h.get("/api/server/getOcrResult", q)
	r = a.result()
	if r.str("backCode") != "0" || r.str("frontCode") != "66660020" || r.str("authority") != p.Authority || r.str("validDate") == "" {
		t.Errorf("back order: %v", a)
	}
	assertJPEG(t, "backPhoto", r.str("backPhoto")) // PNG upload comes back as JPEG
	assertJPEG(t, "backCrop", r.str("backCrop"))
	if _, ok := r["name"]; ok {
		t.Errorf("back order has name")
	}

	// Failures.
	failed, _ := h.submitID(tk, front(11).JPEG(), "1")
	ob2, _ := h.submitBank(tk, bank(1).JPEG())
	bad := h.queryValues(tk, of)
	bad.Set("sign", strings.Repeat("B", 40))
	snake := h.queryValues(tk, of)
	snake.Set("appId", snake.Get("app_id"))
	snake.Del("app_id")
	for _, c := range []struct {
		name string
		q    url.Values
		code string
	}{
		{"unknown order", h.queryValues(tk, "nosuchorder"), "66660020"},
		{"failed submission", h.queryValues(tk, failed), "66660020"},
		{"bank order", h.queryValues(tk, ob2), "66660020"},
		{"wrong sign", bad, "400101"},
		{"appId instead of app_id", snake, "400101"},
		{"order_no too long", h.queryValues(tk, strings.Repeat("1", 33)), "66660000"},
	} {
		if a := h.get("/api/server/getOcrResult", c.q); a.code() != c.code {
			t.Errorf("%s: code %q, want %q", c.name, a.code(), c.code)
		}
	}
	// Results are kept OrderRetention.
	clock.Advance(72 * time.Hour)
	tk = h.credentials()
	if a := h.get("/api/server/getOcrResult", h.queryValues(tk, of)); a.code() != "66660020" {
		t.Errorf("after retention: %v", a.code())
	}
}

func assertJPEG(t *testing.T, name, b64 string) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) == 0 {
		t.Errorf("%s: not base64 (%v)", name, err)
		return
	}
	if _, err := jpeg.Decode(bytes.NewReader(raw)); err != nil {
		t.Errorf("%s: not a JPEG: %v", name, err)
	}
}

func TestBankCard(t *testing.T) {
	clock := newClock()
	h := newHarness(t, Config{Now: clock.Now})
	tk := h.credentials()
	d := BankCard(21)
	o, a := h.submitBank(tk, bank(21).JPEG())
	r := a.result()
	if a.code() != "0" || r.str("bankcardNo") != d.Number || r.str("bankcardValidDate") != d.ValidThru ||
		r.str("warningCode") != "0" || r.str("multiWarningCode") != "0" || r.str("clarity") == "" || r.str("orderNo") != o {
		t.Fatalf("submit: %v", a)
	}
	assertJPEG(t, "bankcardNoPhoto", r.str("bankcardNoPhoto"))

	q := h.queryValues(tk, o)
	a = h.get("/api/server/getBankCardOcrResult", q)
	r = a.result()
	if a.code() != "0" || r.str("bankCardNo") != d.Number || r.str("bankCardValidDate") != d.ValidThru || r.str("warnCode") != "0" ||
		r.str("operateTime") == "" || r.str("orderNo") != o {
		t.Fatalf("query: %v", a)
	}
	if _, ok := r["bankcardNo"]; ok {
		t.Errorf("query uses bankcardNo; the document says bankCardNo")
	}
	if _, ok := r["originBankcardPhoto"]; ok {
		t.Errorf("photos without get_file")
	}
	q.Set("get_file", "1")
	r = h.get("/api/server/getBankCardOcrResult", q).result()
	for _, k := range []string{"bankcardCropPhoto", "bankcardNoPhoto", "originBankcardPhoto"} {
		assertJPEG(t, k, r.str(k))
	}
	if a := h.get("/api/server/getBankCardOcrResult", h.queryValues(tk, "nosuch")); a.code() != "66660020" {
		t.Errorf("unknown order: %v", a)
	}

	tests := []struct {
		name    string
		img     []byte
		code    string
		check   func(r answer) bool
		details string
	}{
		{"expired", CardSpec{Kind: KindBankCard, Seed: 2, ValidTo: "05/2026"}.JPEG(), "0",
			func(r answer) bool {
				return r.str("warningCode") == "66661009" && r.str("multiWarningCode") == "[66661009]"
			}, "warning 66661009"},
		{"current month", CardSpec{Kind: KindBankCard, Seed: 2, ValidTo: "06/2026"}.JPEG(), "0",
			func(r answer) bool { return r.str("warningCode") == "0" }, "no warning"},
		{"warnings", CardSpec{Kind: KindBankCard, Seed: 2, Warning: "-9111,-9114"}.JPEG(), "0",
			func(r answer) bool {
				return r.str("warningCode") == "-9111" && r.str("multiWarningCode") == "[-9111,-9114]"
			}, "both"},
		{"bad Luhn", CardSpec{Kind: KindBankCard, Seed: 2, BadLuhn: true}.PNG(), "0",
			func(r answer) bool {
				return !LuhnValid(r.str("bankcardNo")) && len(r.str("bankcardNo")) == len(BankCard(2).Number)
			}, "Luhn-invalid"},
		{"number override", CardSpec{Kind: KindBankCard, Seed: 2, CardNumber: "6222021234567890123"}.BMP(), "0",
			func(r answer) bool { return r.str("bankcardNo") == "6222021234567890123" }, "override"},
		{"ID card", front(2).JPEG(), "-9013", nil, ""},
		{"unreadable", CardSpec{Kind: KindBankCard, Seed: 2, Unreadable: true}.JPEG(), "-9011", nil, ""},
		{"blurry", CardSpec{Kind: KindBankCard, Seed: 2, Blurry: true}.JPEG(), "-9012", nil, ""},
		{"forced -9014", CardSpec{Kind: KindBankCard, Seed: 2, Code: "-9014"}.JPEG(), "-9014", nil, ""},
		{"not an image", []byte("plain text"), "66661010", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, a := h.submitBank(tk, tt.img)
			if a.code() != tt.code {
				t.Fatalf("code %q (%s), want %q", a.code(), a.str("msg"), tt.code)
			}
			if tt.check != nil && !tt.check(a.result()) {
				t.Errorf("want %s: %v", tt.details, a.result())
			}
		})
	}
	// Wrong sign.
	o = newOrderNo()
	b := h.bankBody(tk, o, bank(3).JPEG())
	b["sign"] = sign.Sign(DefaultAppID, o, testNonce, "1.0.0", "wrongticket")
	if a := h.post("/api/paas/bankcardocrapp", nil, b); a.code() != "400101" {
		t.Errorf("wrong sign: %v", a)
	}
}

func TestConcurrentSubmissions(t *testing.T) {
	h := newHarness(t, Config{})
	tk := h.credentials()
	img := front(99).JPEG()
	const n = 24
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			o := newOrderNo()
			body, _ := json.Marshal(h.idBody(tk, o, img, "0"))
			resp, err := h.cl.Post(h.srv.URL+"/api/paas/idcardocrapp?orderNo="+o, "application/json", bytes.NewReader(body))
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var a answer
			if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.code() != "0" {
				errs <- "bad answer"
				return
			}
			errs <- ""
		}()
	}
	for i := 0; i < n; i++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
	if got := h.e.Count(EndpointIDCardOCR); got != n {
		t.Errorf("count %d, want %d", got, n)
	}
}

// Concurrent token and ticket fetches: each new token cuts the older ones'
// expiry while other answers are being written (run with -race).
func TestConcurrentTokenFetches(t *testing.T) {
	h := newHarness(t, Config{})
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 15 {
				tok := h.token()
				h.ticketAnswer(tok)
			}
		}()
	}
	wg.Wait()
	if n := h.e.Count(EndpointAccessToken); n != 90 {
		t.Errorf("access_token calls %d", n)
	}
}

// Any decodable photo is a card: its identity comes from its bytes, the
// same photo gives the same card, its check digits are valid, and the side
// asked for is the side read.
func TestAnyPhotoIsRecognized(t *testing.T) {
	h := newHarness(t, Config{})
	tk := h.credentials()
	photo := encodeJPEG(front(5).render(320, 200)) // no marker
	want := Person(photoSpec(photo, KindIDCard, SideFront).Seed)
	for range 2 {
		_, a := h.submitID(tk, photo, "0")
		if a.code() != "0" || a.result().str("idcard") != want.IDNumber || a.result().str("name") != want.Name || !validIDNumber(want.IDNumber) {
			t.Fatalf("front: %v", a)
		}
	}
	if _, a := h.submitID(tk, photo, "1"); a.code() != "0" || a.result().str("validDate") == "" {
		t.Errorf("back: %v", a)
	}
	_, a := h.submitBank(tk, encodeJPEG(bank(2).render(320, 200)))
	if a.code() != "0" || !LuhnValid(a.result().str("bankcardNo")) {
		t.Errorf("bank: %v", a)
	}
}
