package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	ocrapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ocr/v20181119"

	"github.com/cardocr/cardocr/shared/tc3"
)

// tcCall signs body for action with key pair (id, key) at ts, as the API
// 3.0 signing document describes, and posts it.
func tcCall(t *testing.T, url, action, id, key string, ts time.Time, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url+"/", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", "2018-11-19")
	req.Header.Set("X-TC-Region", "ap-guangzhou")
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Host = strings.TrimPrefix(url, "http://")
	date := ts.UTC().Format("2006-01-02")
	signed := []string{"content-type", "host"}
	sig := tc3.Signature(req, b, signed, ts.Unix(), "ocr", key)
	req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+id+"/"+date+"/ocr/tc3_request, SignedHeaders=content-type;host, Signature="+sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Response map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("HTTP %d: %v", resp.StatusCode, err)
	}
	return out.Response
}

func tcCode(r map[string]any) string {
	if e, ok := r["Error"].(map[string]any); ok {
		return e["Code"].(string)
	}
	return ""
}

func TestTencentCloudProtocol(t *testing.T) {
	clk := newClock()
	e := New(Config{Now: clk.Now})
	srv := httptest.NewServer(e)
	defer srv.Close()
	img := base64.StdEncoding.EncodeToString(CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 7}.JPEG())
	id, key := DefaultTencentCloudSecretID, DefaultTencentCloudSecretKey
	ok := map[string]any{"ImageBase64": img, "CardSide": "FRONT"}
	for _, tc := range []struct {
		name, action, id, key string
		skew                  time.Duration
		body                  any
		want                  string
	}{
		{"signed", "IDCardOCR", id, key, 0, ok, ""},
		{"wrong key", "IDCardOCR", id, "not-the-key", 0, ok, "AuthFailure.SignatureFailure"},
		{"unknown SecretId", "IDCardOCR", "AKIDother", key, 0, ok, "AuthFailure.SecretIdNotFound"},
		// "Timestamp 和服务器时间相差不得超过五分钟"
		{"timestamp 6 min off", "IDCardOCR", id, key, 6 * time.Minute, ok, "AuthFailure.SignatureExpire"},
		{"unknown action", "GeneralBasicOCR", id, key, 0, ok, "InvalidAction"},
		{"unknown member", "IDCardOCR", id, key, 0, map[string]any{"ImageBase64": img, "Foo": 1}, "UnknownParameter"},
		{"bad CardSide", "IDCardOCR", id, key, 0, map[string]any{"ImageBase64": img, "CardSide": "LEFT"}, "InvalidParameterValue.InvalidParameterValueLimit"},
		// "FailedOperation.CardSideError: 身份证正反面识别错误": the front asked
		// for, the back sent.
		{"wrong side", "IDCardOCR", id, key, 0, map[string]any{"ImageBase64": base64.StdEncoding.EncodeToString(CardSpec{Kind: KindIDCard, Side: SideBack, Seed: 3}.JPEG()), "CardSide": "FRONT"}, "FailedOperation.CardSideError"},
		{"Config not JSON", "IDCardOCR", id, key, 0, map[string]any{"ImageBase64": img, "Config": "{"}, "InvalidParameter.ConfigFormatError"},
		{"not base64", "IDCardOCR", id, key, 0, map[string]any{"ImageBase64": "!!"}, "FailedOperation.ImageDecodeFailed"},
		{"no image", "IDCardOCR", id, key, 0, map[string]any{}, "InvalidParameterValue.InvalidParameterValueLimit"},
		{"bank card photo as ID card", "IDCardOCR", id, key, 0,
			map[string]any{"ImageBase64": base64.StdEncoding.EncodeToString(CardSpec{Kind: KindBankCard, Seed: 1}.JPEG())}, "FailedOperation.ImageNoIdCard"},
	} {
		r := tcCall(t, srv.URL, tc.action, tc.id, tc.key, clk.Now().Add(tc.skew), tc.body)
		if got := tcCode(r); got != tc.want {
			t.Errorf("%s: %q, want %q (%v)", tc.name, got, tc.want, r)
		}
		if r["RequestId"] == "" {
			t.Errorf("%s: no RequestId", tc.name)
		}
	}
}

// "要求图片经Base64编码后不超过 10M" (the current IDCardOCR and BankCardOCR
// pages, ImageBase64; older copies said 7M): 10 MiB of Base64 is taken by
// default, and a configured limit is taken to the character.
func TestTencentCloudBase64Limit(t *testing.T) {
	clk := newClock()
	e := New(Config{Now: clk.Now, TencentCloud: TencentCloudConfig{MaxBase64: 4096}})
	srv := httptest.NewServer(e)
	defer srv.Close()
	if New(Config{}).cfg.TencentCloud.MaxBase64 != 10<<20 {
		t.Fatal("default limit is not 10 MiB")
	}
	big := CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 2, MinSize: 3072}.JPEG()
	b64 := base64.StdEncoding.EncodeToString(big[:3072])
	r := tcCall(t, srv.URL, "IDCardOCR", DefaultTencentCloudSecretID, DefaultTencentCloudSecretKey, clk.Now(), map[string]any{"ImageBase64": b64 + "AAAA"})
	if tcCode(r) != "LimitExceeded.TooLargeFileError" {
		t.Errorf("4100 characters: %v", r)
	}
	r = tcCall(t, srv.URL, "IDCardOCR", DefaultTencentCloudSecretID, DefaultTencentCloudSecretKey, clk.Now(), map[string]any{"ImageBase64": b64})
	if tcCode(r) == "LimitExceeded.TooLargeFileError" {
		t.Errorf("4096 characters refused: %v", r)
	}
}

