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
	var token string
	ocrtest.Run(t, ocrtest.Harness{
		Provider: &wechat.Provider{Client: c},
		Emulator: e,
		Cred: func(t *testing.T) string {
			if token == "" {
				tok, err := c.StableToken(context.Background(), false)
				if err != nil {
					t.Fatal(err)
				}
				token = tok.Value
			}
			return token
		},
		IDEndpoint:  emulator.EndpointWeChatIDCard,
		DetectsSide: true,
		AccountCode: "45009", ThrottleCode: "45011",
		Secrets: []string{emulator.DefaultWeChatSecret},
	})
}
