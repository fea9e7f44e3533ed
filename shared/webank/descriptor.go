package webank

import (
	"errors"
	"net/http"
	"strings"

	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/providers"
)

// Settings are WeBank's settings (docs/configuration in README.md).
type Settings struct {
	BaseURL string `env:"KYC_BASE_URL" default:"https://kyc1.qcloud.com"`
	// QPS is the account's call rate (WEBANK_QPS): the documents name
	// none, so it is what the account manager agreed; 0: not paced.
	QPS float64 `env:"WEBANK_QPS"`
}

// Validate refuses a base URL that is not http(s).
func (s *Settings) Validate() error {
	if !strings.HasPrefix(s.BaseURL, "https://") && !strings.HasPrefix(s.BaseURL, "http://") {
		return errSettings
	}
	return nil
}

// Descriptor is WeBank's entry in the provider registry. WeBank is the
// provider the tickets exist for: package setup imports this package, so
// every function links it.
var Descriptor = providers.Descriptor{
	Name:   Name,
	Kinds:  []string{ocr.KindIDCard, ocr.KindBankCard},
	Limits: ocr.Limits{IDCardImage: MaxIDCardImage, BankCardImage: MaxBankCardImage},
	Settings: func() any {
		return &Settings{}
	},
	Secrets: []providers.Secret{{Key: "webankAppId", Env: "WEBANK_APP_ID"}, {Key: "webankSecret", Env: "WEBANK_SECRET"}},
	Build: func(e providers.Env) (ocr.Provider, error) {
		s := e.Settings.(*Settings)
		p := &Provider{Client: NewClient(*s, e.Secret("webankAppId"), e.Secret("webankSecret"), e.HTTPClient), QPS: s.QPS}
		p.Tickets = e.Tickets
		return p, nil
	},
}

func init() { providers.Register(Descriptor) }

var errSettings = errors.New("config: KYC_BASE_URL must be an http(s) URL")

// NewClient returns the client for settings s and the app's credentials.
func NewClient(s Settings, appID, secret string, hc *http.Client) *Client {
	return New(Config{BaseURL: s.BaseURL, AppID: appID, Secret: secret, HTTPClient: hc})
}
