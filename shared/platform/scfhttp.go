package platform

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strings"
	"unicode/utf8"
)

// SCF Function URL events (event functions; https://cloud.tencent.com/document/product/583/96099)
// are the old SCF API Gateway integration request minus headerParameters,
// isBase64Encoded, pathParameters, queryStringParameters and requestContext:
//
//	{"httpMethod":"GET","path":"/v1/x","headers":{"host":"…","x-scf-remote-addr":"1.2.3.4"},
//	 "queryString":{"a":"1","b":["2","3"],"flag":true},"body":"…"}
//
// queryString values are a string, an array of strings, or true for a key
// without a value. The legacy API Gateway shape (requestContext,
// queryStringParameters, isBase64Encoded) is accepted too. The answer is the
// integration response {isBase64Encoded, statusCode, headers, body}.

// scfHTTPRequest is the subset of the SCF Function URL / API Gateway event
// this adapter reads. Headers and query values are decoded leniently.
type scfHTTPRequest struct {
	HTTPMethod            string                   `json:"httpMethod"`
	Path                  string                   `json:"path"`
	Headers               map[string]lenientValues `json:"headers"`
	QueryString           map[string]lenientValues `json:"queryString"`
	QueryStringParameters map[string]lenientValues `json:"queryStringParameters"`
	Body                  string                   `json:"body"`
	IsBase64Encoded       bool                     `json:"isBase64Encoded"`
}

// scfHTTPResponse is SCF's integration response.
type scfHTTPResponse struct {
	IsBase64Encoded bool              `json:"isBase64Encoded"`
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
}

// lenientValues holds a JSON string, array of strings, true (a bare key:
// bare is set, no values), or any other scalar (kept as its JSON text).
type lenientValues struct {
	values []string
	bare   bool
}

func (l *lenientValues) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null" || string(b) == "false":
		*l = lenientValues{}
	case string(b) == "true":
		*l = lenientValues{bare: true}
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*l = lenientValues{values: []string{s}}
	case b[0] == '[':
		var items []json.RawMessage
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
		out := lenientValues{}
		for _, it := range items {
			var one lenientValues
			if err := one.UnmarshalJSON(it); err != nil {
				return err
			}
			out.values = append(out.values, one.values...)
			if one.bare {
				out.values = append(out.values, "")
			}
		}
		*l = out
	case b[0] == '{':
		return fmt.Errorf("object where a string was expected")
	default:
		*l = lenientValues{values: []string{string(b)}}
	}
	return nil
}

// scfQuery encodes SCF query values as a raw query string, keys sorted; a
// bare key (true) is written without "=".
func scfQuery(q map[string]lenientValues) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	add := func(s string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(s)
	}
	for _, k := range keys {
		v := q[k]
		if v.bare {
			add(url.QueryEscape(k))
		}
		for _, s := range v.values {
			add(url.QueryEscape(k) + "=" + url.QueryEscape(s))
		}
	}
	return b.String()
}

// scfRequest converts an SCF HTTP event to an *http.Request bound to ctx.
func scfRequest(ctx context.Context, payload []byte) (*http.Request, error) {
	var ev scfHTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, fmt.Errorf("decode SCF HTTP event: %w", err)
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, fmt.Errorf("decode SCF HTTP event body: %w", err)
		}
		body = b
	}
	path := ev.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.ParseRequestURI(path)
	if err != nil || u.RawQuery != "" || u.Fragment != "" {
		u = &url.URL{Path: path}
	}
	q := ev.QueryString
	if len(q) == 0 {
		q = ev.QueryStringParameters
	}
	u.RawQuery = scfQuery(q)
	method := strings.ToUpper(ev.HTTPMethod)
	// The target URL is parsed back by NewRequest; build it from the parts so
	// the path keeps its escaping.
	r, err := http.NewRequestWithContext(ctx, method, "http://localhost"+u.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("SCF HTTP event: %w", err)
	}
	for k, v := range ev.Headers {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		vals := v.values
		if v.bare {
			vals = append(vals, "")
		}
		switch ck {
		case "Host":
			if len(vals) > 0 {
				r.Host = vals[0]
			}
			continue
		case "X-Scf-Remote-Addr":
			if len(vals) > 0 {
				r.RemoteAddr = vals[0]
			}
		}
		r.Header[ck] = append(r.Header[ck], vals...)
	}
	r.RequestURI = u.RequestURI()
	return r, nil
}

// serveSCFHTTP serves an SCF Function URL / API Gateway event with h.
func serveSCFHTTP(ctx context.Context, h http.Handler, payload []byte) (scfHTTPResponse, error) {
	r, err := scfRequest(ctx, payload)
	if err != nil {
		return scfHTTPResponse{}, err
	}
	rec := newRecorder()
	serveGuarded(h, rec, r)
	return rec.scfResponse(), nil
}

// recorder is a buffered http.ResponseWriter (first WriteHeader wins).
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(p)
}

// scfResponse builds the integration response. Repeated header values are
// joined with ", " (the response headers are a string map); the body is
// base64-encoded when it is not valid UTF-8 or its type is not textual.
func (r *recorder) scfResponse() scfHTTPResponse {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	headers := make(map[string]string, len(r.header))
	for k, vs := range r.header {
		headers[k] = strings.Join(vs, ", ")
	}
	body := r.body.Bytes()
	resp := scfHTTPResponse{StatusCode: status, Headers: headers}
	if len(body) > 0 && (!utf8.Valid(body) || !isTextual(r.header.Get("Content-Type"))) {
		resp.Body = base64.StdEncoding.EncodeToString(body)
		resp.IsBase64Encoded = true
	} else {
		resp.Body = string(body)
	}
	return resp
}
