// Command bench measures the local stack and prints markdown table rows,
// each figure next to a reference measured in the same run (make bench).
// Everything runs on 127.0.0.1.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardocr/cardocr/shared/devstack"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/loadtest"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/tickets"
	"github.com/cardocr/cardocr/shared/webank"
)

func main() {
	loadFor := flag.Duration("load", 20*time.Second, "load test duration")
	warmN := flag.Int("warm", 400, "sequential requests for the warm-overhead figures")
	fetchN := flag.Int("fetch", 10000, "requests for the token/ticket fetch comparison")
	bin := flag.String("idcardsubmit", "", "path of a built idcardsubmit binary for the RSS figure (skipped if empty)")
	redisBin := flag.String("redis-server", "redis-server", "redis-server for the quota-store figures (skipped if not found)")
	dynaliteBin := flag.String("dynalite", "dynalite", "dynalite for the quota-store figures (skipped if not found)")
	flag.Parse()
	ctx := context.Background()
	fmt.Println("| measure | this project | reference (same run) | ratio |")
	fmt.Println("|---|---|---|---|")
	warm(ctx, *warmN)
	quotaOverhead(ctx, *warmN, *redisBin, *dynaliteBin)
	fetches(ctx, *fetchN)
	throughput(ctx, *loadFor)
	if *bin != "" {
		rss(ctx, *bin)
	}
}

func row(measure, ours, ref, ratio string) {
	fmt.Printf("| %s | %s | %s | %s |\n", measure, ours, ref, ratio)
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + " ms" }

func pct(ds []time.Duration, p int) time.Duration {
	slices.Sort(ds)
	return ds[min(len(ds)-1, len(ds)*p/100)]
}

// timed wraps the emulator and records how long it spent on each call.
type timed struct {
	h    http.Handler
	mu   sync.Mutex
	last time.Duration
}

func (t *timed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t.h.ServeHTTP(w, r)
	t.mu.Lock()
	t.last += time.Since(start)
	t.mu.Unlock()
}

func (t *timed) take() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := t.last
	t.last = 0
	return d
}

func startStack(ctx context.Context, extra map[string]string) (*devstack.Stack, func()) {
	dir, _ := os.MkdirTemp("", "cardocr-bench")
	env := map[string]string{"PORT": "0", "LOG_LEVEL": "error"}
	for k, v := range extra {
		env[k] = v
	}
	s, err := devstack.Start(ctx, devstack.Options{Getenv: func(k string) string { return env[k] }, Dir: dir, Stdout: io.Discard, Logs: io.Discard})
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	return s, func() { s.Close(); os.RemoveAll(dir) }
}

func post(hc *http.Client, url, key string, body []byte) (int, []byte) {
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	return send(hc, req)
}

func send(hc *http.Client, req *http.Request) (int, []byte) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// warm: time in the function minus time in the upstream (emulator at zero
// latency), against the round trip of a bare loopback HTTP handler. No
// quota store: quotaOverhead puts one beside it.
func warm(ctx context.Context, n int) {
	sub, qry := warmRun(ctx, n, map[string]string{"QUOTA_STORE_URL": "off"})
	// Reference: a bare handler that writes a small JSON answer.
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 11}.JPEG()
	body, _ := json.Marshal(map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)})
	hc := &http.Client{}
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer bare.Close()
	var ref []time.Duration
	for i := 0; i < n; i++ {
		t0 := time.Now()
		post(hc, bare.URL, "", body)
		ref = append(ref, time.Since(t0))
	}
	r50, r99 := pct(ref, 50), pct(ref, 99)
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"submit", sub}, {"query", qry}} {
		p50, p99 := pct(m.ds, 50), pct(m.ds, 99)
		row("warm overhead, "+m.name+" p50 (function minus upstream)", ms(p50), ms(r50)+" bare loopback HTTP round trip", fmt.Sprintf("%.1f×", float64(p50)/float64(r50)))
		row("warm overhead, "+m.name+" p99", ms(p99), ms(r99), fmt.Sprintf("%.1f×", float64(p99)/float64(r99)))
	}
}

