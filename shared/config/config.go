// Package config reads the product's environment variables (the README's
// Configuration table) into one struct. The platform's own variables are
// read where they are used: the runtime's (AWS_LAMBDA_RUNTIME_API, SCF_*,
// _LAMBDA_SERVER_PORT) by shared/platform, and the cloud credentials the
// runtime injects (AWS_ACCESS_KEY_ID…, TENCENTCLOUD_SECRETID…) by the store
// and archive backends, at every call, because they rotate.
package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
)

// Config is the whole configuration of a function or the local stack.
type Config struct {
	KYCBaseURL    string // KYC_BASE_URL
	WeChatBaseURL string // WECHAT_BASE_URL

	Credentials Credentials

	CredentialsURL string // CREDENTIALS_URL
	TicketStoreURL string // TICKET_STORE_URL
	ArchiveURL     string // ARCHIVE_URL

	RefreshInterval time.Duration // TICKET_REFRESH_INTERVAL
	CacheTTL        time.Duration // TICKET_CACHE_TTL

	// RequestTimeout bounds each HTTP request where the platform gives no
	// deadline of its own (HTTP mode, the local stack).
	RequestTimeout time.Duration // REQUEST_TIMEOUT
	// MaxLargeRequests bounds the requests with a body over 1 MiB that one
	// instance handles at once (each costs about its image in memory);
	// beyond it: 503 busy with Retry-After. 0: no bound.
	MaxLargeRequests int // MAX_LARGE_REQUESTS

	// DailyQuotaWeChat is DAILY_QUOTA_WECHAT: WeChat OCR calls allowed per
	// day and instance before quota_exceeded (0: no local limit).
	DailyQuotaWeChat int
	// MetricsFormat is how call counters are logged: "emf" (CloudWatch
	// embedded metric format, the default on AWS Lambda) or "json";
	// METRICS_FORMAT overrides.
	MetricsFormat string

	APIKeys  []string // API_KEYS
	AuthMode string   // AUTH_MODE: apikey | none
	Port     string   // PORT
	LogLevel string   // LOG_LEVEL
	// LogFormat: "json" (the functions' default: log services parse it)
	// or "text" (aligned key=value lines; the local stack's default).
	LogFormat string // LOG_FORMAT
}

// Credentials are the upstream credentials. The functions read them from
// the credentials secret; the environment overrides (local use, tests).
type Credentials struct {
	WeBankAppID     string `json:"webankAppId"`
	WeBankSecret    string `json:"webankSecret"`
	WeChatAppID     string `json:"wechatAppId,omitempty"`
	WeChatAppSecret string `json:"wechatAppSecret,omitempty"`
}

// Defaults outside the local stack.
const (
	DefaultKYCBaseURL    = "https://kyc1.qcloud.com"
	DefaultWeChatBaseURL = "https://api.weixin.qq.com"
)

// FromEnv reads the configuration. getenv is os.Getenv in production.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		KYCBaseURL:     or(getenv("KYC_BASE_URL"), DefaultKYCBaseURL),
		WeChatBaseURL:  or(getenv("WECHAT_BASE_URL"), DefaultWeChatBaseURL),
		CredentialsURL: getenv("CREDENTIALS_URL"),
		TicketStoreURL: getenv("TICKET_STORE_URL"),
		ArchiveURL:     getenv("ARCHIVE_URL"),
		AuthMode:       strings.ToLower(or(getenv("AUTH_MODE"), "apikey")),
		Port:           getenv("PORT"),
		LogLevel:       or(getenv("LOG_LEVEL"), "info"),
		LogFormat:      or(getenv("LOG_FORMAT"), "json"),
		Credentials: Credentials{
			WeBankAppID:     getenv("WEBANK_APP_ID"),
			WeBankSecret:    getenv("WEBANK_SECRET"),
			WeChatAppID:     getenv("WECHAT_APP_ID"),
			WeChatAppSecret: getenv("WECHAT_APP_SECRET"),
		},
	}
	for _, k := range strings.Split(getenv("API_KEYS"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.APIKeys = append(c.APIKeys, k)
		}
	}
	c.MetricsFormat = strings.ToLower(getenv("METRICS_FORMAT"))
	if c.MetricsFormat == "" {
		c.MetricsFormat = "json"
		if getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
			c.MetricsFormat = "emf"
		}
	}
	if c.MetricsFormat != "json" && c.MetricsFormat != "emf" {
		return c, fmt.Errorf("config: METRICS_FORMAT must be json or emf")
	}
	if v := strings.TrimSpace(getenv("DAILY_QUOTA_WECHAT")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("config: DAILY_QUOTA_WECHAT must be a whole number of calls (0: no limit)")
		}
		c.DailyQuotaWeChat = n
	}
	c.MaxLargeRequests = 4
	if v := strings.TrimSpace(getenv("MAX_LARGE_REQUESTS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("config: MAX_LARGE_REQUESTS must be a whole number (0: no bound)")
		}
		c.MaxLargeRequests = n
	}
	var err error
	if c.RefreshInterval, err = duration(getenv, "TICKET_REFRESH_INTERVAL", 20*time.Minute); err != nil {
		return c, err
	}
	if c.CacheTTL, err = duration(getenv, "TICKET_CACHE_TTL", 30*time.Second); err != nil {
		return c, err
	}
	if c.RequestTimeout, err = duration(getenv, "REQUEST_TIMEOUT", 30*time.Second); err != nil {
		return c, err
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, fmt.Errorf("config: LOG_FORMAT must be json or text")
	}
	if c.AuthMode != "apikey" && c.AuthMode != "none" {
		return c, fmt.Errorf("config: AUTH_MODE must be apikey or none")
	}
	return c, nil
}

