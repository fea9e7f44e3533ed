package platform_test

// Test harness: builds binaries once per run, runs them as subprocesses on
// loopback, and plays each platform's side: a fake AWS Lambda Runtime API, a
// fake SCF Custom Runtime API, an SCF Go1 net/rpc client, and plain HTTP.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// waitLimit bounds every wait on a subprocess or a fake; it is a guard
	// against hangs, not a timed assertion.
	waitLimit = 20 * time.Second
)

var (
	binDir    string
	buildMu   sync.Mutex
	builtBins = map[string]string{}
	buildErrs = map[string]error{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "platform-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the module root (two levels above this package).
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// buildBinary builds the main package at pkg (relative to the module root) the
// way scripts/build.sh does, for the host, once per test run.
func buildBinary(t testing.TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := builtBins[pkg]; ok {
		return p
	}
	if err, ok := buildErrs[pkg]; ok {
		t.Fatalf("build %s: %v", pkg, err)
	}
	out := filepath.Join(binDir, strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "_"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-tags", "lambda.norpc", "-trimpath", "-o", out, pkg)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		buildErrs[pkg] = fmt.Errorf("%v\n%s", err, b)
		t.Fatalf("build %s: %v\n%s", pkg, err, b)
	}
	builtBins[pkg] = out
	return out
}

func testfn(t testing.TB) string { return buildBinary(t, "./shared/platform/internal/testfn") }

// syncBuffer collects a subprocess's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running function binary.
type proc struct {
	cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{}
	err    error
}

// start runs bin with exactly env (plus nothing inherited, so no platform
// variable of the test's own environment leaks in). The process is killed in
// t.Cleanup; its output is logged if the test failed.
func start(t *testing.T, bin string, env ...string) *proc {
	t.Helper()
	return startArgs(t, bin, nil, env...)
}

// startArgs is start with command-line arguments.
func startArgs(t *testing.T, bin string, args []string, env ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), output: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	p.cmd.Stdout = p.output
	p.cmd.Stderr = p.output
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(waitLimit):
			t.Errorf("process %d did not exit after kill", p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(bin), p.output.String())
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits for the process to exit on its own and returns its exit code.
func (p *proc) waitExit(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(waitLimit):
		t.Fatalf("process did not exit within %v", waitLimit)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("wait: %v", p.err)
	}
	return 0
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// result is one invocation's outcome as a platform sees it.
type result struct {
	errored bool   // a function error (AWS /error, SCF /error, Go1 InvokeResponse.Error)
	body    []byte // the response payload, or the error body
	errMsg  string
	errType string
	exit    bool // Go1 ShouldExit
}

// ---- fake AWS Lambda Runtime API ----

type awsInvocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan result
}

type awsRuntime struct {
	srv      *httptest.Server
	queue    chan *awsInvocation
	mu       sync.Mutex
	inflight map[string]*awsInvocation
	seq      int
	nexts    chan struct{} // one value per /next request received
}

func newAWSRuntime(t *testing.T) *awsRuntime {
	f := &awsRuntime{queue: make(chan *awsInvocation, 16), inflight: map[string]*awsInvocation{}, nexts: make(chan struct{}, 64)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		select {
		case f.nexts <- struct{}{}:
		default:
		}
		select {
		case inv := <-f.queue:
			f.mu.Lock()
			f.inflight[inv.id] = inv
			f.mu.Unlock()
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", inv.id)
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:ap-east-1:123456789012:function:testfn")
			w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-6724a000-0123456789abcdef01234567;Sampled=0")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(inv.payload)
		case <-r.Context().Done():
		}
	})
	finish := func(errored bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			f.mu.Lock()
			inv := f.inflight[r.PathValue("id")]
			delete(f.inflight, r.PathValue("id"))
			f.mu.Unlock()
			if inv == nil {
				http.Error(w, "unknown request id", http.StatusBadRequest)
				return
			}
			res := result{errored: errored, body: body}
			if errored {
				var e struct {
					Message string `json:"errorMessage"`
					Type    string `json:"errorType"`
				}
				_ = json.Unmarshal(body, &e)
				res.errMsg, res.errType = e.Message, e.Type
			}
			w.WriteHeader(http.StatusAccepted)
			inv.done <- res
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", finish(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", finish(true))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

func (f *awsRuntime) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// invoke queues payload and waits for the function's answer.
func (f *awsRuntime) invoke(t *testing.T, p *proc, payload []byte) result {
	t.Helper()
	f.mu.Lock()
	f.seq++
	id := fmt.Sprintf("8476a536-e9f4-11e8-9739-%012d", f.seq)
	f.mu.Unlock()
	inv := &awsInvocation{id: id, payload: payload, deadline: time.Now().Add(time.Minute), done: make(chan result, 1)}
	f.queue <- inv
	select {
	case res := <-inv.done:
		return res
	case <-p.done:
		t.Fatalf("function exited before answering: %v", p.err)
	case <-time.After(waitLimit):
		t.Fatalf("no answer within %v", waitLimit)
	}
	return result{}
}

func startAWS(t *testing.T, bin string, env ...string) (*awsRuntime, *proc) {
	f := newAWSRuntime(t)
	p := start(t, bin, append([]string{"AWS_LAMBDA_RUNTIME_API=" + f.addr(), "AWS_LAMBDA_FUNCTION_NAME=testfn"}, env...)...)
	return f, p
}

// ---- fake SCF Custom Runtime API ----

type scfInvocation struct {
	payload []byte
	done    chan result
}

type scfRuntime struct {
	srv     *httptest.Server
	queue   chan *scfInvocation
	mu      sync.Mutex
	current *scfInvocation
	calls   []string // "ready", "next", "response", "error" in arrival order
	seq     int
}

func newSCFRuntime(t *testing.T) *scfRuntime {
	f := &scfRuntime{queue: make(chan *scfInvocation, 16)}
	record := func(c string) {
		f.mu.Lock()
		f.calls = append(f.calls, c)
		f.mu.Unlock()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /runtime/init/ready", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		record("ready")
	})
	mux.HandleFunc("GET /runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		record("next")
		select {
		case inv := <-f.queue:
			f.mu.Lock()
			f.current = inv
			f.seq++
			id := fmt.Sprintf("c4b9a7e2-0000-4000-8000-%012d", f.seq)
			f.mu.Unlock()
			w.Header().Set("request_id", id)
			w.Header().Set("memory_limit_in_mb", "128")
			w.Header().Set("time_limit_in_ms", "60000")
			_, _ = w.Write(inv.payload)
		case <-r.Context().Done():
		}
	})
	finish := func(name string, errored bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			record(name)
			f.mu.Lock()
			inv := f.current
			f.current = nil
			f.mu.Unlock()
			if inv == nil {
				http.Error(w, "no invocation in progress", http.StatusBadRequest)
				return
			}
			res := result{errored: errored, body: body}
			if errored {
				var e struct {
					Message string `json:"errorMessage"`
					Type    string `json:"errorType"`
				}
				_ = json.Unmarshal(body, &e)
				res.errMsg, res.errType = e.Message, e.Type
			}
			inv.done <- res
		}
	}
	mux.HandleFunc("POST /runtime/invocation/response", finish("response", false))
	mux.HandleFunc("POST /runtime/invocation/error", finish("error", true))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.srv.CloseClientConnections()
		f.srv.Close()
	})
	return f
}

