// Package httpapi is the HTTP API (docs/openapi.yaml): routes, API-key auth, body
// decoding, and the mapping of error codes to HTTP statuses. It is
// plain net/http; platform adapters feed it events.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/buildinfo"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/ratelimit"
	"github.com/cardocr/cardocr/shared/tenants"
	"github.com/cardocr/cardocr/shared/tickets"
)

// IDCards is the OCR service as the API uses it.
type IDCards interface {
	SubmitIDCard(ctx context.Context, r ocr.IDCardRequest) (*ocr.IDCardResult, error)
	IDCardResult(ctx context.Context, q ocr.ResultQuery) (*ocr.IDCardResult, error)
	// MaxIDCardImage bounds what a request body is read for: the largest
	// image any configured provider takes.
	MaxIDCardImage() int64
}

// BankCards is the bank card OCR service as the API uses it.
type BankCards interface {
	SubmitBankCard(ctx context.Context, r ocr.BankCardRequest) (*ocr.BankCardResult, error)
	BankCardResult(ctx context.Context, q ocr.ResultQuery) (*ocr.BankCardResult, error)
	MaxBankCardImage() int64
}

// Eraser erases everything held for an order (DELETE on a result).
type Eraser interface {
	Erase(ctx context.Context, e ocr.Erasure) (ocr.Erased, error)
}

// Tenants says which tenant holds a key (tenants.Directory).
type Tenants interface {
	Lookup(ctx context.Context, key string) (t *tenants.Tenant, keyID string, err error)
}

// Health reports the tickets' freshness for /healthz.
type Health interface {
	Freshness(ctx context.Context, interval time.Duration) tickets.Freshness
}

// Options configure the API.
type Options struct {
	IDCards   IDCards
	BankCards BankCards
	// Eraser serves DELETE /v1/{kind}/results/{orderNo}; nil: 404 (no
	// archive configured, so nothing is held but the upstream's copy).
	Eraser Eraser
	Health Health
	// Suspended lists the providers the breaker holds, with why (nil: no
	// breaker); /healthz shows them.
	Suspended       func(ctx context.Context) map[string]string
	RefreshInterval time.Duration
	APIKeys         []string // AUTH_MODE=apikey: the one-tenant shortcut (tenant "default")
	// Tenants, when set, replaces APIKeys: the tenants document.
	Tenants  Tenants
	AuthNone bool // AUTH_MODE=none: the gateway authenticates; every caller is tenant "default"
	// Timeout bounds a request that arrives without a deadline (the
	// platforms put the invocation's deadline in the context).
	Timeout time.Duration
	// MaxLargeRequests bounds the submissions with a body over
	// LargeRequestBytes (or of unknown length) in flight at once; beyond
	// it they get 429 busy with Retry-After. 0: no bound.
	MaxLargeRequests int
	// Pace holds each tenant to its rate (the tenants document), shared
	// out over ConcurrencyCap instances; nil: not paced.
	Pace           Pacer
	ConcurrencyCap int
	// Uploads serves POST /v1/{kind}/uploads; nil: 404.
	Uploads Uploads
	// SyncBodyLimit bounds the body of a submit (SYNC_BODY_LIMIT): the
	// platform's own limit, met locally too, answered with a 413 that
	// names the upload route. 0: no bound of its own.
	SyncBodyLimit int64
	Logger        *slog.Logger
}

// LargeRequestBytes is the body size from which a request counts against
// MaxLargeRequests.
const LargeRequestBytes = 1 << 20

type server struct {
	opt     Options
	tenants Tenants
	log     *slog.Logger

	// /healthz is unauthenticated: its answer is cached briefly, so that
	// no caller can turn it into store reads (billed on the clouds).
	hmu      sync.Mutex
	health   tickets.Freshness
	healthAt time.Time

	large chan struct{} // MaxLargeRequests slots; nil: no bound
}

// healthTTL is how long a /healthz answer is reused.
const healthTTL = 5 * time.Second

