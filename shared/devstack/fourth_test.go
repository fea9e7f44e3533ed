package devstack_test

// A fourth provider, "acme", that exists only in this file: its client, its
// emulator and its descriptor. It is wired into the local stack by one
// line, providers.Register(acmeDescriptor), and then runs through submit,
// query, fallback and the console with no edit anywhere else; it passes the
// conformance suite every provider passes (docs/architecture.md, "Adding a
// provider").

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/devstack"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/ocr/ocrtest"
	"github.com/cardocr/cardocr/shared/providers"
	"github.com/cardocr/cardocr/shared/upstream"
)

const (
	acmeName   = "acme"
	acmeKey    = "acme-emulator-key-0123456789"
	acmeID     = "idcard" // the emulator's endpoints
	acmeBank   = "bankcard"
	acmeLimit  = 4 << 20
	acmeHeader = "X-Acme-Key"
)

// acmeSettings are read by config.ReadSettings from the environment.
type acmeSettings struct {
	BaseURL string `env:"ACME_BASE_URL" default:"https://ocr.acme.invalid"`
}

var acmeDescriptor = providers.Descriptor{
	Name:     acmeName,
	Kinds:    []string{ocr.KindIDCard, ocr.KindBankCard},
	Limits:   ocr.Limits{IDCardImage: acmeLimit, BankCardImage: acmeLimit},
	Settings: func() any { return &acmeSettings{} },
	Secrets:  []providers.Secret{{Key: "acmeKey", Env: "ACME_KEY"}},
	Build: func(e providers.Env) (ocr.Provider, error) {
		if e.Secret("acmeKey") == "" {
			return nil, nil
		}
		return &acmeProvider{base: e.Settings.(*acmeSettings).BaseURL, key: e.Secret("acmeKey"), hc: e.HTTPClient}, nil
	},
	Emulator: func() providers.Emulator {
		return providers.Emulator{URLEnv: "ACME_BASE_URL", Handler: newAcmeEmulator(), Secrets: map[string]string{"acmeKey": acmeKey}}
	},
}

// acmeProvider: POST {base}/{idcard|bankcard} {"orderNo","side","image"}
// with the key in a header; the answer is {"code":"OK"|…, fields}.
type acmeProvider struct {
	base, key string
	hc        *http.Client
}

func (p *acmeProvider) Name() string                 { return acmeName }
func (p *acmeProvider) Credentials() ocr.Credentials { return nil }
func (p *acmeProvider) Limits() ocr.Limits           { return acmeDescriptor.Limits }

type acmeAnswer struct {
	Code      string `json:"code"`
	Side      string `json:"side"`
	Name      string `json:"name"`
	IDNumber  string `json:"idNumber"`
	Sex       string `json:"sex"`
	Nation    string `json:"nation"`
	Birth     string `json:"birth"`
	Address   string `json:"address"`
	Authority string `json:"authority"`
	ValidDate string `json:"validDate"`
	Number    string `json:"number"`
	ValidThru string `json:"validThru"`
}

func (p *acmeProvider) call(ctx context.Context, op string, orderNo, side string, img ocr.Image) (*acmeAnswer, error) {
	rc, err := img.Open()
	if err != nil {
		return nil, acmeError(&upstream.Error{Provider: acmeName, Op: op, Msg: "cannot read the image", Err: err, NotSent: true})
	}
	raw, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, acmeError(&upstream.Error{Provider: acmeName, Op: op, Msg: "cannot read the image", Err: err, NotSent: true})
	}
	body, _ := json.Marshal(map[string]string{"orderNo": orderNo, "side": side, "image": base64.StdEncoding.EncodeToString(raw)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/"+op, bytes.NewReader(body))
	if err != nil {
		return nil, acmeError(&upstream.Error{Provider: acmeName, Op: op, Msg: "bad base URL", NotSent: true})
	}
	req.Header.Set(acmeHeader, p.key)
	req.Header.Set("Content-Type", "application/json")
	hc := p.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, acmeError(&upstream.Error{Provider: acmeName, Op: op, Err: upstream.Scrub(err), Retryable: true})
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, acmeError(&upstream.Error{Provider: acmeName, Op: op, HTTPStatus: resp.StatusCode, Msg: "HTTP " + resp.Status, Retryable: true})
	}
	var a acmeAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&a); err != nil {
		return nil, acmeError(&upstream.Error{Provider: acmeName, Op: op, Msg: "malformed answer", Retryable: true})
	}
	if a.Code != "OK" {
		ue := &upstream.Error{Provider: acmeName, Op: op, Code: a.Code, Msg: "refused"}
		switch a.Code {
		case "NO_BALANCE":
			ue.Quota = true
		case "SLOW_DOWN":
			ue.Throttled, ue.Retryable = true, true
		}
		return nil, acmeError(ue)
	}
	return &a, nil
}

