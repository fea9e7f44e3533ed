package platform

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassifyFixtures(t *testing.T) {
	want := map[string]eventKind{
		"aws-httpapi-v2-get.json":                kindAPIGWv2,
		"aws-httpapi-v2-post-base64.json":        kindAPIGWv2,
		"aws-functionurl-get.json":               kindAPIGWv2,
		"aws-functionurl-post-json.json":         kindAPIGWv2,
		"aws-rest-v1-get.json":                   kindAPIGWv1,
		"aws-rest-v1-post-base64.json":           kindAPIGWv1,
		"scf-functionurl-get-array-query.json":   kindSCFHTTP,
		"scf-functionurl-post-string-query.json": kindSCFHTTP,
		"scf-apigw-post-base64.json":             kindSCFHTTP,
		"aws-eventbridge-scheduled.json":         kindOther,
		"aws-scheduler-input.json":               kindOther,
		"aws-sqs.json":                           kindOther,
		"aws-s3-object-created.json":             kindOther,
		"scf-timer.json":                         kindOther,
		"scf-cos-object-created.json":            kindOther,
		"scf-cmq-topic.json":                     kindOther,
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	if len(files) != len(want) {
		t.Errorf("%d fixtures, %d classified here: keep the table complete", len(files), len(want))
	}
	for name, k := range want {
		if got := classify(readFixture(t, name)); got != k {
			t.Errorf("%s: %v, want %v", name, got, k)
		}
	}
}

func TestClassifyEdges(t *testing.T) {
	for payload, want := range map[string]eventKind{
		``:                                 kindOther,
		`null`:                             kindOther,
		`[1,2]`:                            kindOther,
		`"GET"`:                            kindOther,
		`{"HttpMethod":"GET","Path":"/"}`:  kindOther, // keys are case-sensitive
		`{"httpMethod":"GET","path":"/x"}`: kindSCFHTTP,
		`{"httpMethod":"","path":"/x"}`:    kindOther,
		`{"httpMethod":1,"path":"/x"}`:     kindOther,
		`{"version":"2.0","rawPath":"/x"}`: kindOther, // no requestContext.http
		`{"version":"2.0","rawPath":"/x","requestContext":{"http":{"method":"GET"}}}`: kindAPIGWv2,
		`{"version":"1.0","rawPath":"/x","requestContext":{"http":{"method":"GET"}}}`: kindOther,
		`{"httpMethod":"GET","resource":"/","path":"/","requestContext":{}}`:          kindAPIGWv1,
		`{"Type":"Timer","TriggerName":"t","Time":"2026-11-03T08:00:00Z"}`:            kindOther,
	} {
		if got := classify([]byte(payload)); got != want {
			t.Errorf("%s: %v, want %v", payload, got, want)
		}
	}
}

func TestDetectMode(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		get  func(string) string
		want mode
	}{
		{env(), modeHTTP},
		{env("PORT", "9000"), modeHTTP},
		{env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"), modeAWS},
		{env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001", "_LAMBDA_SERVER_PORT", "1"), modeAWS},
		{env("SCF_RUNTIME_API", "127.0.0.1", "SCF_RUNTIME_API_PORT", "9001"), modeSCFRuntime},
		{env("_LAMBDA_SERVER_PORT", "9002"), modeSCFGo1},
	} {
		if got := c.get; detectMode(got) != c.want {
			t.Errorf("got %v, want %v", detectMode(got), c.want)
		}
	}
	if !onSCF([]string{"PATH=/bin", "SCF_FUNCTIONNAME=x"}) || onSCF([]string{"PATH=/bin", "MY_SCF_X=1"}) {
		t.Error("onSCF")
	}
}

// inspect is a handler that reports what it saw.
type seen struct {
	header   http.Header
	host     string
	uri      string
	body     []byte
	deadline bool
}

func inspect(s *seen) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.header, s.host, s.uri = r.Header.Clone(), r.Host, r.RequestURI
		s.body, _ = io.ReadAll(r.Body)
		_, s.deadline = r.Context().Deadline()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusAccepted)
		w.Header().Set("X-Too-Late", "1") // ignored, as net/http does
		_, _ = io.WriteString(w, "ok")
	})
}

func deadlineCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestAPIGWv2KeepsCommaHeaders(t *testing.T) {
	var s seen
	resp, err := serveAPIGWv2(deadlineCtx(t), inspect(&s), readFixture(t, "aws-httpapi-v2-get.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.header.Values("X-Custom"); !reflect.DeepEqual(got, []string{"v1, v2"}) {
		t.Errorf("X-Custom = %q, want one value", got)
	}
	if got := s.header.Values("Cookie"); !reflect.DeepEqual(got, []string{"s=1; t=2"}) {
		t.Errorf("Cookie = %q", got)
	}
	if s.host != "a1b2c3d4e5.execute-api.ap-east-1.amazonaws.com" || s.uri != "/echo?b=2&a=1&a=3&flag" || !s.deadline {
		t.Errorf("host %q uri %q deadline %v", s.host, s.uri, s.deadline)
	}
	if resp.StatusCode != 202 || resp.Body != "ok" || resp.IsBase64Encoded || resp.Headers["X-Too-Late"] != "" {
		t.Errorf("response %+v", resp)
	}
}

func TestAPIGWv1MultiValue(t *testing.T) {
	var s seen
	resp, err := serveAPIGWv1(deadlineCtx(t), inspect(&s), readFixture(t, "aws-rest-v1-post-base64.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(s.body) != "\x00\x01\x02\xff\xfe" || !s.deadline {
		t.Errorf("body %q deadline %v", s.body, s.deadline)
	}
	if resp.StatusCode != 202 || resp.Body != "ok" {
		t.Errorf("response %+v", resp)
	}
	_, err = serveAPIGWv1(deadlineCtx(t), inspect(&s), readFixture(t, "aws-rest-v1-get.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.header.Values("X-Multi"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("X-Multi = %q", got)
	}
}

func TestSCFQueryForms(t *testing.T) {
	var q map[string]lenientValues
	if err := json.Unmarshal([]byte(`{"b":"2","a":["1","3"],"flag":true,"off":false,"n":null,"num":7,"sp":"x y&z"}`), &q); err != nil {
		t.Fatal(err)
	}
	if got, want := scfQuery(q), "a=1&a=3&b=2&flag&num=7&sp=x+y%26z"; got != want {
		t.Errorf("query %q, want %q", got, want)
	}
	var bad lenientValues
	if err := json.Unmarshal([]byte(`{"x":1}`), &bad); err == nil {
		t.Error("object accepted as a query value")
	}
}

func TestSCFHTTPAdapter(t *testing.T) {
	var s seen
	resp, err := serveSCFHTTP(deadlineCtx(t), inspect(&s), readFixture(t, "scf-functionurl-get-array-query.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.uri != "/echo?a=1&a=3&b=2&flag" || s.host != "1250000000-k8xq2vz0sd.ap-guangzhou.tencentscf.com" || !s.deadline {
		t.Errorf("uri %q host %q deadline %v", s.uri, s.host, s.deadline)
	}
	if got := s.header.Values("X-Custom"); !reflect.DeepEqual(got, []string{"v1, v2"}) {
		t.Errorf("X-Custom = %q", got)
	}
	if resp.StatusCode != 202 || resp.Body != "ok" || resp.IsBase64Encoded || resp.Headers["X-Too-Late"] != "" {
		t.Errorf("response %+v", resp)
	}
	// A path with escapes and a header given as an array.
	payload := `{"httpMethod":"post","path":"/a%20b/c","headers":{"x-list":["1","2"]},"queryString":{},"body":"hi"}`
	if _, err := serveSCFHTTP(deadlineCtx(t), inspect(&s), []byte(payload)); err != nil {
		t.Fatal(err)
	}
	if s.uri != "/a%20b/c" || string(s.body) != "hi" || !reflect.DeepEqual(s.header.Values("X-List"), []string{"1", "2"}) {
		t.Errorf("uri %q body %q header %v", s.uri, s.body, s.header)
	}
}

func TestBinaryResponses(t *testing.T) {
	png := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("PNG-but-valid-utf8"))
	})
	want := base64.StdEncoding.EncodeToString([]byte("PNG-but-valid-utf8"))
	v2, err := serveAPIGWv2(deadlineCtx(t), png, readFixture(t, "aws-httpapi-v2-get.json"))
	if err != nil || !v2.IsBase64Encoded || v2.Body != want {
		t.Errorf("v2 %+v %v", v2, err)
	}
	scf, err := serveSCFHTTP(deadlineCtx(t), png, readFixture(t, "scf-functionurl-get-array-query.json"))
	if err != nil || !scf.IsBase64Encoded || scf.Body != want {
		t.Errorf("scf %+v %v", scf, err)
	}
	for ct, want := range map[string]bool{
		"application/json; charset=utf-8": true, "text/html": true, "application/problem+json": true,
		"image/svg+xml": true, "image/jpeg": false, "application/octet-stream": false, "": false, "bogus": false,
	} {
		if isTextual(ct) != want {
			t.Errorf("isTextual(%q) = %v", ct, !want)
		}
	}
}

func TestDispatch(t *testing.T) {
	var got json.RawMessage
	d := newDispatcher(Function{Name: "t", Logger: slog.New(slog.DiscardHandler),
		Event: func(ctx context.Context, ev json.RawMessage) (any, error) {
			got = ev
			return map[string]string{"ok": "yes"}, nil
		}})
	// No HTTP handler: HTTP events go to Event too.
	out, ierr := d.safeHandle(context.Background(), readFixture(t, "aws-httpapi-v2-get.json"))
	if ierr != nil || string(out) != `{"ok":"yes"}` || len(got) == 0 {
		t.Errorf("%s %+v", out, ierr)
	}
	d = newDispatcher(Function{Name: "t", HTTP: inspect(&seen{}), Logger: slog.New(slog.DiscardHandler)})
	_, err := d.handle(context.Background(), readFixture(t, "scf-timer.json"))
	if !errors.Is(err, ErrUnsupportedEvent) {
		t.Errorf("timer without Event: %v", err)
	}
	d = newDispatcher(Function{Name: "t", Logger: slog.New(slog.DiscardHandler),
		Event: func(ctx context.Context, ev json.RawMessage) (any, error) { panic(errors.New("kaboom")) }})
	_, ierr = d.safeHandle(context.Background(), []byte(`{}`))
	if ierr == nil || !ierr.panicked || ierr.Message != "kaboom" || ierr.Type != "errorString" || len(ierr.StackTrace) == 0 ||
		!strings.Contains(ierr.StackTrace[0].Label, "TestDispatch") {
		t.Errorf("panic: %+v", ierr)
	}
}

func TestAPIGWv2ResponseShape(t *testing.T) {
	// The v2 response must carry cookies separately (Set-Cookie) for HTTP API and Function URLs.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		w.WriteHeader(204)
	})
	resp, err := serveAPIGWv2(context.Background(), h, readFixture(t, "aws-functionurl-get.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(resp.Cookies, []string{"a=1", "b=2"}) || resp.StatusCode != 204 {
		t.Errorf("%+v", resp)
	}
}
