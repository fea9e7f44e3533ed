package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/platform"
	"github.com/cardocr/cardocr/shared/quota"
	"github.com/cardocr/cardocr/shared/resultfetch"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tenants"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

// resultFetchMemoryLimit is resultfetch's soft memory limit.
const resultFetchMemoryLimit = 48 << 20

// ResultFetch builds the resultfetch handler: the OCR service on the stored
// tickets and the archive ARCHIVE_URL names (its scheme's backend must be
// linked in: import shared/archive/s3archive or shared/archive/cosarchive).
func ResultFetch(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...APIOption) (*resultfetch.Handler, error) {
	if cfg.TicketStoreURL == "" {
		return nil, errors.New("setup: TICKET_STORE_URL is not set")
	}
	if cfg.ArchiveURL == "" {
		return nil, errors.New("setup: ARCHIVE_URL is not set")
	}
	if err := LoadCredentials(ctx, &cfg, false); err != nil {
		return nil, err
	}
	if err := checkWeBank(cfg); err != nil {
		return nil, err
	}
	store, err := secretstore.Open(ctx, cfg.TicketStoreURL)
	if err != nil {
		return nil, fmt.Errorf("setup: ticket store: %w", err)
	}
	arch, err := OpenArchive(ctx, cfg)
	if err != nil {
		return nil, err
	}
	reader := &tickets.Reader{Store: store, TTL: cfg.CacheTTL, Logger: log}
	// Uploads are archived from WeBank's stored results (their photos are
	// the evidence): no other provider, no fallback.
	svc := &ocr.Service{Providers: map[string]ocr.Provider{webank.Name: &webank.Provider{Client: WeBank(cfg, HTTPClient()), Tickets: reader}},
		Logger: log, Orders: arch}

	w := apiWiring{arch: arch}
	for _, o := range opts {
		o(&w)
	}
	if cfg.ImageFit && w.fitter != nil {
		svc.Fitter, svc.FitMaxBytes = w.fitter, cfg.UploadMaxBytes
	}
	// An upload through a tenant's form is billed to that tenant: counted
	// in the quota store against its daily quota and the deployment's cap,
	// and held by the breaker, as the API's submits are.
	rec := &metrics.Recorder{Logger: log, Format: cfg.MetricsFormat, Namespace: cfg.MetricsNamespace}
	svc.Metrics = rec
	if cfg.QuotaStoreURL != "" {
		qs, err := quota.Open(ctx, cfg.QuotaStoreURL)
		if err != nil {
			return nil, fmt.Errorf("setup: quota store: %w", err)
		}
		svc.Quota = &quota.Meter{Store: qs, Cap: cfg.DailySpendCap}
		if sus, ok := qs.(quota.Suspensions); ok {
			svc.Breaker = &quota.Breaker{Store: sus, For: cfg.SuspendFor, Logger: log, Metrics: rec}
		}
	}
	var tenantCallbacks TenantCallbacks // a tenant's own callback (TENANTS_URL)
	var tenantQuota func(ctx context.Context, owner string) (int, error)
	if cfg.TenantsURL != "" {
		st, err := secretstore.Open(ctx, cfg.TenantsURL)
		if err != nil {
			return nil, fmt.Errorf("setup: tenants store: %w", err)
		}
		dir := &tenants.Directory{Store: st, TTL: cfg.TenantsTTL}
		tenantCallbacks = dir
		tenantQuota = func(ctx context.Context, owner string) (int, error) {
			t, err := dir.Get(ctx, owner)
			if err != nil || t == nil {
				return 0, err
			}
			return t.DailyQuota, nil
		}
	}
	n, d, err := callbacks(ctx, cfg, arch, w, tenantCallbacks, log)
	if err != nil {
		return nil, err
	}
	if n != nil {
		svc.Notifier = n // an upload's order is final here
	}
	return &resultfetch.Handler{OCR: svc, Archive: arch, Logger: log, Callbacks: d, TenantQuota: tenantQuota, Metrics: rec}, nil
}

// ResultFetchFunction serves resultfetch events (SQS, CMQ, S3, COS, or a
// bare message).
func ResultFetchFunction(ctx context.Context, cfg config.Config, log *slog.Logger) (platform.Function, error) {
	return ResultFetchFunctionWith()(ctx, cfg, log)
}

// ResultFetchFunctionWith is ResultFetchFunction with options (the main
// passes the image fitter: uploads above the provider's limit are fitted).
func ResultFetchFunctionWith(opts ...APIOption) Builder {
	return func(ctx context.Context, cfg config.Config, log *slog.Logger) (platform.Function, error) {
		return resultFetchFunction(ctx, cfg, log, opts...)
	}
}

func resultFetchFunction(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...APIOption) (platform.Function, error) {
	// The function process only (not make run, which runs everything in
	// one): resultfetch waits on object storage and the upstream, and holds
	// at most a query answer and one decoded photo (about 35 MB for the
	// largest ID card image). A soft memory limit makes the collector keep
	// the heap near that instead of letting it double before collecting,
	// so the memory the platform bills stays small. GOMEMLIMIT wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(resultFetchMemoryLimit)
	}
	h, err := ResultFetch(ctx, cfg, log, opts...)
	if err != nil {
		return platform.Function{}, err
	}
	return platform.Function{Event: func(ctx context.Context, ev json.RawMessage) (any, error) {
		return h.Handle(ctx, ev)
	}}, nil
}
