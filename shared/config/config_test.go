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
	if c.Getenv == nil || c.RefreshInterval != 20*time.Minute || c.CacheTTL != 5*time.Second ||
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

func TestPhotoLimits(t *testing.T) {
	c, err := FromEnv(getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.ImageFit || c.UploadMaxBytes != 20<<20 || c.SyncBodyLimit != 0 {
		t.Errorf("defaults: fit %v, upload max %d, sync limit %d", c.ImageFit, c.UploadMaxBytes, c.SyncBodyLimit)
	}
	for _, tc := range []struct {
		v    string
		want int64
	}{{"6291456", 6 << 20}, {"6MiB", 6 << 20}, {"6 MB", 6 << 20}, {"512kib", 512 << 10}, {"0", 0}} {
		c, err := FromEnv(getenv(map[string]string{"SYNC_BODY_LIMIT": tc.v, "IMAGE_FIT": "off"}))
		if err != nil || c.SyncBodyLimit != tc.want || c.ImageFit {
			t.Errorf("SYNC_BODY_LIMIT=%q: %d, %v (fit %v)", tc.v, c.SyncBodyLimit, err, c.ImageFit)
		}
	}
	for _, bad := range []map[string]string{{"SYNC_BODY_LIMIT": "6GB"}, {"UPLOAD_MAX_BYTES": "-1"}, {"IMAGE_FIT": "maybe"}, {"UPLOAD_MAX_BYTES": "lots"}} {
		if _, err := FromEnv(getenv(bad)); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
