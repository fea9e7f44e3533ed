package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIMatchesRoutes keeps docs/openapi.yaml and the served routes in
// step: every documented path and method is routed (not the catch-all),
// and every route the server has is documented.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]any `yaml:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `yaml:"properties"`
				Required   []string       `yaml:"required"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	served := map[string][]string{ // the routes New registers, and their methods
		"/healthz":                       {"get"},
		"/v1/idcard/ocr":                 {"post"},
		"/v1/idcard/results/{orderNo}":   {"get", "delete"},
		"/v1/bankcard/ocr":               {"post"},
		"/v1/bankcard/results/{orderNo}": {"get", "delete"},
		"/v1/idcard/uploads":             {"post"},
		"/v1/bankcard/uploads":           {"post"},
	}
	var documented []string
	for p := range doc.Paths {
		documented = append(documented, p)
	}
	sort.Strings(documented)
	if len(documented) != len(served) {
		t.Errorf("documented paths %v, served %d routes", documented, len(served))
	}
	h := New(Options{APIKeys: []string{"k"}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	for p, ops := range doc.Paths {
		methods, ok := served[p]
		if !ok {
			t.Errorf("documented path %s is not served", p)
			continue
		}
		if len(ops) != len(methods) {
			t.Errorf("%s: %d documented methods, served %v", p, len(ops), methods)
		}
		for _, method := range methods {
			if _, ok := ops[method]; !ok {
				t.Errorf("%s: %s is served but not documented", p, method)
			}
			// The route exists: an unauthenticated call is 401 (or 200
			// for /healthz), never the catch-all's 404.
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(strings.ToUpper(method), strings.ReplaceAll(p, "{orderNo}", "abc123"), nil))
			if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
				t.Errorf("%s %s answers %d", method, p, rec.Code)
			}
		}
	}
	// The error codes documented are the ones the API maps.
	if _, ok := doc.Components.Schemas["Error"]; !ok {
		t.Fatal("no Error schema")
	}
	for code := range status {
		if !strings.Contains(string(b), string(code)) {
			t.Errorf("error code %s is not in the OpenAPI description", code)
		}
	}
}
