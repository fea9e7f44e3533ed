package platform

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// AWS HTTP events (HTTP API payload 2.0, Lambda Function URL, REST v1) go
// through aws-lambda-go-api-proxy's httpadapter, with three corrections made
// around it rather than inside it:
//
//   - payload 2.0 headers: the proxy splits every header outside a fixed
//     "singleton" list on commas (x-custom: "a, b" becomes two values,
//     awslabs/aws-lambda-go-api-proxy#171). The handler instead sees each
//     header exactly as the event carried it (one value; API Gateway already
//     joined repeated headers with commas), and the event's cookies as one
//     Cookie header.
//   - a handler that writes nothing: the proxy answers 504 with an error
//     ("Status code not set on response"); net/http semantics are 200 with an
//     empty body, and WriteHeader's first call wins.
//   - binary responses: the proxy base64-encodes only bodies that are not
//     valid UTF-8; bodies whose Content-Type is not textual are encoded too.

// serveAPIGWv2 serves an HTTP API payload 2.0 or a Function URL event. Their
// response shapes are the same (statusCode, headers, cookies, body,
// isBase64Encoded).
func serveAPIGWv2(ctx context.Context, h http.Handler, payload []byte) (events.APIGatewayV2HTTPResponse, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return events.APIGatewayV2HTTPResponse{}, fmt.Errorf("decode HTTP API payload 2.0 event: %w", err)
	}
	fixed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		restoreV2Headers(r, ev.Headers, ev.Cookies)
		serveGuarded(h, w, r)
	})
	resp, err := httpadapter.NewV2(fixed).ProxyWithContext(ctx, ev)
	if err != nil {
		return resp, err
	}
	resp.Body, resp.IsBase64Encoded = encodeBinary(resp.Body, resp.IsBase64Encoded, headerValue(resp.Headers, "Content-Type"))
	return resp, nil
}

// serveAPIGWv1 serves a REST API (v1) proxy event.
func serveAPIGWv1(ctx context.Context, h http.Handler, payload []byte) (events.APIGatewayProxyResponse, error) {
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("decode REST API event: %w", err)
	}
	guarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveGuarded(h, w, r) })
	resp, err := httpadapter.New(guarded).ProxyWithContext(ctx, ev)
	if err != nil {
		return resp, err
	}
	ct := headerValue(resp.Headers, "Content-Type")
	if vs := headerValues(resp.MultiValueHeaders, "Content-Type"); ct == "" && len(vs) > 0 {
		ct = vs[0]
	}
	resp.Body, resp.IsBase64Encoded = encodeBinary(resp.Body, resp.IsBase64Encoded, ct)
	return resp, nil
}

// restoreV2Headers replaces the request headers the proxy built with the
// event's headers, one value each, undoing the proxy's comma splitting.
func restoreV2Headers(r *http.Request, headers map[string]string, cookies []string) {
	for k, v := range headers {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if ck == "Host" {
			r.Host = v
			continue
		}
		r.Header[ck] = []string{v}
	}
	if len(cookies) > 0 {
		r.Header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
}

// serveGuarded calls h with net/http's status semantics: the first
// WriteHeader wins, and a handler that writes nothing answers 200.
func serveGuarded(h http.Handler, w http.ResponseWriter, r *http.Request) {
	g := &guardWriter{ResponseWriter: w}
	h.ServeHTTP(g, r)
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
}

// guardWriter gives a buffering ResponseWriter net/http's semantics: the
// first WriteHeader wins, and header changes after it have no effect (the
// buffering writers read the header map only at the end).
type guardWriter struct {
	http.ResponseWriter
	wrote bool
	late  http.Header // what Header returns once the header is written
}

func (g *guardWriter) Header() http.Header {
	if g.wrote {
		if g.late == nil {
			g.late = g.ResponseWriter.Header().Clone()
		}
		return g.late
	}
	return g.ResponseWriter.Header()
}

func (g *guardWriter) WriteHeader(status int) {
	if g.wrote {
		return
	}
	g.wrote = true
	g.ResponseWriter.WriteHeader(status)
}

func (g *guardWriter) Write(p []byte) (int, error) {
	if !g.wrote {
		if g.Header().Get("Content-Type") == "" && len(p) > 0 {
			g.Header().Set("Content-Type", http.DetectContentType(p))
		}
		g.WriteHeader(http.StatusOK)
	}
	return g.ResponseWriter.Write(p)
}

func (g *guardWriter) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// encodeBinary base64-encodes a response body that is not already encoded
// and whose Content-Type is not textual.
func encodeBinary(body string, isBase64 bool, contentType string) (string, bool) {
	if isBase64 || body == "" || isTextual(contentType) {
		return body, isBase64
	}
	return base64.StdEncoding.EncodeToString([]byte(body)), true
}

// isTextual reports whether a Content-Type denotes text that can travel as a
// JSON string. An empty or unparsable type is not textual.
func isTextual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "+json") || strings.HasSuffix(mt, "+xml") {
		return true
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript",
		"application/x-www-form-urlencoded", "application/x-ndjson", "image/svg+xml":
		return true
	}
	return false
}

func headerValue(h map[string]string, key string) string {
	for k, v := range h {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

func headerValues(h map[string][]string, key string) []string {
	for k, v := range h {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}
