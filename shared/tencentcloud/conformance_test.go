package tencentcloud_test

import (
	"net/http/httptest"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr/ocrtest"
	"github.com/cardocr/cardocr/shared/tencentcloud"
)

// Tencent Cloud OCR against its emulator: signed with a key pair, no
// stored credential.
func TestConformance(t *testing.T) {
	e := emulator.New(emulator.Config{})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	ocrtest.Run(t, ocrtest.Harness{
		Provider: tencentcloud.New(tencentcloud.Config{Endpoint: srv.URL, SecretID: emulator.DefaultTencentCloudSecretID,
			SecretKey: emulator.DefaultTencentCloudSecretKey}),
		Emulator:   e,
		IDEndpoint: emulator.EndpointTencentIDCardOCR, BankEndpoint: emulator.EndpointTencentBankCardOCR,
		AccountCode: "FailedOperation.ArrearsError", ThrottleCode: "RequestLimitExceeded",
		Force:   func(code string) { e.SetTencentCloudError(code, 1) },
		Secrets: []string{emulator.DefaultTencentCloudSecretKey},
	})
}
