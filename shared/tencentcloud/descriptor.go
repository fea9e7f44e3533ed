package tencentcloud

import (
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/providers"
)

// Settings are Tencent Cloud OCR's settings (README.md, "Configuration").
type Settings struct {
	// Endpoint is TENCENTCLOUD_OCR_ENDPOINT: the API 3.0 endpoint, a host
	// or an http(s) URL (default ocr.tencentcloudapi.com).
	Endpoint string `env:"TENCENTCLOUD_OCR_ENDPOINT"`
	// Region is part of the signature scope; the OCR API is served from
	// every region's endpoint.
	Region string `env:"TENCENTCLOUD_OCR_REGION" default:"ap-guangzhou"`
}

// Descriptor is Tencent Cloud OCR's entry in the provider registry.
var Descriptor = providers.Descriptor{
	Name:     Name,
	Kinds:    []string{ocr.KindIDCard, ocr.KindBankCard},
	Limits:   ocr.Limits{IDCardImage: MaxImage, BankCardImage: MaxImage, IDCardQPS: IDCardQPS, BankCardQPS: BankCardQPS},
	Settings: func() any { return &Settings{} },
	Secrets: []providers.Secret{{Key: "tencentcloudSecretId", Env: "TENCENTCLOUD_OCR_SECRET_ID"},
		{Key: "tencentcloudSecretKey", Env: "TENCENTCLOUD_OCR_SECRET_KEY"}},
	// Off without a key pair (tencentcloudSecretId/Key) or an SCF role's
	// temporary credentials.
	Build: func(e providers.Env) (ocr.Provider, error) {
		s := e.Settings.(*Settings)
		c := Config{Endpoint: s.Endpoint, Region: s.Region,
			SecretID: e.Secret("tencentcloudSecretId"), SecretKey: e.Secret("tencentcloudSecretKey")}
		if e.HTTPClient != nil {
			c.Transport = e.HTTPClient.Transport
		}
		if e.Current != nil && c.SecretID != "" {
			// The key pair from the credentials secret, read again when
			// due and after a rejection: a rotated key needs no cold start.
			c.KeyPair = func() (string, string) {
				id, key := e.Current("tencentcloudSecretId"), e.Current("tencentcloudSecretKey")
				if id == "" {
					return c.SecretID, c.SecretKey
				}
				return id, key
			}
			c.KeyRejected = e.Rejected
		}
		p := New(c)
		if !p.Configured() {
			return nil, nil
		}
		return p, nil
	},
}

func init() { providers.Register(Descriptor) }