// warmRun submits n ID cards one after another, then queries each, on a
// stack with extra settings, and returns each call's time minus the
// upstream's.
func warmRun(ctx context.Context, n int, extra map[string]string) (sub, qry []time.Duration) {
	emu := emulator.New(emulator.Config{})
	tm := &timed{h: emu}
	up := httptest.NewServer(tm)
	defer up.Close()
	env := map[string]string{"KYC_BASE_URL": up.URL, "WEBANK_APP_ID": emulator.DefaultAppID, "WEBANK_SECRET": emulator.DefaultSecret}
	for k, v := range extra {
		env[k] = v
	}
	s, stop := startStack(ctx, env)
	defer stop()
	hc := &http.Client{}
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 11}.JPEG()
	body, _ := json.Marshal(map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)})
	var orders []string
	tm.take()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		st, b := post(hc, s.URL+"/v1/idcard/ocr", s.APIKey, body)
		total := time.Since(t0)
		if st != 200 {
			fmt.Fprintln(os.Stderr, "bench: submit", st)
			os.Exit(1)
		}
		sub = append(sub, total-tm.take())
		var r struct{ OrderNo string }
		json.Unmarshal(b, &r)
		orders = append(orders, r.OrderNo)
	}
	for _, o := range orders {
		req, _ := http.NewRequest("GET", s.URL+"/v1/idcard/results/"+o, nil)
		req.Header.Set("Authorization", "Bearer "+s.APIKey)
		t0 := time.Now()
		if st, _ := send(hc, req); st != 200 {
			fmt.Fprintln(os.Stderr, "bench: query", st)
			os.Exit(1)
		}
		qry = append(qry, time.Since(t0)-tm.take())
	}
	return sub, qry
}

// fetches: token+ticket fetches for n requests across 8 instances, each
// with its own cached reader, against a client that fetches per request.
func fetches(ctx context.Context, n int) {
	emu := emulator.New(emulator.Config{})
	up := httptest.NewServer(emu)
	defer up.Close()
	dir, _ := os.MkdirTemp("", "cardocr-bench")
	defer os.RemoveAll(dir)
	store := &secretstore.File{Path: filepath.Join(dir, "tickets.json")}
	client := webank.New(webank.Config{BaseURL: up.URL, AppID: emulator.DefaultAppID, Secret: emulator.DefaultSecret})
	ref := &tickets.Refresher{Store: store, WeBank: client, Interval: 20 * time.Minute, Logger: quiet}
	if _, err := ref.Refresh(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	var svcs []*ocr.Service
	for i := 0; i < 8; i++ {
		svcs = append(svcs, &ocr.Service{Providers: ocr.ProvidersOf(&webank.Provider{Client: client, Tickets: &tickets.Reader{Store: &secretstore.File{Path: store.Path}, TTL: 30 * time.Second}})})
	}
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 12}.JPEG()
	var failed atomic.Int64
	run := func(do func(i int) error) {
		var wg sync.WaitGroup
		next := atomic.Int64{}
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= n {
						return
					}
					if do(i) != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	}
	emu.ResetCounts()
	run(func(i int) error {
		_, err := svcs[i%8].SubmitIDCard(ctx, ocr.IDCardRequest{Side: "front", Image: ocr.BytesImage(img)})
		return err
	})
	ours := emu.Count("access_token") + emu.Count("api_ticket") + 2 // + the refresher's two
	oursFailed := failed.Load()
	if oursFailed > 0 { // a count of fetches for requests that failed means nothing
		fmt.Fprintf(os.Stderr, "bench: %d of %d submissions failed\n", oursFailed, n)
		os.Exit(1)
	}
	emu.ResetCounts()
	failed.Store(0)
	run(func(i int) error { // the anti-pattern: token and ticket per request
		tok, err := client.AccessToken(ctx)
		if err != nil {
			return err
		}
		tk, err := client.SignTicket(ctx, tok.Value)
		if err != nil {
			return err
		}
		_, err = client.SubmitIDCard(ctx, tk.Value, webank.SubmitRequest{OrderNo: sign.OrderNo("bn"), CardType: "0", Image: ocr.BytesImage(img)})
		return err
	})
	naive := emu.Count("access_token") + emu.Count("api_ticket")
	row(fmt.Sprintf("token+ticket fetches per %d requests, 8 instances", n), fmt.Sprintf("%d (failed requests: %d)", ours, oursFailed),
		fmt.Sprintf("%d fetch-per-request client (failed requests: %d)", naive, failed.Load()), fmt.Sprintf("1/%d", naive/max(ours, 1)))
}

