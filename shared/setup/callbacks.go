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
)

// WithCallbackQueue delivers callbacks through q (the local stack's
// in-process queue) and lets them go to loopback receivers.
func WithCallbackQueue(q callback.Queue) APIOption {
	return func(w *apiWiring) { w.queue, w.loopback = q, true }
}

// callbacks builds the notifier (API and resultfetch: final orders are
// queued) and the deliverer (resultfetch: queued ones are posted) when
// CALLBACK_URL is set. A half-configured deployment fails at start.
func callbacks(ctx context.Context, cfg config.Config, arch *archive.Archive, w apiWiring, log *slog.Logger) (*callback.Notifier, *callback.Deliverer, error) {
	if cfg.CallbackURL == "" {
		return nil, nil, nil
	}
	switch {
	case arch == nil:
		return nil, nil, errors.New("setup: CALLBACK_URL needs ARCHIVE_URL: bodies wait in the archive until they are delivered")
	case cfg.Credentials.CallbackSecret == "":
		return nil, nil, errors.New("setup: CALLBACK_URL is set but no callbackSecret (CALLBACK_SECRET, or callbackSecret in the credentials secret)")
	}
	if _, err := callback.CheckURL(cfg.CallbackURL, w.loopback); err != nil {
		return nil, nil, fmt.Errorf("setup: CALLBACK_URL: %w", err)
	}
	q := w.queue
	if q == nil {
		if cfg.CallbackQueueURL == "" {
			return nil, nil, errors.New("setup: CALLBACK_URL is set but CALLBACK_QUEUE_URL (the queue resultfetch reads) is not")
		}
		var err error
		if q, err = queue.Open(ctx, cfg.CallbackQueueURL); err != nil {
			return nil, nil, fmt.Errorf("setup: %w", err)
		}
	}
	targets := callback.Static(cfg.CallbackURL, cfg.Credentials.CallbackSecret)
	n := &callback.Notifier{Outbox: arch, Queue: q, Targets: targets, Logger: log}
	d := &callback.Deliverer{Outbox: arch, Queue: q, Targets: targets, Orders: arch, Loopback: w.loopback, Base: cfg.CallbackBackoff, Logger: log}
	return n, d, nil
}
