// Package config reads the product's environment variables (the README's
// Configuration table) into one struct per feature. It does no I/O: the
// credentials secret is read by setup (setup.LoadCredentials). The
// platform's own variables are read where they are used: the runtime's
// (AWS_LAMBDA_RUNTIME_API, SCF_*, _LAMBDA_SERVER_PORT) by shared/platform,
// and the cloud credentials the runtime injects (AWS_ACCESS_KEY_ID…,
// TENCENTCLOUD_SECRETID…) by the store and archive backends and the
// tencentcloud provider, at every call, because they rotate. A provider's
// own settings are not here: setup reads them from its descriptor's struct
// with ReadSettings.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of a function or the local stack: one
// struct per feature, embedded so that their fields read as cfg.Field.
type Config struct {
	Providers
	TicketStore
	API
	Archive
	Logging
	Callbacks
}

// Callbacks configures the pushes of final orders (docs/callbacks.md).
type Callbacks struct {
	// CallbackURL receives every final order (CALLBACK_URL; https only;
	// empty: no callbacks). The secret is Credentials.CallbackSecret.
	CallbackURL string
	// CallbackQueueURL is the queue resultfetch reads, where deliveries
	// and their retries go (CALLBACK_QUEUE_URL: sqs://…, cmq://…).
	CallbackQueueURL string
	// CallbackBackoff is the first retry's wait, doubling up to 15
	// minutes, for 24 hours (CALLBACK_BACKOFF, default 10s).
	CallbackBackoff time.Duration
}

func (c *Callbacks) fromEnv(getenv func(string) string) error {
	c.CallbackURL = strings.TrimSpace(getenv("CALLBACK_URL"))
	c.CallbackQueueURL = strings.TrimSpace(getenv("CALLBACK_QUEUE_URL"))
	var err error
	c.CallbackBackoff, err = duration(getenv, "CALLBACK_BACKOFF", 10*time.Second)
	return err
}

// Providers configures what the OCR upstreams share: credentials, quotas,
// rates, fallback (each provider's own settings are its descriptor's).
type Providers struct {
	// Getenv reads the environment the configuration came from: each
	// provider's own settings (its base URL, its call rate…) are read
	// with it from its descriptor (ReadSettings), not named here.
	Getenv func(string) string `json:"-"`

	Credentials    Credentials
	CredentialsURL string // CREDENTIALS_URL: the secret Credentials come from
	// CredentialsTTL is how long a warm instance trusts the credentials it
	// read before reading the secret again (CREDENTIALS_TTL, default and
	// at most 5m): a rotated secret needs no cold start.
	CredentialsTTL time.Duration

	// QuotaStoreURL is where billable calls are counted, per tenant and
	// China day, by every instance (QUOTA_STORE_URL: file://, redis://,
	// dynamodb://TABLE); empty: not counted.
	QuotaStoreURL string
	// DailySpendCap is DAILY_SPEND_CAP: billable calls per China day for
	// the whole deployment (0: none).
	DailySpendCap int64
	// ConcurrencyCap is CONCURRENCY_CAP: the most instances of the API
	// function the platform runs at once (the templates set it beside the
	// reserved concurrency). Each instance paces itself to the providers'
	// rates divided by it; 0: unknown, each instance takes the whole rate.
	ConcurrencyCap int
	// SuspendFor is how long an account-level error suspends a provider
	// for every instance (PROVIDER_SUSPEND_FOR, default 5m).
	SuspendFor time.Duration
	// Fallback is the provider chain per kind ("idcard", "bankcard"):
	// PROVIDER_FALLBACK for both, PROVIDER_FALLBACK_IDCARD and
	// PROVIDER_FALLBACK_BANKCARD per route.
	Fallback map[string][]string
}

// TicketStore configures where the upstream tokens live and how they are
// refreshed and cached.
type TicketStore struct {
	TicketStoreURL string // TICKET_STORE_URL
	// RefresherURL names the refresher function an HTTP function asks to
	// run when the upstream rejects the stored pair (REFRESHER_URL:
	// lambda://<name>, scf://<name>?region=…; empty: nobody is asked).
	RefresherURL    string
	RefreshInterval time.Duration // TICKET_REFRESH_INTERVAL
	CacheTTL        time.Duration // TICKET_CACHE_TTL
}

