package webank_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr/ocrtest"
	"github.com/cardocr/cardocr/shared/webank"
)

// WeBank against its emulator: the error code page marks recognition
// failures "不收费" (FreeFailures).
func TestConformance(t *testing.T) {
	e := emulator.New(emulator.Config{})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	c := webank.New(webank.Config{BaseURL: srv.URL, AppID: emulator.DefaultAppID, Secret: emulator.DefaultSecret})
	ocrtest.Run(t, ocrtest.Harness{
		Provider: &webank.Provider{Client: c},
		Emulator: e,
		Cred: ocrtest.Once(func(ctx context.Context) (string, error) {
			tok, err := c.AccessToken(ctx)
			if err != nil {
				return "", err
			}
			tk, err := c.SignTicket(ctx, tok.Value)
			return tk.Value, err
		}),
		IDEndpoint: emulator.EndpointIDCardOCR, BankEndpoint: emulator.EndpointBankCardOCR,
		FreeFailures: true,
		AccountCode:  "66660003", ThrottleCode: "1506",
		Secrets: []string{emulator.DefaultSecret},
	})
}
