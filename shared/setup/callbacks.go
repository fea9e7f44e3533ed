package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/callback"
	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/queue"
	"github.com/cardocr/cardocr/shared/tenants"
)

// WithCallbackQueue delivers callbacks through q (the local stack's
// in-process queue) and lets them go to loopback receivers.
func WithCallbackQueue(q callback.Queue) APIOption {
	return func(w *apiWiring) { w.queue, w.loopback = q, true }
}

// TenantCallbacks finds a tenant's own callback (tenants.Directory).
type TenantCallbacks interface {
	Get(ctx context.Context, id string) (*tenants.Tenant, error)
}

// targets: the default tenant's orders go to CALLBACK_URL, another
// tenant's only to its own callback (the tenants document), never to the
// deployment's.
func targets(url, secret string, dir TenantCallbacks) callback.Targets {
	return func(ctx context.Context, owner string) (callback.Target, bool, error) {
		if owner == "" {
			return callback.Target{URL: url, Secret: secret}, url != "" && secret != "", nil
		}
		if dir == nil {
			return callback.Target{}, false, nil
		}
		t, err := dir.Get(ctx, owner)
		if err != nil {
			return callback.Target{}, false, err
		}
		if t == nil || t.Callback == nil {
			return callback.Target{}, false, nil
		}
		return callback.Target{URL: t.Callback.URL, Secret: t.Callback.Secret}, true, nil
	}
}

// callbacks builds the notifier (API and resultfetch: final orders are
// queued) and the deliverer (resultfetch: queued ones are posted) when
// CALLBACK_URL is set, or tenants (who may have callbacks of their own)
// and a queue are. A half-configured CALLBACK_URL fails at start.
func callbacks(ctx context.Context, cfg config.Config, arch *archive.Archive, w apiWiring, dir TenantCallbacks, log *slog.Logger) (*callback.Notifier, *callback.Deliverer, error) {
	haveQueue := w.queue != nil || cfg.CallbackQueueURL != ""
	if cfg.CallbackURL == "" && (dir == nil || !haveQueue || arch == nil) {
		return nil, nil, nil
	}
	if cfg.CallbackURL != "" {
		switch {
		case arch == nil:
			return nil, nil, errors.New("setup: CALLBACK_URL needs ARCHIVE_URL: bodies wait in the archive until they are delivered")
		case cfg.Credentials.CallbackSecret == "":
			return nil, nil, errors.New("setup: CALLBACK_URL is set but no callbackSecret (CALLBACK_SECRET, or callbackSecret in the credentials secret)")
		case !haveQueue:
			return nil, nil, errors.New("setup: CALLBACK_URL is set but CALLBACK_QUEUE_URL (the queue resultfetch reads) is not")
		}
		if _, err := callback.CheckURL(cfg.CallbackURL, w.loopback); err != nil {
			return nil, nil, fmt.Errorf("setup: CALLBACK_URL: %w", err)
		}
	}
	q := w.queue
	if q == nil {
		var err error
		if q, err = queue.Open(ctx, cfg.CallbackQueueURL); err != nil {
			return nil, nil, fmt.Errorf("setup: %w", err)
		}
	}
	tg := targets(cfg.CallbackURL, cfg.Credentials.CallbackSecret, dir)
	n := &callback.Notifier{Outbox: arch, Queue: q, Targets: tg, Logger: log}
	d := &callback.Deliverer{Outbox: arch, Queue: q, Targets: tg, Orders: arch, Loopback: w.loopback, Base: cfg.CallbackBackoff, Logger: log}
	return n, d, nil
}
