package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/secretstore"
)

// LoadCredentials fills what the environment did not set from the
// credentials secret, when CREDENTIALS_URL is set. needSecret says whether
// the caller fetches tokens (only the refresher does).
func LoadCredentials(ctx context.Context, cfg *config.Config, needSecret bool) error {
	// The secret fills whatever the environment left empty (WeChat and
	// Tencent Cloud credentials may live only there even when WeBank's are
	// in the env). Reading it can fail startup only when what this function
	// needs is still missing: otherwise the optional providers stay off.
	cr := cfg.Credentials
	haveRequired := cr.WeBankAppID != "" && (!needSecret || cr.WeBankSecret != "")
	if !cr.Complete() && cfg.CredentialsURL != "" {
		stored, err := readCredentials(ctx, cfg.CredentialsURL)
		if err != nil && !haveRequired {
			return err
		}
		cfg.Credentials.Fill(stored)
	}
	if cfg.Credentials.WeBankAppID == "" {
		return errors.New("setup: no WeBank app id (WEBANK_APP_ID or the credentials secret)")
	}
	if needSecret && cfg.Credentials.WeBankSecret == "" {
		return errors.New("setup: no WeBank secret (WEBANK_SECRET or the credentials secret)")
	}
	return nil
}

func readCredentials(ctx context.Context, url string) (config.Credentials, error) {
	st, err := secretstore.Open(ctx, url)
	if err != nil {
		return config.Credentials{}, fmt.Errorf("setup: credentials store: %w", err)
	}
	b, err := st.Get(ctx)
	if err != nil {
		return config.Credentials{}, fmt.Errorf("setup: read credentials: %w", err)
	}
	var stored config.Credentials
	if err := json.Unmarshal(b, &stored); err != nil {
		return config.Credentials{}, errors.New("setup: the credentials secret is not valid JSON")
	}
	return stored, nil
}
