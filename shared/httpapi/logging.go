package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/sign"
)

// reqNote collects what the access log line says about a request: never
// bodies, headers or personal data.
type reqNote struct {
	route   string
	orderNo string // a valid order number
	badNo   string // an invalid one, truncated and quoted
	caller  string // the key id that authenticated (KeyID), or "gateway"
	tenant  string
	err     error
}

type noteKey struct{}

// noteOrder logs a valid order number as it is; anything else (a client
// can send 10,000 characters, NULs or "../") only truncated and quoted.
func noteOrder(r *http.Request, orderNo string) {
	if n, ok := r.Context().Value(noteKey{}).(*reqNote); ok {
		if sign.ValidOrderNo(orderNo) {
			n.orderNo = orderNo
		} else {
			n.badNo = quoteTruncated(orderNo, 40)
		}
	}
}

func quoteTruncated(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strconv.QuoteToASCII(s)
}

// noteRoute records the route pattern a request matched, for the log.
func noteCaller(r *http.Request, id, tenant string) {
	if n, ok := r.Context().Value(noteKey{}).(*reqNote); ok {
		n.caller, n.tenant = id, tenant
	}
}

func callerOf(r *http.Request) string {
	if n, ok := r.Context().Value(noteKey{}).(*reqNote); ok && n.caller != "" {
		return n.caller
	}
	return "unknown"
}

func noteRoute(r *http.Request, pattern string) {
	if n, ok := r.Context().Value(noteKey{}).(*reqNote); ok {
		n.route = pattern
	}
}

func noteErr(r *http.Request, err error) {
	if n, ok := r.Context().Value(noteKey{}).(*reqNote); ok {
		n.err = err
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
	w.ResponseWriter.WriteHeader(s)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		n := &reqNote{}
		r = r.WithContext(context.WithValue(r.Context(), noteKey{}, n))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := n.route
		if route == "" {
			route = "unmatched"
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", sw.status),
			slog.Int64("durationMs", time.Since(start).Milliseconds()),
		}
		if n.orderNo != "" {
			attrs = append(attrs, slog.String("orderNo", n.orderNo))
		}
		if n.tenant != "" {
			attrs = append(attrs, slog.String("tenant", n.tenant))
		}
		if n.badNo != "" {
			attrs = append(attrs, slog.String("invalidOrderNo", n.badNo))
		}
		level := slog.LevelInfo
		if n.err != nil {
			e := errcode.AsError(n.err)
			attrs = append(attrs, slog.String("code", string(e.Code)))
			if e.UpstreamCode != "" {
				attrs = append(attrs, slog.String("upstreamCode", e.UpstreamCode))
			}
			if sw.status >= 500 {
				level = slog.LevelError
				if e.Err != nil {
					attrs = append(attrs, slog.String("cause", e.Err.Error()))
				}
			}
		}
		s.log.LogAttrs(r.Context(), level, "request", attrs...)
	})
}