// New returns the API handler.
func New(opt Options) http.Handler {
	s := &server{opt: opt, log: opt.Logger}
	if opt.MaxLargeRequests > 0 {
		s.large = make(chan struct{}, opt.MaxLargeRequests)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.tenants = opt.Tenants
	if s.tenants == nil {
		var keys []string
		for _, k := range opt.APIKeys {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
		s.tenants = &tenants.Directory{Doc: tenants.Static(keys)}
	}
	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			noteRoute(r, pattern)
			h(w, r)
		})
	}
	route("/healthz", s.healthz)
	route("/v1/idcard/ocr", s.auth(s.bounded(s.idcardSubmit)))
	route("/v1/idcard/results/{orderNo}", s.auth(s.idcardResult))
	route("/v1/bankcard/ocr", s.auth(s.bounded(s.bankcardSubmit)))
	route("/v1/bankcard/results/{orderNo}", s.auth(s.bankcardResult))
	route("/v1/idcard/uploads", s.auth(s.upload(ocr.KindIDCard)))
	route("/v1/bankcard/uploads", s.auth(s.upload(ocr.KindBankCard)))
	mux.HandleFunc("/", notFound)
	return s.logRequests(s.withDeadline(cleanPaths(mux)))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	fail(w, r, errcode.Errorf(errcode.NotFound, "no such route"), "")
}

// cleanPaths answers a path that is not in canonical form (//v1/…, /./,
// a trailing slash) with the JSON 404 instead of letting ServeMux
// redirect it with an HTML body: every response is JSON.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "" || p != path.Clean(p) {
			notFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) withDeadline(next http.Handler) http.Handler {
	if s.opt.Timeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := r.Context().Deadline(); ok {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.opt.Timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// gatewayTenant is every caller's tenant when a gateway authenticates.
var gatewayTenant = &tenants.Tenant{ID: tenants.Default, Kinds: tenants.Kinds}

// authorized returns the tenant holding the bearer key (every stored key
// hash is compared in constant time), nil for none; an error when the
// tenants document cannot be read.
func (s *server) authorized(r *http.Request) (*tenants.Tenant, error) {
	if s.opt.AuthNone {
		noteCaller(r, "gateway", tenants.Default)
		return gatewayTenant, nil
	}
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return nil, nil
	}
	t, keyID, err := s.tenants.Lookup(r.Context(), strings.TrimSpace(h[len(prefix):]))
	if err != nil || t == nil {
		return nil, err
	}
	noteCaller(r, keyID, t.ID)
	return t, nil
}

func (s *server) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := s.authorized(r)
		if err != nil {
			w.Header().Set("Connection", "close")
			fail(w, r, &errcode.Error{Code: errcode.StoreUnavailable, Retryable: true, Err: err,
				Message: "the tenants document could not be read; try again"}, "")
			return
		}
		if t == nil {
			// Nothing of the body is read, and the connection is closed
			// after the answer rather than drained for reuse: a client
			// without a key cannot hold it by trickling a body.
			w.Header().Set("Connection", "close")
			w.Header().Set("WWW-Authenticate", `Bearer realm="cardocr"`)
			fail(w, r, errcode.Errorf(errcode.Unauthorized, "missing or wrong API key"), "")
			return
		}
		if err := s.paceTenant(r.Context(), t); err != nil {
			fail(w, r, err, "")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), tenantKey{}, t)))
	}
}

// Pacer is a per-instance rate limiter (ratelimit.Limiter).
type Pacer interface {
	Wait(ctx context.Context, key string, perSecond float64, burst int) error
}

// paceTenant holds a tenant to its share of its rate (the tenants
// document's rate divided by the concurrency cap); over it, the request
// waits up to a second, then gets 429 busy.
func (s *server) paceTenant(ctx context.Context, t *tenants.Tenant) error {
	if s.opt.Pace == nil || t.Rate.PerSecond <= 0 {
		return nil
	}
	rate, burst := ratelimit.Share(t.Rate.PerSecond, max(t.Rate.Burst, int(t.Rate.PerSecond)), s.opt.ConcurrencyCap)
	err := s.opt.Pace.Wait(ctx, "tenant/"+t.ID, rate, burst)
	if err == nil {
		return nil
	}
	de := &errcode.Error{Code: errcode.Busy, Retryable: true, Err: err,
		Message: "this API key's tenant is over its request rate; try again shortly"}
	var lim *ratelimit.Limited
	if errors.As(err, &lim) {
		de.RetryAfter = lim.RetryAfter
	}
	return de
}

type tenantKey struct{}

// tenantOf is the request's tenant (auth put it there).
func tenantOf(r *http.Request) *tenants.Tenant {
	if t, ok := r.Context().Value(tenantKey{}).(*tenants.Tenant); ok {
		return t
	}
	return gatewayTenant
}

