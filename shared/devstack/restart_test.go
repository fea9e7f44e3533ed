package devstack

import (
	"context"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

// `make run` stopped and started again at once serves within 10 s: the new
// process inherits neither the old one's tickets (its emulator is gone) nor
// its refresher's leases.
func TestRestartServesAtOnce(t *testing.T) {
	dir := t.TempDir()
	e := env{"PORT": "0"}
	start := func() *Stack {
		s, err := Start(context.Background(), Options{Getenv: e.get, Dir: dir, Stdout: io.Discard, Logs: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := start()
	a.Close()
	began := time.Now()
	b := start()
	t.Cleanup(func() { b.Close() })
	img := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 9}.JPEG())
	for {
		st, body := do(t, b, "POST", "/v1/bankcard/ocr", "application/json", jsonBody(t, map[string]any{"image": img}), b.APIKey)
		if st == 200 {
			break
		}
		if time.Since(began) > 10*time.Second {
			t.Fatalf("not serving 10 s after a restart: %d %s", st, truncate(body))
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("serving %v after the restart", time.Since(began).Round(time.Millisecond))
}

// make run logs as text for a person, naming the route; the version is
// printed at start and reported by /healthz.
func TestLocalLogsAreTextAndVersioned(t *testing.T) {
	var logs, banner syncBuffer
	s, err := Start(context.Background(), Options{Getenv: env{"PORT": "0"}.get, Dir: t.TempDir(), Stdout: &banner, Logs: &logs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, body := do(t, s, "GET", "/healthz", "", nil, "")
	if st != 200 || !strings.Contains(string(body), `"version":"`) {
		t.Errorf("/healthz: %d %s", st, body)
	}
	if !strings.Contains(banner.String(), "cardocr ") || !strings.Contains(banner.String(), " local stack on http://127.0.0.1:") {
		t.Errorf("banner: %s", banner.String())
	}
	l := logs.String()
	if !strings.Contains(l, "level=INFO msg=request method=GET route=/healthz status=200") || strings.Contains(l, `{"time"`) {
		t.Errorf("local logs are not text naming the route: %.400s", l)
	}
}

// The console is handed the generated dev key, never a key from API_KEYS
// (it may be a real one, and /_local/console.json is unauthenticated).
func TestConsoleConfigShowsOnlyTheDevKey(t *testing.T) {
	s, _ := startStack(t, nil)
	if st, body := do(t, s, "GET", "/_local/console.json", "", nil, ""); st != 200 || !strings.Contains(string(body), s.APIKey) {
		t.Errorf("dev key: %d %s", st, body)
	}
	real := "prod-key-0123456789abcdef"
	s2, _ := startStack(t, env{"API_KEYS": real})
	if _, body := do(t, s2, "GET", "/_local/console.json", "", nil, ""); strings.Contains(string(body), real) {
		t.Errorf("a key from API_KEYS was served: %s", body)
	}
}