// API configures the HTTP API.
type API struct {
	// TenantsURL is the tenants document's store (TENANTS_URL: awssm://,
	// tencentssm://, file://); empty: API_KEYS is tenant "default".
	TenantsURL string
	// TenantsTTL is how long an instance trusts the document it read
	// (TENANTS_CACHE_TTL, at most and by default 60s).
	TenantsTTL time.Duration
	APIKeys    []string // API_KEYS
	AuthMode   string   // AUTH_MODE: apikey | none
	Port       string   // PORT
	// RequestTimeout bounds each HTTP request where the platform gives no
	// deadline of its own (HTTP mode, the local stack).
	RequestTimeout time.Duration // REQUEST_TIMEOUT
	// MaxLargeRequests bounds the requests with a body over 1 MiB that one
	// instance handles at once (each costs about its image in memory);
	// beyond it: 429 busy with Retry-After. 0: no bound.
	MaxLargeRequests int // MAX_LARGE_REQUESTS
	// ImageFit fits a photo above the provider's byte limit instead of
	// refusing it (IMAGE_FIT, on by default): decoded, turned upright,
	// scaled down, sent as a JPEG of quality 90.
	ImageFit bool
	// UploadMaxBytes is the largest photo taken (UPLOAD_MAX_BYTES, default
	// 20 MiB): the bound of an upload form and of the images fitted.
	UploadMaxBytes int64
	// SyncBodyLimit is the largest request body the synchronous routes
	// read (SYNC_BODY_LIMIT; 0: no bound of its own). The platforms have
	// one (AWS Lambda: 6 MB for the whole event); the local stack sets 6
	// MB so that a developer meets it too. Larger photos take the upload
	// route.
	SyncBodyLimit int64
}

// Archive configures the evidence archive.
type Archive struct {
	ArchiveURL string // ARCHIVE_URL
	// AuditSalt keys the order hashes in erasure audit records
	// (AUDIT_SALT); empty: a salt kept in the archive under _audit/salt.
	AuditSalt string
	// RetentionDays is how long evidence is kept (RETENTION_DAYS, default
	// 180); AuditRetentionDays the erasure records (AUDIT_RETENTION_DAYS,
	// default 1096). The clouds enforce them by lifecycle rules, the local
	// stack by a sweep.
	RetentionDays, AuditRetentionDays int
	// Evidence (EVIDENCE=on) archives, at submit, the results of providers
	// that keep none (wechat, tencentcloud), so that their orders can be
	// queried; off (the default outside make run): such a query is a 404.
	Evidence bool
}

// Logging configures logs and metrics.
type Logging struct {
	LogLevel string // LOG_LEVEL
	// LogFormat: "json" (the functions' default: log services parse it)
	// or "text" (aligned key=value lines; the local stack's default).
	LogFormat string // LOG_FORMAT
	// MetricsFormat is how call counters are logged: "emf" (CloudWatch
	// embedded metric format, the default on AWS Lambda) or "json";
	// METRICS_FORMAT overrides.
	MetricsFormat string
	// MetricsNamespace is the CloudWatch namespace of the EMF metrics
	// (METRICS_NAMESPACE, default "cardocr"): template.yaml sets one per
	// stack, so that two stacks in an account and their alarms stay apart.
	MetricsNamespace string
}

// Credentials are the upstream credentials. The functions read them from
// the credentials secret; the environment overrides (local use, tests).
type Credentials struct {
	WeBankAppID     string `json:"webankAppId"`
	WeBankSecret    string `json:"webankSecret"`
	WeChatAppID     string `json:"wechatAppId,omitempty"`
	WeChatAppSecret string `json:"wechatAppSecret,omitempty"`
	// TencentCloudSecretID and TencentCloudSecretKey are an API key pair
	// for Tencent Cloud OCR. Without them the tencentcloud provider uses
	// the SCF role's temporary credentials (TENCENTCLOUD_SECRETID…).
	TencentCloudSecretID  string `json:"tencentcloudSecretId,omitempty"`
	TencentCloudSecretKey string `json:"tencentcloudSecretKey,omitempty"`
	// CallbackSecret signs callbacks (Cardocr-Signature); CALLBACK_SECRET
	// overrides.
	CallbackSecret string `json:"callbackSecret,omitempty"`
	// Extra holds the secret's other members: those of providers config
	// does not name (each declares its own, providers.Descriptor.Secrets).
	Extra map[string]string `json:"-"`
}