func throughput(ctx context.Context, d time.Duration) {
	s, stop := startStack(ctx, nil)
	defer stop()
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 13}.JPEG()
	body, _ := json.Marshal(map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)})
	res := loadtest.Run(ctx, loadtest.Options{Clients: 64, Duration: d, MaxTotal: 2_000_000}, loadtest.JSONPost(s.URL+"/v1/idcard/ocr", s.APIKey, body))
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write([]byte(`{"status":"ok"}`))
	}))
	defer bare.Close()
	ref := loadtest.Run(ctx, loadtest.Options{Clients: 64, Duration: d / 4, MaxTotal: 2_000_000}, loadtest.JSONPost(bare.URL, "", body))
	row(fmt.Sprintf("throughput, 64 clients, %v, whole stack in one process (ID card submit)", d),
		fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, 5xx %d", res.Throughput, ms(res.P50), ms(res.P99), res.Count5xx()),
		fmt.Sprintf("%.0f req/s bare loopback handler", ref.Throughput), fmt.Sprintf("%.2f×", res.Throughput/ref.Throughput))
}

// rss: peak RSS of the idcardsubmit binary (HTTP mode) after one 2 MB
// image, against the same binary's peak after start-up and /healthz.
func rss(ctx context.Context, bin string) {
	emu := emulator.New(emulator.Config{})
	up := httptest.NewServer(emu)
	defer up.Close()
	dir, _ := os.MkdirTemp("", "cardocr-bench")
	defer os.RemoveAll(dir)
	store := &secretstore.File{Path: filepath.Join(dir, "tickets.json")}
	client := webank.New(webank.Config{BaseURL: up.URL, AppID: emulator.DefaultAppID, Secret: emulator.DefaultSecret})
	if _, err := (&tickets.Refresher{Store: store, WeBank: client, Interval: 20 * time.Minute, Logger: quiet}).Refresh(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return
	}
	port := freePort()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PORT=" + port, "BIND_ADDR=127.0.0.1", "KYC_BASE_URL=" + up.URL, "WEBANK_APP_ID=" + emulator.DefaultAppID,
		"TICKET_STORE_URL=file://" + store.Path, "API_KEYS=benchkey", "LOG_LEVEL=error"}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return
	}
	defer cmd.Process.Kill()
	base := "http://127.0.0.1:" + port
	hc := &http.Client{Timeout: 30 * time.Second}
	for i := 0; i < 100; i++ {
		if st, _ := send(hc, mustReq("GET", base+"/healthz")); st == 200 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	idle := vmHWM(cmd.Process.Pid)
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 14, MinSize: 2 << 20}.JPEG()
	body, _ := json.Marshal(map[string]any{"side": "front", "image": base64.StdEncoding.EncodeToString(img)})
	if st, _ := post(hc, base+"/v1/idcard/ocr", "benchkey", body); st != 200 {
		fmt.Fprintln(os.Stderr, "bench: rss submit", st)
	}
	peak := vmHWM(cmd.Process.Pid)
	row("peak RSS, idcardsubmit, one 2 MB image over HTTP (JSON base64)", fmt.Sprintf("%.1f MB", peak), fmt.Sprintf("%.1f MB same binary after start-up", idle), fmt.Sprintf("%.1f×", peak/idle))
}

func mustReq(method, url string) *http.Request {
	r, _ := http.NewRequest(method, url, nil)
	return r
}

func freePort() string {
	l := httptest.NewUnstartedServer(nil)
	addr := l.Listener.Addr().String()
	l.Listener.Close()
	return addr[strings.LastIndex(addr, ":")+1:]
}

// vmHWM reads the peak resident set size in MB from /proc.
func vmHWM(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
