package config

import (
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
