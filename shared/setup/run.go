package setup

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/cardocr/cardocr/shared/buildinfo"
	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/platform"
	"github.com/cardocr/cardocr/shared/providers"
	"github.com/cardocr/cardocr/shared/tickets"
)

// keeperOf is the refresher member that keeps name's token, or nil.
func keeperOf(r *tickets.Refresher, name string) forcer {
	for _, m := range r.Members {
		if k, ok := m.(forcer); ok && k.Name() == name {
			return k
		}
	}
	return nil
}

// Builder makes a function from its configuration.
type Builder func(ctx context.Context, cfg config.Config, log *slog.Logger) (platform.Function, error)

// Main is the whole of a function's main: read the environment, build the
// function, and serve it on whatever platform the environment names. A
// configuration error exits non-zero with one log line (no values).
func Main(name string, build Builder) {
	if len(os.Args) == 2 && (os.Args[1] == "-version" || os.Args[1] == "--version") {
		fmt.Println(name, buildinfo.String())
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	cfg, err := config.FromEnv(os.Getenv)
	log := Logger(cfg, os.Stdout).With("function", name)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	fn, err := build(ctx, cfg, log)
	if err != nil {
		log.Error("startup", "err", err)
		os.Exit(1)
	}
	fn.Name, fn.Logger = name, log
	if err := platform.Run(ctx, fn); err != nil {
		log.Error("platform", "err", err)
		os.Exit(1)
	}
}

// APIFunction serves the HTTP API (every HTTP function: the gateway routes
// each path to its function).
func APIFunction(ctx context.Context, cfg config.Config, log *slog.Logger) (platform.Function, error) {
	return APIFunctionWith()(ctx, cfg, log)
}

// APIFunctionWith is APIFunction with options: the submitting functions'
// mains pass the image fitter (WithFitter), so that only they link the
// image decoders.
func APIFunctionWith(opts ...APIOption) Builder {
	return func(ctx context.Context, cfg config.Config, log *slog.Logger) (platform.Function, error) {
		h, _, err := API(ctx, cfg, log, opts...)
		return platform.Function{HTTP: h}, err
	}
}

// RefreshFunction runs one refresh per event, whatever the event (an
// EventBridge rule or Scheduler event, or an SCF timer).
//
// The credentials are read again when older than CREDENTIALS_TTL and after
// a failed run (a rotated WeBank or WeChat secret is used without a cold
// start); the clients are rebuilt only when they changed.
func RefreshFunction(ctx context.Context, cfg config.Config, log *slog.Logger) (platform.Function, error) {
	src := NewCredentialSource(cfg)
	creds, err := src.Get(ctx)
	if err != nil {
		return platform.Function{}, err
	}
	cfg.Credentials = creds
	r, err := Refresher(ctx, cfg, log)
	if err != nil {
		return platform.Function{}, err
	}
	rotate := func(ctx context.Context) {
		c, err := src.Get(ctx)
		if err != nil || c.Equal(cfg.Credentials) || c.WeBankAppID == "" || c.WeBankSecret == "" {
			return
		}
		cfg.Credentials = c
		hc := HTTPClient()
		r.WeBank = WeBank(cfg, hc)
		// The other members are built again from the new credentials (a
		// keeper holds no state of its own: its token is in the document).
		ks, err := keepers(deps{cfg: cfg, hc: hc, store: r.Store, log: log}, r)
		if err != nil {
			log.WarnContext(ctx, "credentials changed in the store; keepers not rebuilt", "error", err)
			return
		}
		r.Members = ks
		log.InfoContext(ctx, "credentials changed in the store; the refresher uses the new ones")
	}
	return platform.Function{Event: func(ctx context.Context, ev json.RawMessage) (_ any, err error) {
		rotate(ctx)
		defer func() {
			if err != nil {
				src.Invalidate() // a rejected secret is read again at once
			}
		}()
		// {"force":true} (a manual invoke after rotating the WeBank
		// secret) replaces a pair that still looks fresh.
		var in struct {
			Force bool `json:"force"`
			// {"cause":"rejected-on-request"}: an HTTP function saw the
			// upstream reject the stored pair (tickets.Reader.Kick).
			Cause string `json:"cause"`
		}
		_ = json.Unmarshal(ev, &in)
		// {"<provider>ForceRefresh":true}, such as wechatForceRefresh: an
		// operator saw 40001 on the token WeChat still hands out (see
		// wechat.TokenKeeper.Force).
		var flags map[string]json.RawMessage
		_ = json.Unmarshal(ev, &flags)
		for _, name := range providers.Names() {
			if string(flags[name+"ForceRefresh"]) != "true" {
				continue
			}
			k := keeperOf(r, name)
			if k == nil {
				return nil, fmt.Errorf("setup: %s keeps no token on this deployment (not configured)", name)
			}
			if err := k.Force(ctx); err != nil {
				return nil, err
			}
			return map[string]string{"outcome": name + "_force_refreshed"}, nil
		}
		refresh := r.Refresh
		switch {
		case in.Force:
			refresh = r.ForceRefresh
		case in.Cause == tickets.CauseRejectedOnRequest:
			refresh = r.Heal
		}
		outcome, err := refresh(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]string{"outcome": string(outcome)}, nil
	}}, nil
}