// CheckAPI verifies what an HTTP function needs.
func (c *Config) CheckAPI() error {
	if c.AuthMode == "apikey" && len(c.APIKeys) == 0 {
		return errors.New("config: API_KEYS is empty and AUTH_MODE is apikey: no request could be authorized")
	}
	if c.TicketStoreURL == "" {
		return errors.New("config: TICKET_STORE_URL is not set")
	}
	return nil
}

// LoadCredentials fills what the environment did not set from the
// credentials secret, when CREDENTIALS_URL is set. needSecret says whether
// the caller fetches tokens (only the refresher does).
func (c *Config) LoadCredentials(ctx context.Context, needSecret bool) error {
	// The secret fills whatever the environment left empty (WeChat
	// credentials may live only there even when WeBank's are in the env).
	// Reading it can fail startup only when what this function needs is
	// still missing: otherwise the optional WeChat provider stays off.
	cr := c.Credentials
	haveRequired := cr.WeBankAppID != "" && (!needSecret || cr.WeBankSecret != "")
	complete := cr.WeBankAppID != "" && cr.WeBankSecret != "" && cr.WeChatAppID != "" && cr.WeChatAppSecret != ""
	if !complete && c.CredentialsURL != "" {
		stored, err := c.readCredentials(ctx)
		if err != nil && !haveRequired {
			return err
		}
		c.Credentials.WeBankAppID = or(c.Credentials.WeBankAppID, stored.WeBankAppID)
		c.Credentials.WeBankSecret = or(c.Credentials.WeBankSecret, stored.WeBankSecret)
		c.Credentials.WeChatAppID = or(c.Credentials.WeChatAppID, stored.WeChatAppID)
		c.Credentials.WeChatAppSecret = or(c.Credentials.WeChatAppSecret, stored.WeChatAppSecret)
	}
	if c.Credentials.WeBankAppID == "" {
		return errors.New("config: no WeBank app id (WEBANK_APP_ID or the credentials secret)")
	}
	if needSecret && c.Credentials.WeBankSecret == "" {
		return errors.New("config: no WeBank secret (WEBANK_SECRET or the credentials secret)")
	}
	return nil
}

func (c *Config) readCredentials(ctx context.Context) (Credentials, error) {
	st, err := secretstore.Open(ctx, c.CredentialsURL)
	if err != nil {
		return Credentials{}, fmt.Errorf("config: credentials store: %w", err)
	}
	b, err := st.Get(ctx)
	if err != nil {
		return Credentials{}, fmt.Errorf("config: read credentials: %w", err)
	}
	var stored Credentials
	if err := json.Unmarshal(b, &stored); err != nil {
		return Credentials{}, errors.New("config: the credentials secret is not valid JSON")
	}
	return stored, nil
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func duration(getenv func(string) string, key string, def time.Duration) (time.Duration, error) {
	v := getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("config: %s must be a positive duration such as 20m", key)
	}
	return d, nil
}
