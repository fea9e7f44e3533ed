package platform_test

// End-to-end protocol tests: the test function binary (internal/testfn) is
// built once and driven through every platform's protocol.

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/rpc"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// echoed is what testfn's /echo answers.
type echoed struct {
	Method      string              `json:"method"`
	Path        string              `json:"path"`
	Query       map[string][]string `json:"query"`
	XCustom     []string            `json:"xCustom"`
	XMulti      string              `json:"xMulti"`
	ContentType string              `json:"contentType"`
	Cookies     []string            `json:"cookies"`
	Body        string              `json:"body"` // base64
	Deadline    bool                `json:"deadline"`
}

func decodeEcho(t *testing.T, a httpAnswer) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("echo body %q: %v", a.body, err)
	}
	return e
}

type sameCase struct {
	name string
	aws  [][]byte // events for the AWS Runtime API
	scf  [][]byte // events for SCF (Custom Runtime and Go1)
	req  func(base string) *http.Request
	// check asserts on the HTTP mode's answer; every other path must match it.
	check func(t *testing.T, a httpAnswer)
}

func newRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestSameRequestSameAnswerEverywhere sends the same requests as AWS HTTP API
// 2.0, Function URL and REST v1 events over the AWS Runtime API, as SCF
// Function URL / API Gateway events over the SCF Custom Runtime and Go1
// protocols, and as plain HTTP, and expects identical answers.
func TestSameRequestSameAnswerEverywhere(t *testing.T) {
	bin := testfn(t)
	aws, awsP := startAWS(t, bin)
	scf, scfP := startSCFRuntime(t, bin)
	g1, _ := startGo1(t, bin)
	base, _ := startHTTP(t, bin)
	g1.ping(t)

	v2Get := fixture(t, "aws-httpapi-v2-get.json")
	urlGet := fixture(t, "aws-functionurl-get.json")
	v1Get := fixture(t, "aws-rest-v1-get.json")
	scfGet := fixture(t, "scf-functionurl-get-array-query.json")
	binaryBody := []byte{0x00, 0x01, 0x02, 0xff, 0xfe}

	cases := []sameCase{
		{
			name: "query, comma and multi-value headers, cookies",
			aws:  [][]byte{v2Get, urlGet, v1Get},
			scf:  [][]byte{scfGet},
			req: func(base string) *http.Request {
				r := newRequest(t, "GET", base+"/echo?b=2&a=1&a=3&flag", nil)
				r.Header.Set("Accept", "application/json")
				r.Header.Set("X-Custom", "v1, v2")
				r.Header.Add("X-Multi", "a")
				r.Header.Add("X-Multi", "b")
				r.Header.Set("Cookie", "s=1; t=2")
				return r
			},
			check: func(t *testing.T, a httpAnswer) {
				if a.status != http.StatusCreated {
					t.Errorf("status %d", a.status)
				}
				e := decodeEcho(t, a)
				want := echoed{
					Method: "GET", Path: "/echo",
					Query:   map[string][]string{"a": {"1", "3"}, "b": {"2"}, "flag": {""}},
					XCustom: []string{"v1, v2"}, XMulti: "a,b", Cookies: []string{"s=1", "t=2"},
					Deadline: true,
				}
				if !reflect.DeepEqual(e, want) {
					t.Errorf("echo\n got %+v\nwant %+v", e, want)
				}
			},
		},
		{
			name: "binary request body",
			aws:  [][]byte{fixture(t, "aws-httpapi-v2-post-base64.json"), fixture(t, "aws-rest-v1-post-base64.json")},
			scf:  [][]byte{fixture(t, "scf-apigw-post-base64.json")},
			req: func(base string) *http.Request {
				r := newRequest(t, "POST", base+"/echo?x=1", binaryBody)
				r.Header.Set("Content-Type", "application/octet-stream")
				return r
			},
			check: func(t *testing.T, a httpAnswer) {
				e := decodeEcho(t, a)
				if e.Method != "POST" || e.Body != "AAEC//4=" || e.ContentType != "application/octet-stream" ||
					!reflect.DeepEqual(e.Query, map[string][]string{"x": {"1"}}) || !e.Deadline {
					t.Errorf("echo %+v", e)
				}
			},
		},
		{
			name: "JSON request body, SCF string query form",
			aws:  [][]byte{fixture(t, "aws-functionurl-post-json.json")},
			scf:  [][]byte{fixture(t, "scf-functionurl-post-string-query.json")},
			req: func(base string) *http.Request {
				r := newRequest(t, "POST", base+"/echo?x=1", []byte(`{"hello":"世界"}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			check: func(t *testing.T, a httpAnswer) {
				e := decodeEcho(t, a)
				if e.Body != "eyJoZWxsbyI6IuS4lueVjCJ9" || e.ContentType != "application/json" {
					t.Errorf("echo %+v", e)
				}
			},
		},
		{
			name: "binary response",
			aws:  [][]byte{withPath(t, v2Get, "/binary"), withPath(t, urlGet, "/binary"), withPath(t, v1Get, "/binary")},
			scf:  [][]byte{withPath(t, scfGet, "/binary")},
			req:  func(base string) *http.Request { return newRequest(t, "GET", base+"/binary", nil) },
			check: func(t *testing.T, a httpAnswer) {
				if a.status != 200 || a.contentType != "image/png" || len(a.body) != 256 || a.body[255] != 255 {
					t.Errorf("got %d %q %d bytes", a.status, a.contentType, len(a.body))
				}
			},
		},
		{
			name: "handler writes nothing",
			aws:  [][]byte{withPath(t, v2Get, "/nowrite"), withPath(t, v1Get, "/nowrite")},
			scf:  [][]byte{withPath(t, scfGet, "/nowrite")},
			req:  func(base string) *http.Request { return newRequest(t, "GET", base+"/nowrite", nil) },
			check: func(t *testing.T, a httpAnswer) {
				if a.status != 200 || len(a.body) != 0 {
					t.Errorf("got %d %q", a.status, a.body)
				}
			},
		},
		{
			name: "not found",
			aws:  [][]byte{withPath(t, v2Get, "/nope"), withPath(t, v1Get, "/nope")},
			scf:  [][]byte{withPath(t, scfGet, "/nope")},
			req:  func(base string) *http.Request { return newRequest(t, "GET", base+"/nope", nil) },
			check: func(t *testing.T, a httpAnswer) {
				if a.status != 404 {
					t.Errorf("got %d", a.status)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := doHTTP(t, c.req(base))
			c.check(t, want)
			got := map[string]httpAnswer{}
			for i, ev := range c.aws {
				res := aws.invoke(t, awsP, ev)
				if res.errored {
					t.Fatalf("AWS event %d: function error %s", i, res.body)
				}
				got["aws event "+string(rune('0'+i))] = decodeProxyResponse(t, res.body)
			}
			for i, ev := range c.scf {
				res := scf.invoke(t, scfP, ev)
				if res.errored {
					t.Fatalf("SCF custom runtime event %d: function error %s", i, res.body)
				}
				got["SCF custom runtime event "+string(rune('0'+i))] = decodeProxyResponse(t, res.body)
				res = g1.invoke(t, ev)
				if res.errored {
					t.Fatalf("SCF Go1 event %d: function error %s", i, res.body)
				}
				got["SCF Go1 event "+string(rune('0'+i))] = decodeProxyResponse(t, res.body)
			}
			for path, a := range got {
				if a.status != want.status || a.contentType != want.contentType || !bytes.Equal(a.body, want.body) {
					t.Errorf("%s answered %d %q %q; HTTP mode answered %d %q %q",
						path, a.status, a.contentType, a.body, want.status, want.contentType, want.body)
				}
			}
		})
	}
	if calls := scf.callLog(); len(calls) < 2 || calls[0] != "ready" || calls[1] != "next" {
		t.Errorf("SCF custom runtime calls %v, want ready before the first next", calls)
	}
}

func handled(t *testing.T, res result) string {
	t.Helper()
	if res.errored {
		t.Fatalf("function error: %s", res.body)
	}
	var out struct {
		Handled  string `json:"handled"`
		Deadline bool   `json:"deadline"`
	}
	if err := json.Unmarshal(res.body, &out); err != nil {
		t.Fatalf("event result %q: %v", res.body, err)
	}
	if !out.Deadline {
		t.Errorf("event handler saw no deadline")
	}
	return out.Handled
}

func readLog(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// TestScheduledAndOtherEvents: EventBridge rule and SCF timer events reach
// Event (the refresher's trigger); so do Scheduler input, queue and object
// events, on every event platform.
func TestScheduledAndOtherEvents(t *testing.T) {
	bin := testfn(t)
	dir := t.TempDir()

	t.Run("AWS", func(t *testing.T) {
		logf := filepath.Join(dir, "aws.log")
		f, p := startAWS(t, bin, "TESTFN_EVENT_LOG="+logf)
		want := map[string]string{
			"aws-eventbridge-scheduled.json": "eventbridge-schedule",
			"aws-scheduler-input.json":       "other",
			"aws-sqs.json":                   "other",
			"aws-s3-object-created.json":     "other",
		}
		for _, name := range []string{"aws-eventbridge-scheduled.json", "aws-scheduler-input.json", "aws-sqs.json", "aws-s3-object-created.json"} {
			if got := handled(t, f.invoke(t, p, fixture(t, name))); got != want[name] {
				t.Errorf("%s handled as %q, want %q", name, got, want[name])
			}
		}
		if got := readLog(t, logf); !reflect.DeepEqual(got, []string{"eventbridge-schedule", "other", "other", "other"}) {
			t.Errorf("event log %v", got)
		}
	})
	events := []string{"scf-timer.json", "scf-cos-object-created.json", "scf-cmq-topic.json"}
	wantLog := []string{"scf-timer", "other", "other"}
	t.Run("SCF custom runtime", func(t *testing.T) {
		logf := filepath.Join(dir, "scf.log")
		f, p := startSCFRuntime(t, bin, "TESTFN_EVENT_LOG="+logf)
		for i, name := range events {
			if got := handled(t, f.invoke(t, p, fixture(t, name))); got != wantLog[i] {
				t.Errorf("%s handled as %q", name, got)
			}
		}
		if got := readLog(t, logf); !reflect.DeepEqual(got, wantLog) {
			t.Errorf("event log %v", got)
		}
		if calls := f.callLog(); calls[0] != "ready" {
			t.Errorf("calls %v: ready was not first", calls)
		}
	})
	t.Run("SCF Go1", func(t *testing.T) {
		logf := filepath.Join(dir, "go1.log")
		g, _ := startGo1(t, bin, "TESTFN_EVENT_LOG="+logf)
		for i, name := range events {
			if got := handled(t, g.invoke(t, fixture(t, name))); got != wantLog[i] {
				t.Errorf("%s handled as %q", name, got)
			}
		}
		if got := readLog(t, logf); !reflect.DeepEqual(got, wantLog) {
			t.Errorf("event log %v", got)
		}
	})
	t.Run("HTTP mode, event-only function", func(t *testing.T) {
		base, _ := startHTTP(t, bin, "TESTFN_NO_HTTP=1")
		a := doHTTP(t, newRequest(t, "POST", base+"/invoke", fixture(t, "scf-timer.json")))
		if got := handled(t, result{body: a.body}); a.status != 200 || got != "scf-timer" {
			t.Errorf("POST /invoke: %d %s", a.status, a.body)
		}
		if a := doHTTP(t, newRequest(t, "GET", base+"/healthz", nil)); a.status != 200 {
			t.Errorf("GET /healthz: %d", a.status)
		}
	})
	// POST /invoke is unauthenticated: without BIND_ADDR an event-only
	// function listens on loopback only (the test reads where it listens;
	// it never connects anywhere but 127.0.0.1).
	t.Run("HTTP mode, event-only function, default bind", func(t *testing.T) {
		port := freePort(t)
		p := start(t, bin, "PORT="+port, "TESTFN_NO_HTTP=1")
		deadline := time.Now().Add(waitLimit)
		for !strings.Contains(p.output.String(), `listening`) {
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("not listening: %s", p.output.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if out := p.output.String(); !strings.Contains(out, `addr=127.0.0.1:`+port) && !strings.Contains(out, `"addr":"127.0.0.1:`+port+`"`) {
			t.Errorf("an event-only function listens beyond loopback: %s", out)
		}
	})
}

// TestHandlerPanic: a panic becomes a function error; then each platform's
// expected behaviour: AWS reports and exits, SCF Custom Runtime reports and
// exits (a fresh instance follows), SCF Go1 answers ShouldExit and keeps
// serving until the runtime replaces it, HTTP answers 500 and keeps serving.
func TestHandlerPanic(t *testing.T) {
	bin := testfn(t)
	scfGet := fixture(t, "scf-functionurl-get-array-query.json")

	t.Run("AWS", func(t *testing.T) {
		f, p := startAWS(t, bin)
		res := f.invoke(t, p, withPath(t, fixture(t, "aws-httpapi-v2-get.json"), "/panic"))
		if !res.errored || res.errMsg != "testfn: boom" {
			t.Fatalf("got %+v, want a function error", res)
		}
		if code := p.waitExit(t); code == 0 {
			t.Errorf("exit code 0 after a panic")
		}
	})
	t.Run("SCF custom runtime", func(t *testing.T) {
		f, p := startSCFRuntime(t, bin)
		res := f.invoke(t, p, []byte(`{"panic":true}`))
		if !res.errored || res.errMsg != "testfn: event boom" {
			t.Fatalf("got %+v, want a function error", res)
		}
		if code := p.waitExit(t); code == 0 {
			t.Errorf("exit code 0 after a panic")
		}
		if calls := f.callLog(); calls[len(calls)-1] != "error" {
			t.Errorf("calls %v", calls)
		}
	})
	t.Run("SCF Go1", func(t *testing.T) {
		g, _ := startGo1(t, bin)
		res := g.invoke(t, withPath(t, scfGet, "/panic"))
		if !res.errored || !res.exit || res.errMsg != "testfn: boom" || res.errType != "string" {
			t.Fatalf("got %+v (%s), want a function error with ShouldExit", res, res.body)
		}
		var e scfInvokeError
		_ = json.Unmarshal(res.body, &e)
		if len(e.StackTrace) == 0 {
			t.Errorf("no stack trace")
		}
		g.ping(t)
		a := decodeProxyResponse(t, g.invoke(t, scfGet).body)
		if a.status != http.StatusCreated {
			t.Errorf("next invocation: status %d", a.status)
		}
	})
	t.Run("HTTP", func(t *testing.T) {
		base, _ := startHTTP(t, bin)
		a := doHTTP(t, newRequest(t, "GET", base+"/panic", nil))
		var body struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(a.body, &body); err != nil || a.status != 500 || body.Error.Code != "internal" {
			t.Errorf("got %d %s", a.status, a.body)
		}
		if a := doHTTP(t, newRequest(t, "GET", base+"/healthz", nil)); a.status != 200 {
			t.Errorf("after panic: %d", a.status)
		}
	})
}

// TestFunctionErrorsKeepServing: a returned error is a function error and the
// process serves the next invocation; an event without a handler is
// "unsupported event".
func TestFunctionErrorsKeepServing(t *testing.T) {
	bin := testfn(t)
	timer := fixture(t, "scf-timer.json")
	fail := []byte(`{"fail":true}`)
	check := func(t *testing.T, res result, msg string) {
		t.Helper()
		if !res.errored || !strings.Contains(res.errMsg, msg) || res.exit {
			t.Errorf("got %+v, want a function error containing %q", res, msg)
		}
	}
	t.Run("AWS", func(t *testing.T) {
		f, p := startAWS(t, bin)
		check(t, f.invoke(t, p, fail), "testfn: event failed")
		if got := handled(t, f.invoke(t, p, timer)); got != "scf-timer" {
			t.Errorf("handled %q", got)
		}
		f2, p2 := startAWS(t, bin, "TESTFN_NO_EVENT=1")
		check(t, f2.invoke(t, p2, timer), "unsupported event")
		a := decodeProxyResponse(t, f2.invoke(t, p2, fixture(t, "aws-httpapi-v2-get.json")).body)
		if a.status != http.StatusCreated {
			t.Errorf("after unsupported event: %d", a.status)
		}
	})
	t.Run("SCF custom runtime", func(t *testing.T) {
		f, p := startSCFRuntime(t, bin)
		check(t, f.invoke(t, p, fail), "testfn: event failed")
		if got := handled(t, f.invoke(t, p, timer)); got != "scf-timer" {
			t.Errorf("handled %q", got)
		}
		f2, p2 := startSCFRuntime(t, bin, "TESTFN_NO_EVENT=1")
		check(t, f2.invoke(t, p2, timer), "unsupported event")
	})
	t.Run("SCF Go1", func(t *testing.T) {
		g, _ := startGo1(t, bin)
		check(t, g.invoke(t, fail), "testfn: event failed")
		if got := handled(t, g.invoke(t, timer)); got != "scf-timer" {
			t.Errorf("handled %q", got)
		}
		g2, _ := startGo1(t, bin, "TESTFN_NO_EVENT=1")
		check(t, g2.invoke(t, timer), "unsupported event")
	})
}

// TestGo1AppliesEnvironment: SCF Go1 sends environment variables with every
// invoke; each key is set before the handler runs.
func TestGo1AppliesEnvironment(t *testing.T) {
	bin := testfn(t)
	g, _ := startGo1(t, bin, "TESTFN_FROM_SCF=process")
	ev := withPath(t, fixture(t, "scf-functionurl-get-array-query.json"), "/env/TESTFN_FROM_SCF")
	value := func(environment string) string {
		t.Helper()
		res := g.invokeWith(t, scfInvokeRequest{Payload: ev, Environment: environment})
		a := decodeProxyResponse(t, res.body)
		var out struct {
			Value string `json:"value"`
		}
		if err := json.Unmarshal(a.body, &out); err != nil {
			t.Fatalf("%d %s: %v", a.status, a.body, err)
		}
		return out.Value
	}
	if got := value(""); got != "process" {
		t.Errorf("without Environment: %q", got)
	}
	if got := value(`{"TESTFN_FROM_SCF":"first","SCF_NAMESPACE":"default"}`); got != "first" {
		t.Errorf("first invoke: %q", got)
	}
	if got := value(`{"TESTFN_FROM_SCF":"second"}`); got != "second" {
		t.Errorf("second invoke: %q", got)
	}
}

// TestGo1RPCProtocol: concurrent calls on one connection, each answered under
// its own sequence number, and an unknown method answered with an error, as
// net/rpc's server does.
func TestGo1RPCProtocol(t *testing.T) {
	bin := testfn(t)
	g, _ := startGo1(t, bin)
	ev := withPath(t, fixture(t, "scf-functionurl-get-array-query.json"), "/env/TESTFN_NONE")
	var calls []*rpc.Call
	for i := 0; i < 8; i++ {
		req := &scfInvokeRequest{Payload: ev, RequestId: "concurrent-" + strconv.Itoa(i)}
		calls = append(calls, g.c.Go("Function.Invoke", req, new(scfInvokeResponse), make(chan *rpc.Call, 1)))
	}
	for _, c := range calls {
		select {
		case <-c.Done:
		case <-time.After(waitLimit):
			t.Fatal("no answer")
		}
		resp := c.Reply.(*scfInvokeResponse)
		if c.Error != nil || resp.Error != nil || decodeProxyResponse(t, resp.Payload).status != 200 {
			t.Errorf("call: %v %+v", c.Error, resp)
		}
	}
	err := g.call("Function.Nope", &scfPingRequest{}, &scfPingResponse{})
	if err == nil || !strings.Contains(err.Error(), "can't find method") {
		t.Errorf("unknown method: %v", err)
	}
	g.ping(t) // the connection survives
}
