package devstack

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// docs/openapi.yaml is the contract: every request the end-to-end tests
// make to the API, and every answer, is validated against it
// (github.com/getkin/kin-openapi): the route and method, the status (an
// undocumented one fails), the content type and the body's schema, errors
// included (the schemas forbid undocumented members). A request is held to
// the schema when it was accepted (a 2xx); the tests also send bad requests
// on purpose, and those must get a documented error.

var contract struct {
	once       sync.Once
	router     routers.Router
	err        error
	mu         sync.Mutex
	violations []string
	checked    int
	seen       map[string]bool // "operationId status" the suite produced
}

func contractRouter() (routers.Router, error) {
	contract.once.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
		if err != nil {
			contract.err = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			contract.err = fmt.Errorf("docs/openapi.yaml is not valid: %w", err)
			return
		}
		doc.Servers = nil // any host: the stacks listen on random ports
		contract.router, contract.err = gorillamux.NewRouter(doc)
	})
	return contract.router, contract.err
}

func violation(format string, args ...any) {
	contract.mu.Lock()
	defer contract.mu.Unlock()
	if len(contract.violations) < 50 {
		contract.violations = append(contract.violations, fmt.Sprintf(format, args...))
	}
}

// contractTransport is http.DefaultTransport with the check.
type contractTransport struct{}

func (contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasPrefix(req.URL.Path, "/_") { // the local stack's own endpoints and the emulators
		return http.DefaultTransport.RoundTrip(req)
	}
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return resp, nil
	}
	for _, v := range checkExchange(req, reqBody, resp.StatusCode, resp.Header, body) {
		violation("%s", v)
	}
	return resp, nil
}

// checkExchange returns how one exchange breaks the contract (nothing if
// it does not).
func checkExchange(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) (problems []string) {
	violation := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	router, err := contractRouter()
	if err != nil {
		violation("contract: %v", err)
		return
	}
	what := req.Method + " " + req.URL.Path
	if len(what) > 80 {
		what = what[:80] + "…"
	}
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := router.FindRoute(r)
	if err != nil {
		// Not a documented route: the answer must be the documented 404/405.
		if status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			violation("%s: undocumented route answered %d", what, status)
		}
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
	if status/100 == 2 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			violation("%s: accepted request does not match the contract: %.600v", what, err)
		}
	}
	// Declared by its own status, not only by "default" (which would
	// accept anything): generated clients type each declared status.
	if route.Operation.Responses.Status(status) == nil {
		violation("%s → %d: status not declared for %s (only default would cover it)", what, status, route.Operation.OperationID)
	}
	contract.mu.Lock()
	if contract.seen == nil {
		contract.seen = map[string]bool{}
	}
	contract.seen[fmt.Sprintf("%s %d", route.Operation.OperationID, status)] = true
	contract.mu.Unlock()
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		violation("%s → %d: answer does not match the contract: %.600v", what, status, err)
	}
	contract.mu.Lock()
	contract.checked++
	contract.mu.Unlock()
	return problems
}

// The check bites: an undocumented member in an error body, an
// undocumented error code, an undocumented status, or a result with a
// member the schema does not have, each break the contract.
func TestContractCatchesUndocumentedAnswers(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/v1/idcard/results/o1", nil)
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	good := `{"error":{"code":"not_found","message":"no result for this order number","retryable":false},"orderNo":"o1"}`
	if p := checkExchange(req, nil, 404, h, []byte(good)); len(p) != 0 {
		t.Fatalf("a documented error is refused: %v", p)
	}
	for name, c := range map[string]struct {
		status int
		body   string
	}{
		"undocumented member in the error": {404, `{"error":{"code":"not_found","message":"m","retryable":false,"detail":"x"}}`},
		"undocumented top-level member":    {404, `{"error":{"code":"not_found","message":"m","retryable":false},"trace":"x"}`},
		"undocumented error code":          {404, `{"error":{"code":"gone_fishing","message":"m","retryable":false}}`},
		"undocumented status":              {418, good},
		"undocumented result member":       {200, `{"orderNo":"o1","provider":"webank","card":{},"warnings":[],"checks":{},"secret":"x"}`},
	} {
		if p := checkExchange(req, nil, c.status, h, []byte(c.body)); len(p) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}

// notProduced are the documented answers the end-to-end suite cannot
// provoke through the stack, with why.
var notProduced = map[string]string{}

// unproduced lists the documented (operation, status) pairs that no
// exchange of this run produced and that notProduced does not excuse.
func unproduced() []string {
	router, err := contractRouter()
	if err != nil || router == nil {
		return nil
	}
	doc, _ := openapi3.NewLoader().LoadFromFile(filepath.Join("..", "..", "docs", "openapi.yaml"))
	var out []string
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for st := range op.Responses.Map() {
				k := op.OperationID + " " + st
				if st == "default" || contract.seen[k] || notProduced[k] != "" {
					continue
				}
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func TestMain(m *testing.M) {
	http.DefaultClient.Transport = contractTransport{}
	code := m.Run()
	contract.mu.Lock()
	if len(contract.violations) > 0 {
		fmt.Fprintf(os.Stderr, "%d exchanges broke docs/openapi.yaml:\n  %s\n", len(contract.violations), strings.Join(contract.violations, "\n  "))
		code = 1
	} else if code == 0 && contract.checked == 0 && !testing.Short() {
		fmt.Fprintln(os.Stderr, "no exchange was checked against docs/openapi.yaml")
	}
	if code == 0 && flag.Lookup("test.run").Value.String() == "" {
		if missing := unproduced(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "documented (operation, status) pairs no end-to-end test produced:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	contract.mu.Unlock()
	os.Exit(code)
}
