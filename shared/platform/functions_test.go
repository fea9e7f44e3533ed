package platform_test

// The real function binaries (functions/<name>/main.go), built once, started
// on every mode against a local configuration (file stores, the upstream
// emulator on loopback): HTTP functions answer /healthz, ticketrefresh
// answers its schedule, any other function at least starts.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

var httpFunctions = map[string]bool{
	"idcardsubmit": true, "bankcardsubmit": true, "ocrresult": true, "bankcardresult": true,
}

// functionNames lists functions/*/main.go.
func functionNames(t *testing.T) []string {
	t.Helper()
	mains, err := filepath.Glob(filepath.Join(repoRoot(t), "functions", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mains {
		names = append(names, filepath.Base(filepath.Dir(m)))
	}
	sort.Strings(names)
	return names
}

// buildFunctions builds every function in one go build (the packages compile
// in parallel), once per test run.
func buildFunctions(t *testing.T, names []string) map[string]string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	dir := filepath.Join(binDir, "functions")
	out := map[string]string{}
	var missing []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		out[n] = p
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, "./functions/"+n)
		}
	}
	if len(missing) == 0 {
		return out
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := append([]string{"build", "-tags", "lambda.norpc", "-trimpath", "-o", dir + string(filepath.Separator)}, missing...)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build functions: %v\n%s", err, b)
	}
	return out
}

// localEnv is a configuration every function can start with, offline.
func localEnv(t *testing.T, upstream string) []string {
	dir := t.TempDir()
	return []string{
		"KYC_BASE_URL=" + upstream,
		"WECHAT_BASE_URL=" + upstream,
		"WEBANK_APP_ID=" + emulator.DefaultAppID,
		"WEBANK_SECRET=" + emulator.DefaultSecret,
		"TICKET_STORE_URL=file://" + filepath.Join(dir, "tickets.json"),
		"ARCHIVE_URL=file://" + filepath.Join(dir, "archive"),
		"API_KEYS=test-key",
		"LOG_LEVEL=debug",
	}
}

func healthOK(t *testing.T, where string, a httpAnswer) {
	t.Helper()
	var h struct {
		Status  string `json:"status"`
		Tickets string `json:"tickets"`
	}
	if err := json.Unmarshal(a.body, &h); err != nil || a.status != http.StatusOK || h.Status != "ok" {
		t.Errorf("%s: /healthz answered %d %s", where, a.status, a.body)
	}
}

func refreshed(t *testing.T, where string, res result) {
	t.Helper()
	var out struct {
		Outcome string `json:"outcome"`
	}
	// Each mode starts with an empty ticket store: the first event fetches
	// a token and ticket from the emulator.
	if err := json.Unmarshal(res.body, &out); res.errored || err != nil || out.Outcome != "refreshed" {
		t.Errorf("%s: schedule answered %+v (%s), want outcome refreshed", where, res, res.body)
	}
}

func TestFunctionBinariesOnEveryMode(t *testing.T) {
	names := functionNames(t)
	if len(names) == 0 {
		t.Skip("no functions/*/main.go yet")
	}
	bins := buildFunctions(t, names)
	emu := httptest.NewServer(emulator.New(emulator.Config{}))
	t.Cleanup(emu.Close)

	v2Health := withPath(t, fixture(t, "aws-httpapi-v2-get.json"), "/healthz")
	scfHealth := withPath(t, fixture(t, "scf-functionurl-get-array-query.json"), "/healthz")
	schedule := fixture(t, "aws-eventbridge-scheduled.json")
	timer := fixture(t, "scf-timer.json")

	for _, name := range names {
		bin := bins[name]
		t.Run(name, func(t *testing.T) {
			t.Run("AWS", func(t *testing.T) {
				f, p := startAWS(t, bin, localEnv(t, emu.URL)...)
				switch {
				case httpFunctions[name]:
					healthOK(t, "AWS", decodeProxyResponse(t, f.invoke(t, p, v2Health).body))
				case name == "ticketrefresh":
					refreshed(t, "AWS", f.invoke(t, p, schedule))
				default:
					select {
					case <-f.nexts:
					case <-p.done:
						t.Fatalf("exited before its first next: %v", p.err)
					case <-time.After(waitLimit):
						t.Fatal("no next")
					}
				}
			})
			t.Run("SCF custom runtime", func(t *testing.T) {
				f, p := startSCFRuntime(t, bin, localEnv(t, emu.URL)...)
				switch {
				case httpFunctions[name]:
					healthOK(t, "SCF custom runtime", decodeProxyResponse(t, f.invoke(t, p, scfHealth).body))
				case name == "ticketrefresh":
					refreshed(t, "SCF custom runtime", f.invoke(t, p, timer))
				default:
					deadline := time.Now().Add(waitLimit)
					for !strings.Contains(strings.Join(f.callLog(), ","), "ready,next") {
						if p.exited() || time.Now().After(deadline) {
							t.Fatalf("no ready then next: %v (exited: %v)", f.callLog(), p.exited())
						}
						time.Sleep(20 * time.Millisecond)
					}
				}
			})
			t.Run("SCF Go1", func(t *testing.T) {
				g, _ := startGo1(t, bin, localEnv(t, emu.URL)...)
				g.ping(t)
				switch {
				case httpFunctions[name]:
					healthOK(t, "SCF Go1", decodeProxyResponse(t, g.invoke(t, scfHealth).body))
				case name == "ticketrefresh":
					refreshed(t, "SCF Go1", g.invoke(t, timer))
				}
			})
			t.Run("HTTP", func(t *testing.T) {
				base, _ := startHTTP(t, bin, localEnv(t, emu.URL)...)
				healthOK(t, "HTTP", doHTTP(t, newRequest(t, "GET", base+"/healthz", nil)))
				if name == "ticketrefresh" {
					a := doHTTP(t, newRequest(t, "POST", base+"/invoke", timer))
					refreshed(t, "HTTP /invoke", result{body: a.body, errored: a.status != 200})
				}
			})
		})
	}
}