// One photo, one identity: the Tencent Cloud endpoint reads the person the
// WeBank endpoint reads from the same image, in Tencent's formats, through
// the real SDK (whose TC3 signature the endpoint verifies).
func TestTencentCloudSameIdentityThroughSDK(t *testing.T) {
	e := New(Config{})
	srv := httptest.NewServer(e)
	defer srv.Close()
	prof := profile.NewClientProfile()
	prof.HttpProfile.Endpoint = strings.TrimPrefix(srv.URL, "http://")
	prof.HttpProfile.Scheme = "HTTP"
	c, _ := ocrapi.NewClient(common.NewCredential(DefaultTencentCloudSecretID, DefaultTencentCloudSecretKey), "ap-guangzhou", prof)

	raw := encodeJPEG(front(5).render(320, 200)) // no marker: any decodable photo is a card
	want := Person(photoSpec(raw, KindIDCard, SideFront).Seed)

	req := ocrapi.NewIDCardOCRRequest()
	b64, side, cfg := base64.StdEncoding.EncodeToString(raw), "FRONT", `{"CopyWarn":true,"Quality":true}`
	req.ImageBase64, req.CardSide, req.Config = &b64, &side, &cfg
	resp, err := c.IDCardOCR(req)
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Response
	if *r.Name != want.Name || *r.IdNum != want.IDNumber || *r.Birth != slashDate(want.Birth) || *r.Authority != "" {
		t.Errorf("front: %s", resp.ToJsonString())
	}
	// The back of the same card: the same person's authority and dates.
	side = "BACK"
	resp, err = c.IDCardOCR(req)
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Response; *r.Authority != want.Authority || !strings.HasPrefix(*r.ValidDate, dotDate(want.ValidFrom)+"-") || *r.IdNum != "" {
		t.Errorf("back: %s", resp.ToJsonString())
	}
	// A bank card photo: the card number of the same seed on every provider.
	bank := CardSpec{Kind: KindBankCard, Seed: 5}.JPEG()
	bb := base64.StdEncoding.EncodeToString(bank)
	breq := ocrapi.NewBankCardOCRRequest()
	breq.ImageBase64 = &bb
	bresp, err := c.BankCardOCR(breq)
	if err != nil || *bresp.Response.CardNo != BankCard(5).Number {
		t.Fatalf("bank: %v %v", err, bresp)
	}
	// A wrong key through the SDK: its error carries the API's code.
	c.WithSecretId(DefaultTencentCloudSecretID, "wrong")
	_, err = c.IDCardOCR(req)
	if sdk, ok := err.(*tcerr.TencentCloudSDKError); !ok || sdk.Code != "AuthFailure.SignatureFailure" {
		t.Fatalf("wrong key: %v", err)
	}
}

// Warnings are reported only for the checks the request turned on.
func TestTencentCloudWarningsFollowConfig(t *testing.T) {
	clk := newClock()
	e := New(Config{Now: clk.Now})
	srv := httptest.NewServer(e)
	defer srv.Close()
	img := base64.StdEncoding.EncodeToString(CardSpec{Kind: KindIDCard, Side: SideFront, Seed: 3, Warning: "11000000"}.JPEG())
	call := func(cfg string) string {
		r := tcCall(t, srv.URL, "IDCardOCR", DefaultTencentCloudSecretID, DefaultTencentCloudSecretKey, clk.Now(), map[string]any{"ImageBase64": img, "Config": cfg})
		s, _ := r["AdvancedInfo"].(string)
		return s
	}
	if got := call(`{"CopyWarn":true,"BorderCheckWarn":true}`); !strings.Contains(got, "-9101") || !strings.Contains(got, "-9102") {
		t.Errorf("both asked: %q", got)
	}
	if got := call(`{"CopyWarn":true}`); strings.Contains(got, "-9101") || !strings.Contains(got, "-9102") {
		t.Errorf("copy only: %q", got)
	}
	if got := call(``); got != "" {
		t.Errorf("none asked: %q", got)
	}
}

// WarnInfos: "-9109 身份证有效日期不合法告警" in the current models.go;
// older pages list the same warning as -9100. The emulator answers the
// current code by default and the older one on request.
func TestTencentCloudInvalidDateWarningCode(t *testing.T) {
	clk := newClock()
	img := base64.StdEncoding.EncodeToString(CardSpec{Kind: KindIDCard, Side: SideBack, Seed: 4, Warning: "00100000"}.JPEG())
	for _, tc := range []struct {
		cfg  TencentCloudConfig
		want string
	}{{TencentCloudConfig{}, "-9109"}, {TencentCloudConfig{InvalidDateCode: -9100}, "-9100"}} {
		srv := httptest.NewServer(New(Config{Now: clk.Now, TencentCloud: tc.cfg}))
		r := tcCall(t, srv.URL, "IDCardOCR", DefaultTencentCloudSecretID, DefaultTencentCloudSecretKey, clk.Now(),
			map[string]any{"ImageBase64": img, "CardSide": "BACK", "Config": `{"InvalidDateWarn":true}`})
		srv.Close()
		if adv, _ := r["AdvancedInfo"].(string); !strings.Contains(adv, tc.want) {
			t.Errorf("want WarnInfos %s: %v", tc.want, r)
		}
	}
}
