// Package setup builds a function's dependencies from its configuration,
// so that every main (and the local stack) wires things the same way.
package setup

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/callback"
	"github.com/cardocr/cardocr/shared/config"
	"github.com/cardocr/cardocr/shared/httpapi"
	"github.com/cardocr/cardocr/shared/kick"
	"github.com/cardocr/cardocr/shared/logging"
	"github.com/cardocr/cardocr/shared/metrics"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/quota"
	"github.com/cardocr/cardocr/shared/ratelimit"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tenants"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/uploads"
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

// APIOption adjusts what API builds (the local stack's own wiring).
type APIOption func(*apiWiring)

type apiWiring struct {
	arch        *archive.Archive
	openUploads func(ctx context.Context, bucket string) (archive.Bucket, error)
	fitter      ocr.Fitter // nil: photos above a provider's limit are refused
	presigner   uploads.Presigner
	// forms serves the upload route (WithUploadForms); nil: none.
	forms       func(arch *archive.Archive, p uploads.Presigner, max int64) httpapi.Uploads
	queue       callback.Queue // nil: CALLBACK_QUEUE_URL's
	loopback    bool           // callbacks may go to loopback (the local stack)
	resultsOnly bool           // serves result queries only (PROVIDER_FALLBACK not checked)
}

// ResultsOnly builds the API of a function that answers result queries
// only (ocrresult, bankcardresult): it links only the providers that keep
// results, so PROVIDER_FALLBACK, which may name others, is not its to check.
func ResultsOnly() APIOption {
	return func(w *apiWiring) { w.resultsOnly = true }
}

// WithUploads opens the buckets of uploaded objects for erasures (the local
// stack keeps its uploads beside the archive directory, not in it).
func WithUploads(open func(ctx context.Context, bucket string) (archive.Bucket, error)) APIOption {
	return func(w *apiWiring) { w.openUploads = open }
}

// WithFitter fits photos above a provider's byte limit (IMAGE_FIT). The
// functions that submit pass imagefit's: only they link the decoders.
func WithFitter(f ocr.Fitter) APIOption {
	return func(w *apiWiring) { w.fitter = f }
}

// WithPresigner signs upload forms for a bucket that cannot itself (the
// local stack's form target stands in for S3).
func WithPresigner(p uploads.Presigner) APIOption {
	return func(w *apiWiring) { w.presigner = p }
}

// WithUploadForms serves POST /v1/{kind}/uploads: the archive's bucket
// (S3, COS) signs the forms, or WithPresigner's signer. The submitting
// functions pass it; the others answer the route 404 and do not link the
// upload code.
func WithUploadForms() APIOption {
	return func(w *apiWiring) { w.forms = uploadForms }
}

func uploadForms(arch *archive.Archive, p uploads.Presigner, max int64) httpapi.Uploads {
	if p == nil {
		p, _ = arch.Bucket.(uploads.Presigner) // S3 and COS sign their own forms
	}
	if p == nil {
		return nil
	}
	return &uploads.Service{Presigner: p, Orders: arch, MaxBytes: max}
}

