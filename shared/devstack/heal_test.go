package devstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

// Another system fetches a WeBank token with the same app id ("a new token
// kills the previous one, and its tickets, one minute later"; here a 10 s
// overlap). The first request that meets the dead ticket asks the refresher
// to run; its self-check replaces the pair: requests succeed again within
// 30 s of the first failure, /healthz never says fresh while they fail, and
// the service fetched one token.
func TestRejectedTicketHealsWithinSeconds(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	s, err := Start(context.Background(), Options{
		Getenv: env{"PORT": "0", "LOG_FORMAT": "json"}.get, Dir: t.TempDir(), Stdout: io.Discard, Logs: logs,
		Emulator: emulator.Config{Overlap: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 5}.JPEG())
	submit := func() int {
		st, _ := do(t, s, "POST", "/v1/idcard/ocr", "application/json", jsonBody(t, map[string]any{"side": "front", "image": img}), s.APIKey)
		return st
	}
	health := func() string {
		resp, err := http.Get(s.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h struct{ Tickets string }
		json.NewDecoder(resp.Body).Decode(&h)
		return h.Tickets
	}
	if st := submit(); st != 200 || health() != "fresh" {
		t.Fatalf("before: %d", st)
	}
	s.Emulator.ResetCounts()

	// The other system's token fetch.
	q := url.Values{"app_id": {emulator.DefaultAppID}, "secret": {emulator.DefaultSecret}, "grant_type": {"client_credential"}, "version": {"1.0.0"}}
	resp, err := http.Get(s.URL + EmulatorPath + "/api/oauth2/access_token?" + q.Encode())
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("external token fetch: %v", err)
	}
	resp.Body.Close()

	type obs struct {
		ok     bool
		health string
		at     time.Time
	}
	var seen []obs
	var firstFail, healed time.Time
	deadline := time.Now().Add(50 * time.Second)
	for time.Now().Before(deadline) {
		st := submit()
		o := obs{ok: st == 200, health: health(), at: time.Now()}
		if !o.ok && st != 503 {
			t.Fatalf("a failing request answered %d, want 503 tickets_unavailable", st)
		}
		seen = append(seen, o)
		if !o.ok && firstFail.IsZero() {
			firstFail = o.at
		}
		if o.ok && !firstFail.IsZero() {
			healed = o.at
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if firstFail.IsZero() {
		t.Fatal("no request failed: the overlap did not end")
	}
	if healed.IsZero() || healed.Sub(firstFail) > 30*time.Second {
		t.Fatalf("not healed within 30 s of the first failure (first failure %v, healed %v)", firstFail, healed)
	}
	// Between two failed requests /healthz never said fresh.
	for i := 1; i+1 < len(seen); i++ {
		if !seen[i].ok && !seen[i+1].ok && seen[i].health == "fresh" {
			t.Errorf("/healthz said fresh at %v while requests failed", seen[i].at.Sub(firstFail))
		}
	}
	if n := s.Emulator.Count(emulator.EndpointAccessToken); n != 2 {
		t.Errorf("access_token fetches %d, want 2 (the other system's and one by the service)", n)
	}
	if h := health(); h != "fresh" {
		t.Errorf("after the heal: %q", h)
	}
	if !strings.Contains(logs.String(), `"cause":"rejected-on-request"`) || !strings.Contains(logs.String(), `"outcome":"replaced"`) {
		t.Errorf("no selfcheck replaced line with the cause")
	}
	t.Logf("healed %v after the first failure (%d requests observed)", healed.Sub(firstFail).Round(time.Millisecond), len(seen))
}