// acmeError classifies: unreadable and wrong side are recognition failures
// (billed), the rest as upstream trouble; messages carry no fields.
func acmeError(e *upstream.Error) *errcode.Error {
	de := &errcode.Error{Code: errcode.UpstreamError, UpstreamCode: e.Code, Retryable: e.Retryable, Err: e, Message: "acme answered with an error"}
	switch {
	case e.Code == "" && upstream.IsTimeout(e.Err):
		de.Code, de.Message, de.Retryable = errcode.UpstreamTimeout, "acme did not answer in time", true
	case e.Code == "UNREADABLE" || e.Code == "WRONG_SIDE":
		de.Code, de.Message = errcode.RecognitionFailed, "the card could not be recognized"
	case e.Code == "NO_BALANCE":
		de.Code, de.Message = errcode.QuotaExceeded, "the acme account has no balance"
	case e.Code == "SLOW_DOWN":
		de.Code, de.Message = errcode.Busy, "acme's rate limit answered"
	}
	return de
}

func (p *acmeProvider) SubmitIDCard(ctx context.Context, _ string, c ocr.IDCardCall) (*ocr.IDCardRead, error) {
	a, err := p.call(ctx, acmeID, c.OrderNo, c.Side, c.Image)
	if err != nil {
		return nil, err
	}
	r := &ocr.IDCardRead{Side: c.Side, Upstream: json.RawMessage(`{"code":"OK"}`)}
	r.Card.Name, r.Card.IDNumber, r.Card.Sex, r.Card.Nation, r.Card.Address, r.Card.Authority =
		a.Name, a.IDNumber, a.Sex, a.Nation, a.Address, a.Authority
	r.Fields.IDNumber, r.Fields.Birth, r.Fields.Sex, r.Fields.ValidDate = a.IDNumber, a.Birth, a.Sex, a.ValidDate
	return r, nil
}

func (p *acmeProvider) SubmitBankCard(ctx context.Context, _ string, c ocr.BankCardCall) (*ocr.BankCardRead, error) {
	a, err := p.call(ctx, acmeBank, c.OrderNo, "", c.Image)
	if err != nil {
		return nil, err
	}
	return &ocr.BankCardRead{Number: a.Number, ValidThru: a.ValidThru, Upstream: json.RawMessage(`{"code":"OK"}`)}, nil
}

// acmeEmulator answers from the card markers every emulator here reads
// (emulator.ReadCard), with the conformance suite's knobs: a fault per
// endpoint, and counts.
type acmeEmulator struct {
	mu     sync.Mutex
	counts map[string]int64
	faults map[string]emulator.Fault
}

func newAcmeEmulator() *acmeEmulator {
	return &acmeEmulator{counts: map[string]int64{}, faults: map[string]emulator.Fault{}}
}

func (e *acmeEmulator) SetFault(endpoint string, f emulator.Fault) {
	e.mu.Lock()
	e.faults[endpoint] = f
	e.mu.Unlock()
}

func (e *acmeEmulator) Count(endpoint string) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.counts[endpoint]
}

// Counts is what the console lists.
func (e *acmeEmulator) Counts() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int64{}
	for k, v := range e.counts {
		out["acme:"+k] = v
	}
	return out
}

func (e *acmeEmulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep := strings.TrimPrefix(r.URL.Path, "/")
	if r.Method != http.MethodPost || (ep != acmeID && ep != acmeBank) {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get(acmeHeader) != acmeKey {
		http.Error(w, "bad key", http.StatusUnauthorized)
		return
	}
	e.mu.Lock()
	e.counts[ep]++
	f, faulty := e.faults[ep]
	if faulty && f.Next > 0 {
		f.Next--
		if f.Next == 0 {
			delete(e.faults, ep)
		} else {
			e.faults[ep] = f
		}
	}
	e.mu.Unlock()
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return
		}
	}
	switch f.Kind {
	case emulator.FaultStatus:
		http.Error(w, "<html>bad gateway</html>", http.StatusServiceUnavailable)
		return
	case emulator.FaultMalformed:
		w.Write([]byte(`{"code":"OK","na`))
		return
	}
	var in struct{ OrderNo, Side, Image string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	img, _ := base64.StdEncoding.DecodeString(in.Image)
	spec, ok := emulator.ReadCard(img)
	answer := func(v any) { json.NewEncoder(w).Encode(v) }
	switch {
	case spec.Code != "":
		answer(acmeAnswer{Code: spec.Code})
	case !ok || spec.Unreadable:
		answer(acmeAnswer{Code: "UNREADABLE"})
	case ep == acmeBank:
		answer(acmeAnswer{Code: "OK", Number: emulator.BankCard(spec.Seed).Number, ValidThru: emulator.BankCard(spec.Seed).ValidThru})
	case spec.Side != strings.ToLower(in.Side):
		answer(acmeAnswer{Code: "WRONG_SIDE"})
	case spec.Side == emulator.SideFront:
		p := emulator.Person(spec.Seed)
		answer(acmeAnswer{Code: "OK", Name: p.Name, IDNumber: p.IDNumber, Sex: p.Sex, Nation: p.Nation, Birth: p.Birth, Address: p.Address})
	default:
		p := emulator.Person(spec.Seed)
		answer(acmeAnswer{Code: "OK", Authority: p.Authority, ValidDate: dotted(p.ValidFrom) + "-" + dotted(p.ValidTo)})
	}
}

