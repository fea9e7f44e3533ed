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
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
	"github.com/cardocr/cardocr/shared/wechat"
)

// Logger returns the JSON logger for cfg.
func Logger(cfg config.Config, w io.Writer) *slog.Logger {
	return logging.NewFormat(w, cfg.LogLevel, cfg.LogFormat)
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

// WeChat returns the WeChat client for cfg.
func WeChat(cfg config.Config, hc *http.Client) *wechat.Client {
	return wechat.New(wechat.Config{
		BaseURL: cfg.WeChatBaseURL, AppID: cfg.Credentials.WeChatAppID, Secret: cfg.Credentials.WeChatAppSecret, HTTPClient: hc,
	})
}

// WeChatProvider returns the WeChat ID card provider, or nil (provider off:
// requests for it get invalid_request "not configured") without a WeChat
// appid. The token comes from the tickets store; with the AppSecret too, a
// reader may also ask stable_token in normal mode when the stored token is
// in its last five minutes or was rejected (never a forced refresh).
func WeChatProvider(cfg config.Config, hc *http.Client, store secretstore.Store, log *slog.Logger) *ocr.WeChatProvider {
	if cfg.Credentials.WeChatAppID == "" {
		return nil
	}
	c := WeChat(cfg, hc)
	r := &tickets.WeChatReader{Store: store, AppID: cfg.Credentials.WeChatAppID, Logger: log}
	if cfg.Credentials.WeChatAppSecret != "" {
		r.Fallback = c
	}
	return &ocr.WeChatProvider{Client: c, Tokens: r, Quota: &metrics.DailyLimit{Limit: cfg.DailyQuotaWeChat}}
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
	hc := HTTPClient()
	svc := &ocr.Service{WeBank: WeBank(cfg, hc), Tickets: reader, Logger: log,
		Metrics: &metrics.Recorder{Logger: log, Format: cfg.MetricsFormat}}
	svc.WeChat = WeChatProvider(cfg, hc, store, log)
	h := httpapi.New(httpapi.Options{
		IDCards: svc, BankCards: svc, Health: reader, RefreshInterval: cfg.RefreshInterval,
		APIKeys: cfg.APIKeys, AuthNone: cfg.AuthMode == "none", Timeout: cfg.RequestTimeout, Logger: log,
		MaxLargeRequests: cfg.MaxLargeRequests,
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
	hc := HTTPClient()
	r := &tickets.Refresher{Store: store, WeBank: WeBank(cfg, hc), Interval: cfg.RefreshInterval, Logger: log,
		Metrics: &metrics.Recorder{Logger: log, Format: cfg.MetricsFormat}}
	if cfg.Credentials.WeChatAppID != "" && cfg.Credentials.WeChatAppSecret != "" {
		r.WeChat = WeChat(cfg, hc)
	}
	return r, nil
}