// Get returns the member key (a JSON name, such as "wechatAppId").
func (c Credentials) Get(key string) string {
	if f := c.field(key); f != nil {
		return *f
	}
	return c.Extra[key]
}

// Set sets the member key.
func (c *Credentials) Set(key, v string) {
	if f := c.field(key); f != nil {
		*f = v
		return
	}
	if c.Extra == nil {
		c.Extra = map[string]string{}
	}
	c.Extra[key] = v
}

func (c *Credentials) field(key string) *string {
	switch key {
	case "webankAppId":
		return &c.WeBankAppID
	case "webankSecret":
		return &c.WeBankSecret
	case "wechatAppId":
		return &c.WeChatAppID
	case "wechatAppSecret":
		return &c.WeChatAppSecret
	case "tencentcloudSecretId":
		return &c.TencentCloudSecretID
	case "tencentcloudSecretKey":
		return &c.TencentCloudSecretKey
	case "callbackSecret":
		return &c.CallbackSecret
	}
	return nil
}

// UnmarshalJSON reads the named members and keeps every other string
// member in Extra.
func (c *Credentials) UnmarshalJSON(b []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return err
	}
	*c = Credentials{}
	for k, raw := range all {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			if c.field(k) != nil {
				return fmt.Errorf("config: credentials member %q is not a string", k)
			}
			continue
		}
		c.Set(k, v)
	}
	return nil
}

// MarshalJSON writes the named members and Extra's.
func (c Credentials) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, 7+len(c.Extra))
	for k, v := range c.Extra {
		m[k] = v
	}
	for _, k := range []string{"webankAppId", "webankSecret", "wechatAppId", "wechatAppSecret", "tencentcloudSecretId", "tencentcloudSecretKey", "callbackSecret"} {
		if v := c.Get(k); v != "" || k == "webankAppId" || k == "webankSecret" {
			m[k] = v
		}
	}
	return json.Marshal(m)
}

