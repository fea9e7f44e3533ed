package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// HTTP mode: SCF web functions (the platform forwards raw HTTP to port 9000,
// which must not be bound to 127.0.0.1) and local use. Each request gets a
// deadline (REQUEST_TIMEOUT, default 30s) and a panic answers 500 with the
// API's JSON error shape; the server keeps serving. SIGTERM and SIGINT shut
// it down gracefully.
//
// A function without an HTTP handler (an event function run locally) serves
// GET /healthz and POST /invoke, which passes the request body to Event as
// the event JSON and answers its result as JSON. POST /invoke is
// unauthenticated, so such a function listens on 127.0.0.1 unless BIND_ADDR
// says otherwise, and /invoke is off when SCF environment variables are
// present: an event function deployed as a web function by mistake must not
// expose a trigger (a forced refresh, arbitrary archive events).

const (
	defaultRequestTimeout = 30 * time.Second
	maxInvokeBody         = 6 << 20
)

func runHTTP(ctx context.Context, d *dispatcher, getenv func(string) string) error {
	port := getenv(envPort)
	if port == "" {
		port = "8080"
		if onSCF(os.Environ()) {
			port = "9000"
		}
	}
	timeout := defaultRequestTimeout
	if s := getenv(envRequestTimeout); s != "" {
		t, err := time.ParseDuration(s)
		if err != nil || t <= 0 {
			return fmt.Errorf("platform: %s=%q is not a positive duration", envRequestTimeout, s)
		}
		timeout = t
	}
	h := d.fn.HTTP
	if h == nil {
		h = eventHTTPHandler(d, !onSCF(os.Environ()))
	}
	addr := bindAddr()
	if d.fn.HTTP == nil && getenv(envBindAddr) == "" {
		addr = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, port))
	if err != nil {
		return fmt.Errorf("platform: HTTP mode: %w", err)
	}
	srv := &http.Server{
		Handler:           httpMiddleware(d, h, timeout),
		ReadHeaderTimeout: 10 * time.Second,
		// The whole request, body included, is read within the request's
		// own bound: a client trickling its body cannot hold a connection
		// (and its goroutine) open for longer.
		ReadTimeout: timeout,
		IdleTimeout: 2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	d.log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("platform: HTTP mode: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("platform: HTTP shutdown: %w", err)
	}
	return nil
}

// httpMiddleware adds the request deadline and turns a panic into a 500.
func httpMiddleware(d *dispatcher, h http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		g := &guardWriter{ResponseWriter: w}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			d.log.Error("handler panic", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "type", typeName(v))
			if g.wrote {
				panic(http.ErrAbortHandler) // too late for a status: abort the response
			}
			writeJSONError(g, http.StatusInternalServerError, "internal", "internal error")
		}()
		h.ServeHTTP(g, r.WithContext(ctx))
	})
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"code": code, "message": msg, "retryable": false},
	})
}

// eventHTTPHandler serves an event-only function over HTTP: GET /healthz and,
// when invoke is set, POST /invoke (body = event JSON).
func eventHTTPHandler(d *dispatcher, invoke bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	if !invoke {
		return mux
	}
	mux.HandleFunc("POST /invoke", func(w http.ResponseWriter, r *http.Request) {
		payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInvokeBody))
		if err != nil {
			writeJSONError(w, http.StatusRequestEntityTooLarge, "invalid_request", "event too large")
			return
		}
		if !json.Valid(payload) {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", "event is not JSON")
			return
		}
		res, err := d.handle(r.Context(), payload)
		if err != nil {
			d.log.Error("invocation failed", "error", err)
			if errors.Is(err, ErrUnsupportedEvent) {
				writeJSONError(w, http.StatusBadRequest, "invalid_request", "unsupported event")
				return
			}
			writeJSONError(w, http.StatusInternalServerError, "internal", "event handler failed")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(res)
	})
	return mux
}
