package wechat

import (
	"errors"
	"strings"

	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/providers"
	"github.com/cardocr/cardocr/shared/tickets"
)

// Settings are WeChat's settings (README.md, "Configuration").
type Settings struct {
	BaseURL string `env:"WECHAT_BASE_URL" default:"https://api.weixin.qq.com"`
	// DailyQuota is DAILY_QUOTA_WECHAT: calls allowed per day and
	// instance before quota_exceeded (0: no local limit).
	DailyQuota int `env:"DAILY_QUOTA_WECHAT"`
	// QPS is the account's call rate (WECHAT_QPS); 0: not paced.
	QPS float64 `env:"WECHAT_QPS"`
}

// Validate refuses a base URL that is not http(s).
func (s *Settings) Validate() error {
	if !strings.HasPrefix(s.BaseURL, "https://") && !strings.HasPrefix(s.BaseURL, "http://") {
		return errors.New("config: WECHAT_BASE_URL must be an http(s) URL")
	}
	return nil
}

func newClient(e providers.Env) *Client {
	return New(Config{BaseURL: e.Settings.(*Settings).BaseURL, AppID: e.Secret("wechatAppId"),
		Secret: e.Secret("wechatAppSecret"), HTTPClient: e.HTTPClient})
}

// Descriptor is WeChat's entry in the provider registry.
var Descriptor = providers.Descriptor{
	Name:     Name,
	Kinds:    []string{ocr.KindIDCard},
	Limits:   ocr.Limits{IDCardImage: MaxImage, ImageURL: true},
	Settings: func() any { return &Settings{} },
	Secrets:  []providers.Secret{{Key: "wechatAppId", Env: "WECHAT_APP_ID"}, {Key: "wechatAppSecret", Env: "WECHAT_APP_SECRET"}},
	// Without an appid WeChat is off. The token comes from the tickets
	// store; with the AppSecret too, a reader may also ask stable_token
	// in normal mode when the stored token is in its last five minutes
	// or was rejected (never a forced refresh).
	Build: func(e providers.Env) (ocr.Provider, error) {
		if e.Secret("wechatAppId") == "" {
			return nil, nil
		}
		s := e.Settings.(*Settings)
		c := newClient(e)
		r := &TokenReader{Store: e.Store, AppID: e.Secret("wechatAppId"), Logger: e.Logger}
		if e.Secret("wechatAppSecret") != "" {
			r.Fallback = c
		}
		return &Provider{Client: c, Tokens: r, Quota: &metrics.DailyLimit{Limit: s.DailyQuota}, QPS: s.QPS}, nil
	},
	// The refresher keeps the token when both the appid and the secret
	// are there.
	Keeper: func(e providers.Env) providers.Keeper {
		if e.Secret("wechatAppId") == "" || e.Secret("wechatAppSecret") == "" {
			return nil
		}
		return &TokenKeeper{Fetcher: newClient(e), Logger: e.Logger}
	},
}

func init() { providers.Register(Descriptor) }

// Name is the provider whose token k keeps.
func (k *TokenKeeper) Name() string { return Name }

// Attach gives k the refresher it runs in (Force takes its lock and lease).
func (k *TokenKeeper) Attach(r *tickets.Refresher) { k.Refresher = r }