// dotted writes yyyyMMdd as yyyy.MM.dd (长期 as it is).
func dotted(d string) string {
	if len(d) != 8 {
		return d
	}
	return d[:4] + "." + d[4:6] + "." + d[6:]
}

// The fourth provider passes the suite the three real ones pass.
func TestFourthProviderConformance(t *testing.T) {
	e := newAcmeEmulator()
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	ocrtest.Run(t, ocrtest.Harness{
		Provider: &acmeProvider{base: srv.URL, key: acmeKey, hc: plain},
		Emulator: e, IDEndpoint: acmeID, BankEndpoint: acmeBank,
		AccountCode: "NO_BALANCE", ThrottleCode: "SLOW_DOWN",
		Secrets: []string{acmeKey},
	})
}

// One registration line, and the local stack mounts its emulator, stores
// its key, reads its settings and serves it: submit, query, fallback, the
// console.
func TestFourthProviderEndToEnd(t *testing.T) {
	providers.Register(acmeDescriptor) // the one line
	t.Cleanup(func() { providers.Unregister(acmeName) })

	env := map[string]string{"PORT": "0", "LOG_LEVEL": "error", "PROVIDER_FALLBACK_IDCARD": "acme,webank"}
	s, err := devstack.Start(context.Background(), devstack.Options{
		Getenv: func(k string) string { return env[k] }, Dir: t.TempDir(), Stdout: io.Discard, Logs: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	call := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, s.URL+path, rd)
		req.Header.Set("Authorization", "Bearer "+s.APIKey)
		req.Header.Set("Content-Type", "application/json")
		// Not the contract-checked default client: docs/openapi.yaml
		// lists the deployed providers, and acme is not one.
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	person := emulator.Person(7)
	card := func(out map[string]any, k string) any {
		c, _ := out["card"].(map[string]any)
		return c[k]
	}
	front := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 7}.JPEG())

	// Submit: the first of PROVIDER_FALLBACK_IDCARD answers.
	st, out := call("POST", "/v1/idcard/ocr", map[string]any{"side": "front", "image": front, "orderNo": "acme1"})
	if st != 200 || out["provider"] != acmeName || card(out, "name") != person.Name {
		t.Fatalf("submit: %d %v", st, out)
	}
	// Query: the record says acme made it; acme keeps no results, so the
	// archive answers (the local stack archives evidence).
	st, out = call("GET", "/v1/idcard/results/acme1", nil)
	if st != 200 || out["provider"] != acmeName || card(out, "idNumber") != person.IDNumber {
		t.Fatalf("query: %d %v", st, out)
	}
	// Fallback: acme down, WeBank answers and says who failed.
	emu := acmeEmulatorOf(t, s)
	emu.SetFault(acmeID, emulator.Fault{Kind: emulator.FaultStatus, Next: 1})
	st, out = call("POST", "/v1/idcard/ocr", map[string]any{"side": "front", "image": front, "orderNo": "acme2"})
	if st != 200 || out["provider"] != "webank" || out["fallbackFrom"] != acmeName {
		t.Fatalf("fallback: %d %v", st, out)
	}
	// A bank card by name.
	bank := base64.StdEncoding.EncodeToString(emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 7}.JPEG())
	st, out = call("POST", "/v1/bankcard/ocr", map[string]any{"image": bank, "provider": acmeName})
	if st != 200 || out["provider"] != acmeName {
		t.Fatalf("bank card: %d %v", st, out)
	}
	// The console offers it, with its kinds, and counts its emulator's calls.
	resp, err := plain.Get(s.URL + "/_local/console.json")
	if err != nil {
		t.Fatal(err)
	}
	var cc struct {
		Providers []struct {
			Name  string   `json:"name"`
			Kinds []string `json:"kinds"`
		} `json:"providers"`
	}
	json.NewDecoder(resp.Body).Decode(&cc)
	resp.Body.Close()
	found := false
	for _, p := range cc.Providers {
		found = found || (p.Name == acmeName && strings.Join(p.Kinds, ",") == "idcard,bankcard")
	}
	if !found {
		t.Errorf("console providers: %+v", cc.Providers)
	}
	resp, err = plain.Get(s.URL + "/_local/state")
	if err != nil {
		t.Fatal(err)
	}
	var state struct {
		UpstreamCalls map[string]int64 `json:"upstreamCalls"`
	}
	json.NewDecoder(resp.Body).Decode(&state)
	resp.Body.Close()
	if state.UpstreamCalls["acme:idcard"] != 2 || state.UpstreamCalls["acme:bankcard"] != 1 {
		t.Errorf("console counts: %v", state.UpstreamCalls)
	}
}

// plain is a client outside the contract check (contract_test.go).
var plain = &http.Client{Transport: &http.Transport{}}

// acmeEmulatorOf finds the emulator the stack mounted, through its URL.
func acmeEmulatorOf(t *testing.T, s *devstack.Stack) *acmeEmulator {
	t.Helper()
	e, ok := s.Upstream(acmeName).(*acmeEmulator)
	if !ok {
		t.Fatal(errors.New("the stack mounted no acme emulator"))
	}
	return e
}
