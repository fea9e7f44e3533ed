package setup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/config"
)

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "cred.json")
	os.WriteFile(p, []byte(`{"webankAppId":"IDA1","webankSecret":"stored-secret","wechatAppId":"wx1"}`), 0o600)
	c, _ := config.FromEnv(getenv(map[string]string{"CREDENTIALS_URL": "file://" + p, "WEBANK_APP_ID": "IDAENV"}))
	if err := LoadCredentials(context.Background(), &c, true); err != nil {
		t.Fatal(err)
	}
	if c.Credentials.WeBankAppID != "IDAENV" || c.Credentials.WeBankSecret != "stored-secret" || c.Credentials.WeChatAppID != "wx1" {
		t.Errorf("%+v", c.Credentials.WeBankAppID)
	}
	// WeBank fully in the environment: WeChat still comes from the secret.
	c, _ = config.FromEnv(getenv(map[string]string{"CREDENTIALS_URL": "file://" + p, "WEBANK_APP_ID": "IDAENV", "WEBANK_SECRET": "env-secret"}))
	if err := LoadCredentials(context.Background(), &c, true); err != nil || c.Credentials.WeChatAppID != "wx1" || c.Credentials.WeBankSecret != "env-secret" {
		t.Errorf("WeChat credentials from the secret lost: %v", err)
	}
	os.WriteFile(p, []byte(`not json stored-secret`), 0o600)
	c, _ = config.FromEnv(getenv(map[string]string{"CREDENTIALS_URL": "file://" + p}))
	err := LoadCredentials(context.Background(), &c, true)
	if err == nil || strings.Contains(err.Error(), "stored-secret") {
		t.Errorf("bad secret: %v", err)
	}
	// WeBank in the environment and no credentials secret yet: fine.
	c, _ = config.FromEnv(getenv(map[string]string{"CREDENTIALS_URL": "file://" + filepath.Join(dir, "missing.json"), "WEBANK_APP_ID": "IDA1", "WEBANK_SECRET": "s"}))
	if err := LoadCredentials(context.Background(), &c, true); err != nil {
		t.Errorf("missing optional secret: %v", err)
	}
	c, _ = config.FromEnv(getenv(map[string]string{"WEBANK_APP_ID": "IDA1"}))
	if err := LoadCredentials(context.Background(), &c, false); err != nil {
		t.Errorf("readers need no secret: %v", err)
	}
	if err := LoadCredentials(context.Background(), &c, true); err == nil {
		t.Error("refresher without secret accepted")
	}
}