func (f *scfRuntime) hostPort() (string, string) {
	h, p, _ := net.SplitHostPort(strings.TrimPrefix(f.srv.URL, "http://"))
	return h, p
}

func (f *scfRuntime) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *scfRuntime) invoke(t *testing.T, p *proc, payload []byte) result {
	t.Helper()
	inv := &scfInvocation{payload: payload, done: make(chan result, 1)}
	f.queue <- inv
	select {
	case res := <-inv.done:
		return res
	case <-p.done:
		t.Fatalf("function exited before answering: %v", p.err)
	case <-time.After(waitLimit):
		t.Fatalf("no answer within %v", waitLimit)
	}
	return result{}
}

func startSCFRuntime(t *testing.T, bin string, env ...string) (*scfRuntime, *proc) {
	f := newSCFRuntime(t)
	host, port := f.hostPort()
	p := start(t, bin, append([]string{"SCF_RUNTIME_API=" + host, "SCF_RUNTIME_API_PORT=" + port, "_HANDLER=bootstrap"}, env...)...)
	return f, p
}

// ---- SCF Go1 (net/rpc) client, with scf-go-lib's message field names ----

type scfPingRequest struct{}
type scfPingResponse struct{}

type scfTimestamp struct {
	Seconds int64
	Nanos   int64
}

type scfInvokeRequest struct {
	Payload               []byte
	RequestId             string
	TraceId               string
	Deadline              scfTimestamp
	InvokedFunctionUnique string
	ClientContext         []byte
	Namespace             string
	FunctionName          string
	FunctionVersion       string
	MemoryLimitInMb       int32
	TimeLimitInMs         int32
	Environment           string
	TencentcloudRegion    string
	TencentcloudAppID     string
	TencentcloudUin       string
	FunctionTrace         string
}

type scfStackFrame struct {
	Path  string
	Line  int32
	Label string
}

type scfInvokeError struct {
	Message    string
	Type       string
	StackTrace []*scfStackFrame
	ShouldExit bool
}

type scfInvokeResponse struct {
	Payload []byte
	Error   *scfInvokeError
}

type go1Client struct {
	c   *rpc.Client
	seq int
}

