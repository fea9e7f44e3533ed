package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

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
	envSecrets(cfg)
	cr := cfg.Credentials
	haveRequired := cr.WeBankAppID != "" && (!needSecret || cr.WeBankSecret != "")
	if !credentialsComplete(cr) && cfg.CredentialsURL != "" {
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

// DefaultCredentialsTTL bounds how long a warm instance trusts the
// credentials it read: a secret rotated in the store is used by the next
// run after at most this long, and at once after a run failed.
const DefaultCredentialsTTL = 5 * time.Minute

// CredentialSource reads the credentials secret again when what it holds
// is older than TTL, or after Invalidate (an upstream rejected them). The
// environment's values win over the secret's, as at startup.
type CredentialSource struct {
	URL string
	Env config.Credentials
	TTL time.Duration
	Now func() time.Time

	mu    sync.Mutex
	cur   config.Credentials
	at    time.Time
	dirty bool
}

// NewCredentialSource returns the source for cfg (CREDENTIALS_URL, the
// environment's credentials, CREDENTIALS_TTL).
func NewCredentialSource(cfg config.Config) *CredentialSource {
	envSecrets(&cfg)
	return &CredentialSource{URL: cfg.CredentialsURL, Env: cfg.Credentials, TTL: cfg.CredentialsTTL}
}

func (s *CredentialSource) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Get returns the credentials, read again when due. When the store cannot
// be read the last ones stay in use (an error only when there are none).
func (s *CredentialSource) Get(ctx context.Context) (config.Credentials, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ttl := s.TTL
	if ttl <= 0 {
		ttl = DefaultCredentialsTTL
	}
	if !s.at.IsZero() && !s.dirty && s.now().Sub(s.at) < ttl {
		return s.cur, nil
	}
	c := s.Env
	c.Extra = maps.Clone(c.Extra) // Fill must not write into Env's map
	if !credentialsComplete(c) && s.URL != "" {
		stored, err := readCredentials(ctx, s.URL)
		if err != nil {
			if !s.at.IsZero() {
				return s.cur, nil // keep what works; try again next time
			}
			if c.WeBankAppID == "" || c.WeBankSecret == "" {
				return c, err
			}
		}
		c.Fill(stored)
	}
	s.cur, s.at, s.dirty = c, s.now(), false
	return c, nil
}

// seed sets what was read at startup.
func (s *CredentialSource) seed(c config.Credentials) {
	s.mu.Lock()
	s.cur, s.at = c, s.now()
	s.mu.Unlock()
}

// Invalidate makes the next Get read the secret again.
func (s *CredentialSource) Invalidate() {
	s.mu.Lock()
	s.dirty = true
	s.mu.Unlock()
}
