package wechat_test

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/ocr/ocrtest"
	"github.com/cardocr/cardocr/shared/wechat"
)

// WeChat against its emulator: ID cards only; WeChat tells the side itself.
func TestConformance(t *testing.T) {
	e := emulator.New(emulator.Config{})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	c := wechat.New(wechat.Config{BaseURL: srv.URL, AppID: emulator.DefaultWeChatAppID, Secret: emulator.DefaultWeChatSecret})
	ocrtest.Run(t, ocrtest.Harness{
		Provider: &wechat.Provider{Client: c},
		Emulator: e,
		Cred: ocrtest.Once(func(ctx context.Context) (string, error) {
			tok, err := c.StableToken(ctx, false)
			return tok.Value, err
		}),
		IDEndpoint:  emulator.EndpointWeChatIDCard,
		DetectsSide: true,
		AccountCode: "45009", ThrottleCode: "45011",
		Secrets: []string{emulator.DefaultWeChatSecret},
	})
}