// startGo1 starts bin in SCF Go1 mode on a loopback port and dials it,
// retrying until it listens.
func startGo1(t *testing.T, bin string, env ...string) (*go1Client, *proc) {
	t.Helper()
	port := freePort(t)
	p := start(t, bin, append([]string{"_LAMBDA_SERVER_PORT=" + port, "BIND_ADDR=127.0.0.1"}, env...)...)
	deadline := time.Now().Add(waitLimit)
	for {
		c, err := rpc.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return &go1Client{c: c}, p
		}
		if p.exited() {
			t.Fatalf("function exited before listening: %v", p.err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("function did not listen on %s: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (g *go1Client) ping(t *testing.T) {
	t.Helper()
	if err := g.call("Function.Ping", &scfPingRequest{}, &scfPingResponse{}); err != nil {
		t.Fatalf("Function.Ping: %v", err)
	}
}

func (g *go1Client) call(method string, args, reply any) error {
	call := g.c.Go(method, args, reply, make(chan *rpc.Call, 1))
	select {
	case c := <-call.Done:
		return c.Error
	case <-time.After(waitLimit):
		return fmt.Errorf("%s: no answer within %v", method, waitLimit)
	}
}

func (g *go1Client) invokeWith(t *testing.T, req scfInvokeRequest) result {
	t.Helper()
	g.seq++
	if req.RequestId == "" {
		req.RequestId = fmt.Sprintf("5f1d8c0e-0000-4000-8000-%012d", g.seq)
	}
	if req.Deadline == (scfTimestamp{}) {
		d := time.Now().Add(time.Minute)
		req.Deadline = scfTimestamp{Seconds: d.Unix(), Nanos: int64(d.Nanosecond())}
	}
	req.FunctionName, req.Namespace, req.FunctionVersion = "testfn", "default", "$LATEST"
	req.MemoryLimitInMb, req.TimeLimitInMs = 128, 60000
	req.TencentcloudRegion, req.TencentcloudAppID = "ap-guangzhou", "1250000000"
	var resp scfInvokeResponse
	if err := g.call("Function.Invoke", &req, &resp); err != nil {
		t.Fatalf("Function.Invoke: %v", err)
	}
	if resp.Error != nil {
		body, _ := json.Marshal(resp.Error)
		return result{errored: true, body: body, errMsg: resp.Error.Message, errType: resp.Error.Type, exit: resp.Error.ShouldExit}
	}
	return result{body: resp.Payload}
}

func (g *go1Client) invoke(t *testing.T, payload []byte) result {
	return g.invokeWith(t, scfInvokeRequest{Payload: payload})
}

// ---- HTTP mode ----

// startHTTP starts bin in HTTP mode on a loopback port and waits until
// GET /healthz answers.
func startHTTP(t *testing.T, bin string, env ...string) (string, *proc) {
	t.Helper()
	port := freePort(t)
	p := start(t, bin, append([]string{"PORT=" + port, "BIND_ADDR=127.0.0.1"}, env...)...)
	base := "http://127.0.0.1:" + port
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return base, p
		}
		if p.exited() {
			t.Fatalf("function exited before listening: %v", p.err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("function did not listen on %s: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- events and responses ----

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withPath rewrites an HTTP event fixture (a GET) into a bodyless GET of path
// with no query string and no cookies, keeping its shape.
func withPath(t *testing.T, event []byte, path string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(event, &m); err != nil {
		t.Fatal(err)
	}
	switch {
	case m["rawPath"] != nil: // payload 2.0
		m["rawPath"] = path
		m["rawQueryString"] = ""
		delete(m, "queryStringParameters")
		delete(m, "cookies")
		m["requestContext"].(map[string]any)["http"].(map[string]any)["path"] = path
	case m["resource"] != nil: // REST v1
		m["path"] = path
		delete(m, "queryStringParameters")
		delete(m, "multiValueQueryStringParameters")
	default: // SCF
		m["path"] = path
		delete(m, "queryString")
		delete(m, "queryStringParameters")
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// httpAnswer is an HTTP response normalized across platforms.
type httpAnswer struct {
	status      int
	contentType string
	body        []byte
}

// decodeProxyResponse reads any of the HTTP response shapes (payload 2.0,
// REST v1, SCF integration response).
func decodeProxyResponse(t *testing.T, payload []byte) httpAnswer {
	t.Helper()
	var r struct {
		StatusCode        int                 `json:"statusCode"`
		Headers           map[string]string   `json:"headers"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
		Body              string              `json:"body"`
		IsBase64Encoded   bool                `json:"isBase64Encoded"`
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		t.Fatalf("decode response %s: %v", payload, err)
	}
	a := httpAnswer{status: r.StatusCode, body: []byte(r.Body)}
	if r.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(r.Body)
		if err != nil {
			t.Fatalf("response body is not base64: %v", err)
		}
		a.body = b
	}
	for k, v := range r.Headers {
		if strings.EqualFold(k, "Content-Type") {
			a.contentType = v
		}
	}
	for k, v := range r.MultiValueHeaders {
		if strings.EqualFold(k, "Content-Type") && a.contentType == "" && len(v) > 0 {
			a.contentType = v[0]
		}
	}
	return a
}

func doHTTP(t *testing.T, req *http.Request) httpAnswer {
	t.Helper()
	resp, err := (&http.Client{Timeout: waitLimit}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpAnswer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: b}
}