// API builds the HTTP API with its ticket reader.
func API(ctx context.Context, cfg config.Config, log *slog.Logger, opts ...APIOption) (http.Handler, *tickets.Reader, error) {
	if err := cfg.CheckAPI(); err != nil {
		return nil, nil, err
	}
	creds := NewCredentialSource(cfg) // the environment's values, before the secret fills them in
	if err := LoadCredentials(ctx, &cfg, false); err != nil {
		return nil, nil, err
	}
	creds.seed(cfg.Credentials) // read again when due
	store, err := secretstore.Open(ctx, cfg.TicketStoreURL)
	if err != nil {
		return nil, nil, fmt.Errorf("setup: ticket store: %w", err)
	}
	reader := &tickets.Reader{Store: store, TTL: cfg.CacheTTL, Logger: log}
	hc := HTTPClient()
	if cfg.Credentials.WeBankAppID != "" {
		// /healthz asks the upstream (an unbilled result query, at most
		// twice a minute) whether it still accepts the stored pair.
		reader.Check = WeBank(cfg, hc)
	}
	if cfg.RefresherURL != "" {
		if reader.Kick, err = kick.Open(ctx, cfg.RefresherURL); err != nil {
			return nil, nil, fmt.Errorf("setup: %w", err)
		}
	}
	providers, err := buildProviders(deps{cfg: cfg, hc: hc, reader: reader, store: store, log: log, creds: creds})
	if err != nil {
		return nil, nil, err
	}
	var w apiWiring
	for _, o := range opts {
		o(&w)
	}
	if !w.resultsOnly {
		if err := checkFallback(cfg, providers); err != nil {
			return nil, nil, err
		}
	}
	svc := &ocr.Service{Providers: providers, Fallback: cfg.Fallback, Logger: log,
		Metrics: &metrics.Recorder{Logger: log, Format: cfg.MetricsFormat, Namespace: cfg.MetricsNamespace},
		Pace:    &ratelimit.Limiter{}, ConcurrencyCap: cfg.ConcurrencyCap}
	if cfg.ImageFit && w.fitter != nil {
		svc.Fitter, svc.FitMaxBytes = w.fitter, cfg.UploadMaxBytes
	}
	var suspendedOf func(context.Context) map[string]string
	if cfg.QuotaStoreURL != "" {
		qs, err := quota.Open(ctx, cfg.QuotaStoreURL)
		if err != nil {
			return nil, nil, fmt.Errorf("setup: quota store: %w", err)
		}
		svc.Quota = &quota.Meter{Store: qs, Cap: cfg.DailySpendCap}
		if sus, ok := qs.(quota.Suspensions); ok {
			b := &quota.Breaker{Store: sus, For: cfg.SuspendFor, Logger: log, Metrics: svc.Metrics}
			svc.Breaker = b
			names := make([]string, 0, len(providers))
			for n, p := range providers {
				if p != nil {
					names = append(names, n)
				}
			}
			sort.Strings(names)
			suspendedOf = func(ctx context.Context) map[string]string { return b.Status(ctx, names) }
		}
	}
	var dir httpapi.Tenants
	var tenantCallbacks TenantCallbacks // nil unless there are tenants
	if cfg.TenantsURL != "" {
		st, err := secretstore.Open(ctx, cfg.TenantsURL)
		if err != nil {
			return nil, nil, fmt.Errorf("setup: tenants store: %w", err)
		}
		d := &tenants.Directory{Store: st, TTL: cfg.TenantsTTL, Doc: tenants.Static(cfg.APIKeys)}
		dir, tenantCallbacks = d, d
	}
	var eraser httpapi.Eraser
	var up httpapi.Uploads
	if cfg.ArchiveURL != "" {
		// Order records and erasure live in the archive (no network call
		// here: the backends connect on first use).
		arch, err := OpenArchive(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		w.arch = arch
		if w.openUploads != nil {
			arch.Uploads = w.openUploads
		}
		if w.forms != nil {
			up = w.forms(arch, w.presigner, cfg.UploadMaxBytes)
		}
		n, _, err := callbacks(ctx, cfg, arch, w, tenantCallbacks, log)
		if err != nil {
			return nil, nil, err
		}
		if n != nil {
			svc.Notifier = n
		}
		svc.Orders, eraser = arch, arch
		if cfg.Evidence {
			svc.Evidence = arch
		}
	}
	h := httpapi.New(httpapi.Options{Tenants: dir, Suspended: suspendedOf,
		IDCards: svc, BankCards: svc, Eraser: eraser, Health: reader, RefreshInterval: cfg.RefreshInterval,
		APIKeys: cfg.APIKeys, AuthNone: cfg.AuthMode == "none", Timeout: cfg.RequestTimeout, Logger: log,
		MaxLargeRequests: cfg.MaxLargeRequests, Pace: svc.Pace, ConcurrencyCap: cfg.ConcurrencyCap,
		SyncBodyLimit: cfg.SyncBodyLimit, Uploads: up,
	})
	return h, reader, nil
}

// OpenArchive opens the archive ARCHIVE_URL names, with the audit salt.
func OpenArchive(ctx context.Context, cfg config.Config) (*archive.Archive, error) {
	arch, err := archive.Open(ctx, cfg.ArchiveURL)
	if err != nil {
		return nil, fmt.Errorf("setup: archive: %w", err)
	}
	arch.AuditSalt = []byte(cfg.AuditSalt)
	return arch, nil
}

// Refresher builds the ticket refresher.
func Refresher(ctx context.Context, cfg config.Config, log *slog.Logger) (*tickets.Refresher, error) {
	if cfg.TicketStoreURL == "" {
		return nil, fmt.Errorf("setup: TICKET_STORE_URL is not set")
	}
	if err := LoadCredentials(ctx, &cfg, true); err != nil {
		return nil, err
	}
	if err := checkWeBank(cfg); err != nil {
		return nil, err
	}
	store, err := secretstore.Open(ctx, cfg.TicketStoreURL)
	if err != nil {
		return nil, fmt.Errorf("setup: ticket store: %w", err)
	}
	hc := HTTPClient()
	r := &tickets.Refresher{Store: store, WeBank: WeBank(cfg, hc), Interval: cfg.RefreshInterval, Logger: log,
		Metrics: &metrics.Recorder{Logger: log, Format: cfg.MetricsFormat, Namespace: cfg.MetricsNamespace}}
	// The other providers' tokens (WeChat's) are kept by the members their
	// descriptors give, linked by the main's imports.
	ks, err := keepers(deps{cfg: cfg, hc: hc, store: store, log: log}, r)
	if err != nil {
		return nil, err
	}
	r.Members = ks
	return r, nil
}

// checkFallback refuses a PROVIDER_FALLBACK chain that names a provider this
// deployment cannot call: a chain that silently skips one would bill
// nobody and help nobody.
func checkFallback(cfg config.Config, providers map[string]ocr.Provider) error {
	for kind, chain := range cfg.Fallback {
		for _, n := range chain {
			p, known := providers[n]
			switch {
			case !known:
				names := make([]string, 0, len(providers))
				for k := range providers {
					names = append(names, k)
				}
				sort.Strings(names)
				return fmt.Errorf("setup: PROVIDER_FALLBACK for %s names %q; the providers are %s", kind, n, strings.Join(names, ", "))
			case p == nil:
				return fmt.Errorf("setup: PROVIDER_FALLBACK for %s names %q, which has no credentials on this deployment", kind, n)
			}
		}
	}
	return nil
}
