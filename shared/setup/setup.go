// Package setup builds a function's dependencies from its configuration,
// so that every main (and the local stack) wires things the same way.
package setup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/httpapi"
	"github.com/cardocr/cardocr/shared/logging"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

// Logger returns the JSON logger for cfg.
func Logger(cfg config.Config, w io.Writer) *slog.Logger {
	return logging.New(w, cfg.LogLevel)
}

// HTTPClient is shared by the upstream clients: keep-alive connections
// survive between warm invocations.
func HTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t}
}

// WeBank returns the WeBank client for cfg.
func WeBank(cfg config.Config, hc *http.Client) *webank.Client {
	return webank.New(webank.Config{
		BaseURL: cfg.KYCBaseURL, AppID: cfg.Credentials.WeBankAppID, Secret: cfg.Credentials.WeBankSecret, HTTPClient: hc,
	})
}

// API builds the HTTP API with its ticket reader.
func API(ctx context.Context, cfg config.Config, log *slog.Logger) (http.Handler, *tickets.Reader, error) {
	if err := cfg.CheckAPI(); err != nil {
		return nil, nil, err
	}
	if err := cfg.LoadCredentials(ctx, false); err != nil {
		return nil, nil, err
	}
	store, err := secretstore.Open(ctx, cfg.TicketStoreURL)
	if err != nil {
		return nil, nil, fmt.Errorf("setup: ticket store: %w", err)
	}
	reader := &tickets.Reader{Store: store, TTL: cfg.CacheTTL, Logger: log}
	svc := &ocr.Service{WeBank: WeBank(cfg, HTTPClient()), Tickets: reader, Logger: log}
	h := httpapi.New(httpapi.Options{
		IDCards: svc, BankCards: svc, Health: reader, RefreshInterval: cfg.RefreshInterval,
		APIKeys: cfg.APIKeys, AuthNone: cfg.AuthMode == "none", Timeout: cfg.RequestTimeout, Logger: log,
	})
	return h, reader, nil
}

// Refresher builds the ticket refresher.
func Refresher(ctx context.Context, cfg config.Config, log *slog.Logger) (*tickets.Refresher, error) {
	if cfg.TicketStoreURL == "" {
		return nil, fmt.Errorf("setup: TICKET_STORE_URL is not set")
	}
	if err := cfg.LoadCredentials(ctx, true); err != nil {
		return nil, err
	}
	store, err := secretstore.Open(ctx, cfg.TicketStoreURL)
	if err != nil {
		return nil, fmt.Errorf("setup: ticket store: %w", err)
	}
	return &tickets.Refresher{Store: store, WeBank: WeBank(cfg, HTTPClient()), Interval: cfg.RefreshInterval, Logger: log}, nil
}