// Equal reports whether c and o hold the same members.
func (c Credentials) Equal(o Credentials) bool {
	e1, e2 := c.Extra, o.Extra
	if c.WeBankAppID != o.WeBankAppID || c.WeBankSecret != o.WeBankSecret || c.WeChatAppID != o.WeChatAppID ||
		c.WeChatAppSecret != o.WeChatAppSecret || c.TencentCloudSecretID != o.TencentCloudSecretID ||
		c.TencentCloudSecretKey != o.TencentCloudSecretKey || c.CallbackSecret != o.CallbackSecret || len(e1) != len(e2) {
		return false
	}
	for k, v := range e1 {
		if w, ok := e2[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Fill sets what c lacks from other (the environment wins over the secret).
func (c *Credentials) Fill(other Credentials) {
	c.WeBankAppID = or(c.WeBankAppID, other.WeBankAppID)
	c.WeBankSecret = or(c.WeBankSecret, other.WeBankSecret)
	c.WeChatAppID = or(c.WeChatAppID, other.WeChatAppID)
	c.WeChatAppSecret = or(c.WeChatAppSecret, other.WeChatAppSecret)
	c.CallbackSecret = or(c.CallbackSecret, other.CallbackSecret)
	if c.TencentCloudSecretID == "" && c.TencentCloudSecretKey == "" {
		c.TencentCloudSecretID, c.TencentCloudSecretKey = other.TencentCloudSecretID, other.TencentCloudSecretKey
	}
	for k, v := range other.Extra {
		if c.Extra[k] == "" {
			c.Set(k, v)
		}
	}
}

// Complete reports whether every credential is set (no secret to read).
func (c Credentials) Complete() bool {
	return c.WeBankAppID != "" && c.WeBankSecret != "" && c.WeChatAppID != "" && c.WeChatAppSecret != "" &&
		c.TencentCloudSecretID != "" && c.TencentCloudSecretKey != ""
}

// FromEnv reads the configuration. getenv is os.Getenv in production.
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	for _, read := range []func(func(string) string) error{
		c.Providers.fromEnv, c.TicketStore.fromEnv, c.API.fromEnv, c.Archive.fromEnv, c.Logging.fromEnv, c.Callbacks.fromEnv,
	} {
		if err := read(getenv); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (p *Providers) fromEnv(getenv func(string) string) error {
	p.Getenv = getenv
	p.CredentialsURL = getenv("CREDENTIALS_URL")
	var err error
	if p.CredentialsTTL, err = duration(getenv, "CREDENTIALS_TTL", 5*time.Minute); err != nil {
		return err
	}
	if p.CredentialsTTL > 5*time.Minute {
		return fmt.Errorf("config: CREDENTIALS_TTL is at most 5m")
	}
	p.Credentials = Credentials{
		WeBankAppID:           getenv("WEBANK_APP_ID"),
		WeBankSecret:          getenv("WEBANK_SECRET"),
		WeChatAppID:           getenv("WECHAT_APP_ID"),
		WeChatAppSecret:       getenv("WECHAT_APP_SECRET"),
		CallbackSecret:        getenv("CALLBACK_SECRET"),
		TencentCloudSecretID:  getenv("TENCENTCLOUD_OCR_SECRET_ID"),
		TencentCloudSecretKey: getenv("TENCENTCLOUD_OCR_SECRET_KEY"),
	}
	if v := strings.TrimSpace(getenv("CONCURRENCY_CAP")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("config: CONCURRENCY_CAP must be a whole number of instances (0: unknown)")
		}
		p.ConcurrencyCap = n
	}
	var serr error
	if p.SuspendFor, serr = duration(getenv, "PROVIDER_SUSPEND_FOR", 5*time.Minute); serr != nil {
		return serr
	}
	p.QuotaStoreURL = getenv("QUOTA_STORE_URL")
	if strings.EqualFold(p.QuotaStoreURL, "off") {
		p.QuotaStoreURL = ""
	}
	if v := strings.TrimSpace(getenv("DAILY_SPEND_CAP")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("config: DAILY_SPEND_CAP must be a whole number of calls (0: no cap)")
		}
		p.DailySpendCap = n
	}
	all, err := chain(getenv, "PROVIDER_FALLBACK")
	if err != nil {
		return err
	}
	for kind, key := range map[string]string{"idcard": "PROVIDER_FALLBACK_IDCARD", "bankcard": "PROVIDER_FALLBACK_BANKCARD"} {
		c, err := chain(getenv, key)
		if err != nil {
			return err
		}
		if c == nil {
			c = all
		}
		if c != nil {
			if p.Fallback == nil {
				p.Fallback = map[string][]string{}
			}
			p.Fallback[kind] = c
		}
	}
	return nil
}

// chain parses a comma-separated provider list: distinct names (which
// ones exist is the provider registry's to say: setup checks them).
func chain(getenv func(string) string, key string) ([]string, error) {
	v := strings.TrimSpace(getenv(key))
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, n := range strings.Split(v, ",") {
		n = strings.ToLower(strings.TrimSpace(n))
		if n == "" || slices.Contains(out, n) {
			return nil, fmt.Errorf("config: %s must list distinct provider names, such as webank,tencentcloud", key)
		}
		out = append(out, n)
	}
	return out, nil
}

func (t *TicketStore) fromEnv(getenv func(string) string) error {
	t.TicketStoreURL = getenv("TICKET_STORE_URL")
	t.RefresherURL = getenv("REFRESHER_URL")
	var err error
	if t.RefreshInterval, err = duration(getenv, "TICKET_REFRESH_INTERVAL", 20*time.Minute); err != nil {
		return err
	}
	t.CacheTTL, err = duration(getenv, "TICKET_CACHE_TTL", 30*time.Second)
	return err
}

func (a *API) fromEnv(getenv func(string) string) error {
	a.AuthMode = strings.ToLower(or(getenv("AUTH_MODE"), "apikey"))
	a.TenantsURL = getenv("TENANTS_URL")
	var terr error
	if a.TenantsTTL, terr = duration(getenv, "TENANTS_CACHE_TTL", time.Minute); terr != nil {
		return terr
	}
	if a.TenantsTTL > time.Minute {
		return fmt.Errorf("config: TENANTS_CACHE_TTL is at most 60s (a revoked key must stop working within a minute)")
	}
	a.Port = getenv("PORT")
	for _, k := range strings.Split(getenv("API_KEYS"), ",") {
		if k = strings.TrimSpace(k); k != "" {
			a.APIKeys = append(a.APIKeys, k)
		}
	}
	a.MaxLargeRequests = 4
	if v := strings.TrimSpace(getenv("MAX_LARGE_REQUESTS")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("config: MAX_LARGE_REQUESTS must be a whole number (0: no bound)")
		}
		a.MaxLargeRequests = n
	}
	var err error
	if a.RequestTimeout, err = duration(getenv, "REQUEST_TIMEOUT", 30*time.Second); err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(getenv("IMAGE_FIT"))) {
	case "", "on", "true", "1":
		a.ImageFit = true
	case "off", "false", "0":
	default:
		return fmt.Errorf("config: IMAGE_FIT must be on or off")
	}
	if a.UploadMaxBytes, err = byteCount(getenv, "UPLOAD_MAX_BYTES", 20<<20); err != nil {
		return err
	}
	if a.SyncBodyLimit, err = byteCount(getenv, "SYNC_BODY_LIMIT", 0); err != nil {
		return err
	}
	if a.AuthMode != "apikey" && a.AuthMode != "none" {
		return fmt.Errorf("config: AUTH_MODE must be apikey or none")
	}
	return nil
}

