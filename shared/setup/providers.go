package setup

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/providers"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

// deps is what a provider may be built from.
type deps struct {
	cfg    config.Config
	hc     *http.Client
	reader *tickets.Reader   // the WeBank pair
	store  secretstore.Store // the tickets document (other members)
	log    *slog.Logger
	creds  *CredentialSource // the credentials secret, read again when due; nil: the startup values
}

// Providers builds every registered provider for cfg.
func Providers(cfg config.Config, hc *http.Client, reader *tickets.Reader, store secretstore.Store, log *slog.Logger) (map[string]ocr.Provider, error) {
	return buildProviders(deps{cfg: cfg, hc: hc, reader: reader, store: store, log: log})
}

// envOf is cfg's environment ("" for a configuration made in code).
func envOf(cfg config.Config) func(string) string {
	if cfg.Getenv != nil {
		return cfg.Getenv
	}
	return func(string) string { return "" }
}

// Settings reads d's settings from cfg's environment (nil: it has none).
func Settings(cfg config.Config, d providers.Descriptor) (any, error) {
	if d.Settings == nil {
		return nil, nil
	}
	s := d.Settings()
	if err := config.ReadSettings(envOf(cfg), s); err != nil {
		return nil, fmt.Errorf("setup: provider %s: %w", d.Name, err)
	}
	return s, nil
}

// env is what d is built from.
func (d deps) env(desc providers.Descriptor) (providers.Env, error) {
	s, err := Settings(d.cfg, desc)
	if err != nil {
		return providers.Env{}, err
	}
	cr := d.cfg.Credentials
	e := providers.Env{Settings: s, Secret: cr.Get, HTTPClient: d.hc, Store: d.store, Logger: d.log}
	if d.reader != nil {
		e.Tickets = d.reader
	}
	if d.creds != nil {
		e.Current = func(key string) string {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := d.creds.Get(ctx)
			if err != nil {
				return cr.Get(key)
			}
			return got.Get(key)
		}
		e.Rejected = d.creds.Invalidate
	}
	return e, nil
}

func buildProviders(d deps) (map[string]ocr.Provider, error) {
	all := providers.All()
	out := make(map[string]ocr.Provider, len(all))
	for _, desc := range all {
		e, err := d.env(desc)
		if err != nil {
			return nil, err
		}
		p, err := desc.Build(e)
		if err != nil {
			return nil, fmt.Errorf("setup: provider %s: %w", desc.Name, err)
		}
		out[desc.Name] = p
	}
	return out, nil
}

// WeBank returns the WeBank client for cfg (the tickets' provider: the
// refresher, the /healthz check and resultfetch use it directly). Its
// settings are checked by checkWeBank at startup.
func WeBank(cfg config.Config, hc *http.Client) *webank.Client {
	s := webank.Settings{BaseURL: webank.DefaultBaseURL}
	_ = config.ReadSettings(envOf(cfg), &s)
	return webank.NewClient(s, cfg.Credentials.WeBankAppID, cfg.Credentials.WeBankSecret, hc)
}

// checkWeBank refuses WeBank settings that cannot work (the functions that
// build no provider, the refresher and resultfetch, check them here).
func checkWeBank(cfg config.Config) error {
	_, err := Settings(cfg, webank.Descriptor)
	return err
}

// keepers builds the refresher members of the registered providers,
// attached to r.
func keepers(d deps, r *tickets.Refresher) ([]tickets.Member, error) {
	var out []tickets.Member
	for _, desc := range providers.All() {
		if desc.Keeper == nil {
			continue
		}
		e, err := d.env(desc)
		if err != nil {
			return nil, err
		}
		k := desc.Keeper(e)
		if k == nil {
			continue
		}
		m, ok := k.(tickets.Member)
		if !ok {
			return nil, fmt.Errorf("setup: provider %s: its keeper is not a tickets.Member", desc.Name)
		}
		if a, ok := k.(interface{ Attach(*tickets.Refresher) }); ok {
			a.Attach(r)
		}
		out = append(out, m)
	}
	return out, nil
}

// forcer is a keeper an operator may force.
type forcer interface {
	providers.Keeper
	Force(ctx context.Context) error
}

// envSecrets sets the registered providers' credentials their environment
// variables give (the environment wins over the secret).
func envSecrets(cfg *config.Config) {
	get := envOf(*cfg)
	for _, d := range providers.All() {
		for _, s := range d.Secrets {
			if v := get(s.Env); v != "" {
				cfg.Credentials.Set(s.Key, v)
			}
		}
	}
}

// credentialsComplete reports whether the environment set every member the
// registered providers read (then the secret need not be read).
func credentialsComplete(c config.Credentials) bool {
	if !c.Complete() {
		return false
	}
	for _, d := range providers.All() {
		for _, s := range d.Secrets {
			if c.Get(s.Key) == "" {
				return false
			}
		}
	}
	return true
}
