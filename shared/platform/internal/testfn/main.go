// Command testfn is the function the platform tests build and drive as a
// subprocess on every mode. Its HTTP handler echoes what it received; its
// Event handler names the event it got and records it.
//
// Routes: /echo (any method), GET /binary, GET /nowrite, GET /panic,
// GET /env/{name}, GET /healthz. Events: EventBridge "Scheduled Event" ->
// "eventbridge-schedule", SCF {"Type":"Timer"} -> "scf-timer", anything else
// -> "other"; {"panic":true} panics and {"fail":true} returns an error. With
// TESTFN_EVENT_LOG set, each event's kind is appended to that file.
// TESTFN_NO_EVENT=1 leaves Function.Event nil, TESTFN_NO_HTTP=1 Function.HTTP.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/cardocr/cardocr/shared/platform"
)

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fn := platform.Function{Name: "testfn", Logger: logger, HTTP: handler(), Event: event}
	if os.Getenv("TESTFN_NO_EVENT") == "1" {
		fn.Event = nil
	}
	if os.Getenv("TESTFN_NO_HTTP") == "1" {
		fn.HTTP = nil
	}
	if err := platform.Run(context.Background(), fn); err != nil {
		logger.Error("run", "error", err)
		os.Exit(1)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var cookies []string
		for _, c := range r.Cookies() {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		sort.Strings(cookies)
		_, hasDeadline := r.Context().Deadline()
		w.Header().Set("X-Echo", "yes")
		writeJSON(w, http.StatusCreated, map[string]any{
			"method":      r.Method,
			"path":        r.URL.Path,
			"query":       r.URL.Query(),
			"xCustom":     r.Header.Values("X-Custom"),
			"xMulti":      strings.Join(r.Header.Values("X-Multi"), ","),
			"contentType": r.Header.Get("Content-Type"),
			"cookies":     cookies,
			"body":        base64.StdEncoding.EncodeToString(body),
			"deadline":    hasDeadline,
		})
	})
	mux.HandleFunc("GET /binary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET /nowrite", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) { panic("testfn: boom") })
	mux.HandleFunc("GET /env/{name}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"value": os.Getenv(r.PathValue("name"))})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

var logMu sync.Mutex

func event(ctx context.Context, raw json.RawMessage) (any, error) {
	var probe struct {
		DetailType string `json:"detail-type"`
		Source     string `json:"source"`
		Type       string `json:"Type"`
		Panic      bool   `json:"panic"`
		Fail       bool   `json:"fail"`
	}
	_ = json.Unmarshal(raw, &probe)
	switch {
	case probe.Panic:
		panic("testfn: event boom")
	case probe.Fail:
		return nil, errors.New("testfn: event failed")
	}
	kind := "other"
	switch {
	case probe.Source == "aws.events" && probe.DetailType == "Scheduled Event":
		kind = "eventbridge-schedule"
	case probe.Type == "Timer":
		kind = "scf-timer"
	}
	if p := os.Getenv("TESTFN_EVENT_LOG"); p != "" {
		logMu.Lock()
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err == nil {
			_, _ = f.WriteString(kind + "\n")
			_ = f.Close()
		}
		logMu.Unlock()
	}
	_, hasDeadline := ctx.Deadline()
	return map[string]any{"handled": kind, "deadline": hasDeadline}, nil
}