func (a *Archive) fromEnv(getenv func(string) string) error {
	a.ArchiveURL = getenv("ARCHIVE_URL")
	a.AuditSalt = getenv("AUDIT_SALT")
	switch strings.ToLower(strings.TrimSpace(getenv("EVIDENCE"))) {
	case "", "off", "false", "0":
	case "on", "true", "1":
		a.Evidence = true
	default:
		return fmt.Errorf("config: EVIDENCE must be on or off")
	}
	var err error
	if a.RetentionDays, err = days(getenv, "RETENTION_DAYS", 180); err != nil {
		return err
	}
	a.AuditRetentionDays, err = days(getenv, "AUDIT_RETENTION_DAYS", 1096)
	return err
}

func days(getenv func(string) string, key string, def int) (int, error) {
	v := strings.TrimSpace(getenv(key))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 3650 {
		return 0, fmt.Errorf("config: %s must be a number of days from 1 to 3650", key)
	}
	return n, nil
}

func (l *Logging) fromEnv(getenv func(string) string) error {
	l.LogLevel = or(getenv("LOG_LEVEL"), "info")
	l.LogFormat = or(getenv("LOG_FORMAT"), "json")
	l.MetricsNamespace = or(getenv("METRICS_NAMESPACE"), "cardocr")
	l.MetricsFormat = strings.ToLower(getenv("METRICS_FORMAT"))
	if l.MetricsFormat == "" {
		l.MetricsFormat = "json"
		if getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
			l.MetricsFormat = "emf"
		}
	}
	if l.MetricsFormat != "json" && l.MetricsFormat != "emf" {
		return fmt.Errorf("config: METRICS_FORMAT must be json or emf")
	}
	if l.LogFormat != "json" && l.LogFormat != "text" {
		return fmt.Errorf("config: LOG_FORMAT must be json or text")
	}
	return nil
}

// CheckAPI verifies what an HTTP function needs.
func (c *Config) CheckAPI() error {
	if c.AuthMode == "apikey" && len(c.APIKeys) == 0 && c.TenantsURL == "" {
		return errors.New("config: neither TENANTS_URL nor API_KEYS is set and AUTH_MODE is apikey: no request could be authorized")
	}
	if c.TicketStoreURL == "" {
		return errors.New("config: TICKET_STORE_URL is not set")
	}
	return nil
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

// byteCount reads a byte count: digits, or digits with KiB, MiB (or KB,
// MB: the same binary units, as the platforms' limits are written).
func byteCount(getenv func(string) string, name string, def int64) (int64, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		n      int64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"KB", 1 << 10}, {"MB", 1 << 20}} {
		if rest, ok := strings.CutSuffix(strings.ToUpper(v), u.suffix); ok {
			v, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > 1<<40/mult {
		return 0, fmt.Errorf("config: %s must be a byte count (e.g. 6291456 or 6MiB)", name)
	}
	return n * mult, nil
}