// mayUse answers 403 when the tenant may not use kind.
func mayUse(w http.ResponseWriter, r *http.Request, kind string) bool {
	if tenantOf(r).May(kind) {
		return true
	}
	fail(w, r, errcode.Errorf(errcode.Forbidden, "this API key's tenant may not use %s OCR", kind), "")
	return false
}

// bounded admits at most MaxLargeRequests large submissions at once: each
// holds about its image in memory, so the bound is the instance's memory
// bound. The others are refused at once (no queue: the client's retry,
// after Retry-After, is the queue).
func (s *server) bounded(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.large == nil || r.Method != http.MethodPost || (r.ContentLength >= 0 && r.ContentLength <= LargeRequestBytes) {
			next(w, r)
			return
		}
		select {
		case s.large <- struct{}{}:
			defer func() { <-s.large }()
			next(w, r)
		default:
			w.Header().Set("Connection", "close") // the body is not read
			fail(w, r, &errcode.Error{Code: errcode.Busy, Retryable: true,
				Message: "too many large requests in flight on this instance; try again shortly"}, "")
		}
	}
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, http.MethodGet)
		return
	}
	h := map[string]any{"status": "ok", "tickets": string(s.freshness(r.Context())), "version": buildinfo.String()}
	if s.opt.Suspended != nil {
		if sus := s.opt.Suspended(r.Context()); len(sus) > 0 {
			h["suspended"] = sus
		}
	}
	writeJSON(w, http.StatusOK, h)
}

// freshness is the tickets' state, computed at most once per healthTTL
// (concurrent callers wait for the one computation).
func (s *server) freshness(ctx context.Context) tickets.Freshness {
	// A pair known rejected is said at once, cache or not: /healthz never
	// says fresh while requests fail for it (an answer from memory).
	if k, ok := s.opt.Health.(interface{ PairRejected() bool }); ok && k.PairRejected() {
		return tickets.Rejected
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if !s.healthAt.IsZero() && time.Since(s.healthAt) < healthTTL {
		return s.health
	}
	fr := tickets.Missing
	if s.opt.Health != nil {
		ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		fr = s.opt.Health.Freshness(ctx, s.opt.RefreshInterval)
		cancel()
	}
	s.health, s.healthAt = fr, time.Now()
	return fr
}

func (s *server) idcardSubmit(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, http.MethodPost)
		return
	}
	if !mayUse(w, r, ocr.KindIDCard) {
		return
	}
	sub, err := decodeSubmission(w, r, s.opt.IDCards.MaxIDCardImage(), s.opt.SyncBodyLimit, ocr.KindIDCard)
	if err != nil {
		fail(w, r, err, "")
		return
	}
	req := ocr.IDCardRequest{
		Side: sub.Side, Image: ocr.BytesImage(sub.Image), UserID: sub.UserID,
		Native: sub.Native, Provider: sub.Provider, OrderNo: sub.OrderNo, ImageURL: sub.ImageURL, Owner: tenantOf(r).ID, Quota: tenantOf(r).DailyQuota,
	}
	res, err := s.opt.IDCards.SubmitIDCard(r.Context(), req)
	if err != nil {
		fail(w, r, err, sub.OrderNo)
		return
	}
	noteOrder(r, res.OrderNo)
	writeJSON(w, http.StatusOK, res)
}

func (s *server) idcardResult(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		s.erase(w, r, ocr.KindIDCard)
		return
	}
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, resultMethods)
		return
	}
	if !mayUse(w, r, ocr.KindIDCard) {
		return
	}
	orderNo := r.PathValue("orderNo")
	noteOrder(r, orderNo)
	files, err := boolQuery(r, "files")
	if err != nil {
		fail(w, r, err, orderNo)
		return
	}
	res, err := s.opt.IDCards.IDCardResult(r.Context(), ocr.ResultQuery{OrderNo: orderNo, Files: files, Owner: tenantOf(r).ID})
	if err != nil {
		fail(w, r, err, orderNo)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	e := errcode.Errorf(errcode.InvalidRequest, "use %s", allow)
	noteErr(r, e)
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: errorDetail{Code: e.Code, Message: e.Message}})
}

func fail(w http.ResponseWriter, r *http.Request, err error, orderNo string) {
	noteErr(r, err)
	writeError(w, err, orderNo)
}
