package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/cardocr/cardocr/shared/domain"
)

// reqNote collects what the access log line says about a request: never
// bodies, headers or personal data.
type reqNote struct {
	orderNo string
	err     error
}

type noteKey struct{}

func noteOrder(r *http.Request, orderNo string) {
	if n, ok := r.Context().Value(noteKey{}).(*reqNote); ok {
		n.orderNo = orderNo
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
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", routeOf(r)),
			slog.Int("status", sw.status),
			slog.Int64("durationMs", time.Since(start).Milliseconds()),
		}
		if n.orderNo != "" {
			attrs = append(attrs, slog.String("orderNo", n.orderNo))
		}
		level := slog.LevelInfo
		if n.err != nil {
			e := domain.AsError(n.err)
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

// routeOf logs the route pattern, not the raw path (which could carry
// anything a client put there).
func routeOf(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return "unmatched"
}
