package devstack

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/buildinfo"
	"github.com/cardocr/cardocr/shared/providers"
	"github.com/cardocr/cardocr/shared/quota"
	"github.com/cardocr/cardocr/shared/tickets"
)

// What the console (cmd/local's web pages) reads from the stack: its
// configuration, the state of the tickets, the emulators' counters and the
// latest archived orders, and the OpenAPI description pointed at this
// stack. Local only: it shows the dev key, and the stack listens on
// loopback.

// serveConsoleConfig hands the console the generated dev key only: keys
// given in API_KEYS may be real ones, and this answer is unauthenticated.
func (s *Stack) serveConsoleConfig(w http.ResponseWriter, _ *http.Request) {
	type provider struct {
		Name  string   `json:"name"`
		Kinds []string `json:"kinds"`
	}
	ps := []provider{}
	for _, d := range providers.All() {
		ps = append(ps, provider{d.Name, d.Kinds})
	}
	writeLocalJSON(w, map[string]any{"apiKey": s.devKey, "base": s.URL, "version": buildinfo.String(), "providers": ps})
}

type ticketState struct {
	State      tickets.Freshness `json:"state"`
	AgeSeconds int64             `json:"ageSeconds"` // -1: no pair
}

type archivedOrder struct {
	Kind       string    `json:"kind"`
	OrderNo    string    `json:"orderNo"`
	ArchivedAt time.Time `json:"archivedAt"`
}

func (s *Stack) serveState(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	ts := ticketState{State: s.Reader.Freshness(ctx, s.Config.RefreshInterval), AgeSeconds: -1}
	if p, err := s.Reader.Get(ctx); err == nil {
		ts.AgeSeconds = int64(time.Since(p.FetchedAt) / time.Second)
	}
	calls := map[string]int64{}
	for _, up := range s.upstreams.list {
		c, ok := up.emu.Handler.(interface{ Counts() map[string]int64 })
		if !ok {
			continue
		}
		for k, v := range c.Counts() {
			calls[k] = v // one built-in emulator serves several providers
		}
	}
	today, suspended := s.quotaState(ctx)
	writeLocalJSON(w, map[string]any{"tickets": ts, "upstreamCalls": calls, "archived": s.latestArchived(10),
		"billableToday": today, "suspended": suspended, "callbacks": lastN(s.Callbacks(), 10)})
}

// quotaState reads today's billable calls per tenant ("" is the whole
// deployment) and the providers' suspensions from the quota store.
func (s *Stack) quotaState(ctx context.Context) (map[string]int64, map[string]string) {
	if s.Config.QuotaStoreURL == "" {
		return nil, nil
	}
	// Opened once: a Redis or DynamoDB store keeps a client.
	s.quotaOnce.Do(func() { s.quotaStore, _ = quota.Open(ctx, s.Config.QuotaStoreURL) })
	qs := s.quotaStore
	if qs == nil {
		return nil, nil
	}
	today, _ := qs.Counts(ctx, quota.Day(time.Now()))
	var suspended map[string]string
	if sus, ok := qs.(quota.Suspensions); ok {
		for _, p := range providers.Names() {
			if reason, until, err := sus.Suspension(ctx, p); err == nil && until.After(time.Now()) {
				if suspended == nil {
					suspended = map[string]string{}
				}
				suspended[p] = reason + " until " + until.UTC().Format(time.RFC3339)
			}
		}
	}
	return today, suspended
}

// latestArchived lists the newest done markers of a file archive.
func (s *Stack) latestArchived(n int) []archivedOrder {
	dir, ok := strings.CutPrefix(s.Config.ArchiveURL, "file://")
	if !ok {
		return nil
	}
	marks, _ := filepath.Glob(filepath.Join(dir, "_done", "*", "*.json"))
	var out []archivedOrder
	for _, p := range marks {
		b, err := os.ReadFile(p)
		var m archive.Marker
		if err != nil || json.Unmarshal(b, &m) != nil {
			continue
		}
		out = append(out, archivedOrder{Kind: m.Kind, OrderNo: m.OrderNo, ArchivedAt: m.ArchivedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ArchivedAt.After(out[j].ArchivedAt) })
	return out[:min(n, len(out))]
}

// serveOpenAPI serves the description with its server pointed at this
// stack, so that the docs' "try it out" reaches it on any port.
func (s *Stack) serveOpenAPI(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(path)
		if err != nil {
			http.Error(w, "docs/openapi.yaml not found: run make run from the repository", http.StatusNotFound)
			return
		}
		b = []byte(strings.Replace(string(b), "url: http://127.0.0.1:8080", "url: "+s.URL, 1))
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(b)
	}
}

func writeLocalJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

// lastN keeps the newest n.
func lastN[T any](xs []T, n int) []T {
	if len(xs) > n {
		xs = xs[len(xs)-n:]
	}
	if xs == nil {
		return []T{}
	}
	return xs
}
