package setup

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/providers"
	"github.com/cardocr/cardocr/shared/tickets"
)

// The registry builds every provider; those without credentials are known
// but nil, and PROVIDER_FALLBACK may name only configured ones.
func TestProvidersAndFallbackCheck(t *testing.T) {
	cfg, err := config.FromEnv(getenv(map[string]string{"WEBANK_APP_ID": "IDA1", "PROVIDER_FALLBACK": "webank,tencentcloud"}))
	if err != nil {
		t.Fatal(err)
	}
	ps, err := Providers(cfg, &http.Client{}, &tickets.Reader{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ps["webank"] == nil || ps["wechat"] != nil || len(ps) != len(providers.Names()) {
		t.Fatalf("providers %v", ps)
	}
	if _, known := ps["tencentcloud"]; !known {
		t.Fatal("tencentcloud not registered")
	}
	if ps["tencentcloud"] != nil && (cfg.Credentials.TencentCloudSecretID == "") {
		t.Skip("the environment has SCF role credentials")
	}
	if err := checkFallback(cfg, ps); err == nil || !strings.Contains(err.Error(), "no credentials") {
		t.Errorf("unconfigured: %v", err)
	}
	cfg.Credentials.TencentCloudSecretID, cfg.Credentials.TencentCloudSecretKey = "id", "key"
	ps2, err := Providers(cfg, &http.Client{}, &tickets.Reader{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkFallback(cfg, ps2); err != nil {
		t.Errorf("configured: %v", err)
	}
	cfg.Fallback = map[string][]string{"idcard": {"webank", "nosuch"}}
	if err := checkFallback(cfg, ps); err == nil || !strings.Contains(err.Error(), "the providers are "+strings.Join(providers.Names(), ", ")) {
		t.Errorf("unknown: %v", err)
	}
	if _, err := config.FromEnv(getenv(map[string]string{"PROVIDER_FALLBACK": "webank,webank"})); err == nil {
		t.Error("a repeated provider accepted")
	}
}

// The refresher builds no provider, but still refuses WeBank settings that
// cannot work, at startup.
func TestRefresherChecksWeBankSettings(t *testing.T) {
	env := map[string]string{"WEBANK_APP_ID": "IDA1", "WEBANK_SECRET": "s", "KYC_BASE_URL": "ftp://kyc.example",
		"TICKET_STORE_URL": "file://" + t.TempDir() + "/tickets.json"}
	cfg, err := config.FromEnv(getenv(env))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Refresher(t.Context(), cfg, nil); err == nil || !strings.Contains(err.Error(), "KYC_BASE_URL") {
		t.Errorf("Refresher: %v", err)
	}
}
