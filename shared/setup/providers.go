package setup

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tencentcloud"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
	"github.com/cardocr/cardocr/shared/wechat"
)

// deps is what a provider may be built from.
type deps struct {
	cfg    config.Config
	hc     *http.Client
	reader *tickets.Reader   // the WeBank pair
	store  secretstore.Store // the tickets document (other members)
	log    *slog.Logger
	creds  *CredentialSource // the credentials secret, read again when due; nil: the startup values
}

// registry lists the providers this build knows, by name. build returns nil
// when the deployment has no credentials for one (asking for it is a 400).
var registry = []struct {
	name  string
	build func(d deps) ocr.Provider
}{
	{webank.Name, func(d deps) ocr.Provider {
		return &webank.Provider{Client: WeBank(d.cfg, d.hc), Tickets: d.reader, QPS: d.cfg.WeBankQPS}
	}},
	{wechat.Name, weChatProvider},
	{tencentcloud.Name, tencentCloudProvider},
}

// Providers builds every registered provider for cfg.
// ProviderNames lists the providers this build knows, in registry order.
func ProviderNames() []string {
	out := make([]string, len(registry))
	for i, r := range registry {
		out[i] = r.name
	}
	return out
}

func Providers(cfg config.Config, hc *http.Client, reader *tickets.Reader, store secretstore.Store, log *slog.Logger) map[string]ocr.Provider {
	return providers(deps{cfg: cfg, hc: hc, reader: reader, store: store, log: log})
}

func providers(d deps) map[string]ocr.Provider {
	out := make(map[string]ocr.Provider, len(registry))
	for _, r := range registry {
		out[r.name] = r.build(d)
	}
	return out
}

// weChatProvider is WeChat's ID card OCR, or nil without a WeChat appid.
// The token comes from the tickets store; with the AppSecret too, a reader
// may also ask stable_token in normal mode when the stored token is in its
// last five minutes or was rejected (never a forced refresh).
func weChatProvider(d deps) ocr.Provider {
	cr := d.cfg.Credentials
	if cr.WeChatAppID == "" {
		return nil
	}
	c := WeChat(d.cfg, d.hc)
	r := &wechat.TokenReader{Store: d.store, AppID: cr.WeChatAppID, Logger: d.log}
	if cr.WeChatAppSecret != "" {
		r.Fallback = c
	}
	return &wechat.Provider{Client: c, Tokens: r, Quota: &metrics.DailyLimit{Limit: d.cfg.DailyQuotaWeChat}, QPS: d.cfg.WeChatQPS}
}

// WeChatKeeper returns the refresher's WeChat token keeper, nil when WeChat
// is not configured.
func WeChatKeeper(r *tickets.Refresher) *wechat.TokenKeeper {
	for _, m := range r.Members {
		if k, ok := m.(*wechat.TokenKeeper); ok {
			return k
		}
	}
	return nil
}

// tencentCloudProvider is Tencent Cloud OCR, or nil without a key pair
// (tencentcloudSecretId/Key) or an SCF role's temporary credentials.
func tencentCloudProvider(d deps) ocr.Provider {
	cr := d.cfg.Credentials
	c := tencentcloud.Config{Endpoint: d.cfg.TencentCloudOCREndpoint, Region: d.cfg.TencentCloudRegion,
		SecretID: cr.TencentCloudSecretID, SecretKey: cr.TencentCloudSecretKey, Transport: d.hc.Transport}
	if d.creds != nil && cr.TencentCloudSecretID != "" {
		// The key pair from the credentials secret, read again when due
		// and after a rejection: a rotated key needs no cold start.
		c.KeyPair = func() (string, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := d.creds.Get(ctx)
			if err != nil || got.TencentCloudSecretID == "" {
				return cr.TencentCloudSecretID, cr.TencentCloudSecretKey
			}
			return got.TencentCloudSecretID, got.TencentCloudSecretKey
		}
		c.KeyRejected = d.creds.Invalidate
	}
	p := tencentcloud.New(c)
	if !p.Configured() {
		return nil
	}
	return p
}
