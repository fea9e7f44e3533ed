package platform

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fuzz targets for the event adapters. Seed corpora are committed under
// testdata/fuzz/<Target>/ and the event fixtures are added as seeds too.

func addFixtureSeeds(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDispatch: no payload makes classification or an HTTP adapter panic;
// every payload ends in the handler or in an error.
func FuzzDispatch(f *testing.F) {
	addFixtureSeeds(f)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/") && r.URL.Path != "" {
			panic("path without leading slash: " + r.URL.Path)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"path":`+jsonString(r.URL.Path)+`}`)
	})
	d := newDispatcher(Function{Name: "fuzz", HTTP: h, Logger: slog.New(slog.DiscardHandler),
		Event: func(ctx context.Context, ev json.RawMessage) (any, error) { return "event", nil }})
	f.Fuzz(func(t *testing.T, payload []byte) {
		kind := classify(payload)
		res, err := d.handle(context.Background(), payload)
		if err != nil {
			if kind == kindOther {
				t.Fatalf("event path failed: %v", err)
			}
			return
		}
		if kind == kindOther && res != "event" {
			t.Fatalf("%v went to %v", kind, res)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("result does not marshal: %v", err)
		}
	})
}

// FuzzSCFRequest: an SCF HTTP event either fails to convert or yields a
// request with an absolute path and a parsable query.
func FuzzSCFRequest(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := scfRequest(context.Background(), payload)
		if err != nil {
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/") {
			t.Fatalf("path %q", r.URL.Path)
		}
		if r.RequestURI != r.URL.RequestURI() {
			t.Fatalf("RequestURI %q vs %q", r.RequestURI, r.URL.RequestURI())
		}
	})
}

// FuzzLenientValues: query and header values decode without panicking, and
// what decodes re-encodes to a query string that parses.
func FuzzLenientValues(f *testing.F) {
	for _, s := range []string{`"a"`, `["1","3"]`, `true`, `false`, `null`, `7`, `[true,"x"]`, `{"a":1}`, `"x y&z=%"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v lenientValues
		if v.UnmarshalJSON(b) != nil {
			return
		}
		q := scfQuery(map[string]lenientValues{"k": v})
		if _, err := parseQuery(q); err != nil {
			t.Fatalf("query %q does not parse: %v", q, err)
		}
	})
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func parseQuery(q string) (map[string][]string, error) {
	return url.ParseQuery(q)
}
