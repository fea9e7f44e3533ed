package tc3

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	ocrapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ocr/v20181119"
)

// Requests signed by the SDK Tencent ships verify; a wrong key, a stale
// clock, another service's scope and a missing token do not.
func TestVerifyAgreesWithTheSDK(t *testing.T) {
	var now time.Time
	var service string
	creds := Credentials{SecretID: "AKIDtc3test", SecretKey: "tc3-test-key", Token: "tok"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		code, msg := Verify(r, body, service, creds, now)
		w.Header().Set("Content-Type", "application/json")
		if code != "" {
			io.WriteString(w, `{"Response":{"Error":{"Code":"`+code+`","Message":"`+msg+`"},"RequestId":"r"}}`)
			return
		}
		io.WriteString(w, `{"Response":{"Name":"","RequestId":"r"}}`)
	}))
	defer srv.Close()
	call := func(key, token string) string {
		prof := profile.NewClientProfile()
		prof.HttpProfile.Endpoint, prof.HttpProfile.Scheme = strings.TrimPrefix(srv.URL, "http://"), "HTTP"
		c, _ := ocrapi.NewClient(common.NewTokenCredential(creds.SecretID, key, token), "ap-guangzhou", prof)
		b64 := "AAAA"
		req := ocrapi.NewIDCardOCRRequest()
		req.ImageBase64 = &b64
		_, err := c.IDCardOCR(req)
		if e, ok := err.(*tcerr.TencentCloudSDKError); ok {
			return e.Code
		}
		if err != nil {
			t.Fatal(err)
		}
		return ""
	}
	for _, tc := range []struct {
		name, key, token, service string
		skew                      time.Duration
		want                      string
	}{
		{"signed", creds.SecretKey, "tok", "ocr", 0, ""},
		{"wrong key", "other", "tok", "ocr", 0, "AuthFailure.SignatureFailure"},
		{"another service", creds.SecretKey, "tok", "ssm", 0, "AuthFailure.InvalidAuthorization"},
		{"clock six minutes off", creds.SecretKey, "tok", "ocr", 6 * time.Minute, "AuthFailure.SignatureExpire"},
		{"no token", creds.SecretKey, "", "ocr", 0, "AuthFailure.TokenFailure"},
	} {
		now, service = time.Now().Add(tc.skew), tc.service
		if got := call(tc.key, tc.token); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
