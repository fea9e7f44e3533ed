package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnvDefaultsAndParsing(t *testing.T) {
	c, err := FromEnv(getenv(map[string]string{"API_KEYS": " a, b ,,", "TICKET_CACHE_TTL": "5s"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.KYCBaseURL != DefaultKYCBaseURL || c.RefreshInterval != 20*time.Minute || c.CacheTTL != 5*time.Second ||
		c.AuthMode != "apikey" || len(c.APIKeys) != 2 || c.APIKeys[1] != "b" {
		t.Errorf("%+v", c)
	}
	for _, bad := range []map[string]string{
		{"TICKET_REFRESH_INTERVAL": "soon"},
		{"TICKET_CACHE_TTL": "-1s"},
		{"AUTH_MODE": "oauth"},
	} {
		if _, err := FromEnv(getenv(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestCheckAPI(t *testing.T) {
	c, _ := FromEnv(getenv(map[string]string{"TICKET_STORE_URL": "file:///x"}))
	if c.CheckAPI() == nil {
		t.Error("apikey mode without keys accepted")
	}
	c.AuthMode = "none"
	if err := c.CheckAPI(); err != nil {
		t.Error(err)
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cred.json")
	os.WriteFile(p, []byte(`{"webankAppId":"IDA1","webankSecret":"stored-secret","wechatAppId":"wx1"}`), 0o600)
	c, _ := FromEnv(getenv(map[string]string{"CREDENTIALS_URL": "file://" + p, "WEBANK_APP_ID": "IDAENV"}))
	if err := c.LoadCredentials(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	if c.Credentials.WeBankAppID != "IDAENV" || c.Credentials.WeBankSecret != "stored-secret" || c.Credentials.WeChatAppID != "wx1" {
		t.Errorf("%+v", c.Credentials.WeBankAppID)
	}
	// WeBank fully in the environment: WeChat still comes from the secret.
	c, _ = FromEnv(getenv(map[string]string{"CREDENTIALS_URL": "file://" + p, "WEBANK_APP_ID": "IDAENV", "WEBANK_SECRET": "env-secret"}))
	if err := c.LoadCredentials(context.Background(), true); err != nil || c.Credentials.WeChatAppID != "wx1" || c.Credentials.WeBankSecret != "env-secret" {
		t.Errorf("WeChat credentials from the secret lost: %v", err)
	}
	os.WriteFile(p, []byte(`not json stored-secret`), 0o600)
	c, _ = FromEnv(getenv(map[string]string{"CREDENTIALS_URL": "file://" + p}))
	err := c.LoadCredentials(context.Background(), true)
	if err == nil || contains(err.Error(), "stored-secret") {
		t.Errorf("bad secret: %v", err)
	}
	// WeBank in the environment and no credentials secret yet: fine.
	c, _ = FromEnv(getenv(map[string]string{"CREDENTIALS_URL": "file://" + filepath.Join(dir, "missing.json"), "WEBANK_APP_ID": "IDA1", "WEBANK_SECRET": "s"}))
	if err := c.LoadCredentials(context.Background(), true); err != nil {
		t.Errorf("missing optional secret: %v", err)
	}
	c, _ = FromEnv(getenv(map[string]string{"WEBANK_APP_ID": "IDA1"}))
	if err := c.LoadCredentials(context.Background(), false); err != nil {
		t.Errorf("readers need no secret: %v", err)
	}
	if err := c.LoadCredentials(context.Background(), true); err == nil {
		t.Error("refresher without secret accepted")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
