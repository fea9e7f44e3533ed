// Package awssmtest is a fake AWS Secrets Manager on 127.0.0.1 for tests.
// It speaks the awsJson1_1 protocol the real SDK uses (POST /, Content-Type
// application/x-amz-json-1.1, X-Amz-Target secretsmanager.<Op>, a SigV4
// Authorization header checked for shape), keeps versions and staging
// labels (AWSCURRENT, AWSPREVIOUS), honours ClientRequestToken idempotency
// (same token and content: no-op; same token, other content:
// ResourceExistsException), and injects faults: throttling, 5xx, malformed
// bodies, slow answers and dropped connections.
package awssmtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Region and credentials the fake expects by default; Env and StoreURL
// use them.
const (
	Region          = "us-east-1"
	AccessKeyID     = "AKIDFAKEFAKEFAKE"
	SecretAccessKey = "fake-secret-access-key"
	SessionToken    = "fake-session-token"
	account         = "123456789012"
)

// Fault makes the fake answer a matching request badly.
type Fault struct {
	Op      string        // "GetSecretValue", "PutSecretValue"; "" matches any
	Times   int           // how many requests it hits; 0 means until ClearFaults
	Status  int           // HTTP status; default 400 with Type, else 500
	Type    string        // __type of a JSON error body, e.g. "ThrottlingException"
	Message string        // message of that body
	Body    string        // raw body to send instead (malformed answers)
	Delay   time.Duration // wait this long (or until the client gives up) first
	Hangup  bool          // drop the connection without answering
	// Apply, when Delay is set, lets the request through after the delay
	// (a slow success) instead of answering with the fault.
	Apply bool
}

// Throttled is the fault Secrets Manager sends when rate-limiting.
func Throttled(op string, times int) Fault {
	return Fault{Op: op, Times: times, Status: 400, Type: "ThrottlingException", Message: "Rate exceeded"}
}

// Unavailable is a 5xx with an InternalServiceError body.
func Unavailable(op string, times int) Fault {
	return Fault{Op: op, Times: times, Status: 500, Type: "InternalServiceError", Message: "An error occurred on the server side."}
}

// Malformed is a 200 answer whose body is cut short.
func Malformed(op string, times int) Fault {
	return Fault{Op: op, Times: times, Status: 200, Body: `{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:x","SecretString":"{\"web`}
}

// Slow answers after d (use a d longer than the client's timeout).
func Slow(op string, d time.Duration, times int) Fault {
	return Fault{Op: op, Times: times, Delay: d, Apply: true}
}

// Call is one request as the fake saw it.
type Call struct {
	Op            string
	Authorization string
	SecurityToken string
	Body          []byte
}

type version struct {
	id      string
	str     *string
	bin     []byte
	created time.Time
}

type secret struct {
	name, arn string
	versions  map[string]*version
	stages    map[string]string // label → version id
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	URL string
	// Hook, if set, runs before each request is handled (outside the
	// fake's lock, so it may block to stage races).
	Hook func(op string)

	tb      testing.TB
	srv     *httptest.Server
	mu      sync.Mutex
	secrets map[string]*secret
	faults  []*Fault
	calls   []Call
}

// New starts a fake on 127.0.0.1; it stops when the test ends.
func New(tb testing.TB) *Server {
	s := &Server{tb: tb, secrets: map[string]*secret{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// StoreURL is an awssm:// URL for the named secret on this fake, with
// extra query parameters (e.g. "lease=name", "attempts=1") appended.
func (s *Server) StoreURL(name string, extra ...string) string {
	u := "awssm://" + name + "?region=" + Region + "&endpoint=" + s.URL
	for _, e := range extra {
		u += "&" + e
	}
	return u
}

// Env sets the environment the awssm backend reads credentials from.
func Env(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", SessionToken)
	t.Setenv("AWS_REGION", Region)
}

// CreateSecret creates an empty secret (no version yet) and returns its ARN.
func (s *Server) CreateSecret(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.create(name).arn
}

func (s *Server) create(name string) *secret {
	if sec, ok := s.secrets[name]; ok {
		return sec
	}
	sec := &secret{
		name:     name,
		arn:      "arn:aws:secretsmanager:" + Region + ":" + account + ":secret:" + name + "-" + randHex(3),
		versions: map[string]*version{},
		stages:   map[string]string{},
	}
	s.secrets[name] = sec
	return sec
}

// SetValue stores value as the secret's new AWSCURRENT version, creating
// the secret if needed.
func (s *Server) SetValue(name string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.create(name)
	str := string(value)
	v := &version{id: newUUID(), str: &str, created: time.Now()}
	sec.versions[v.id] = v
	sec.label(v.id, []string{"AWSCURRENT"})
}

// Value returns the AWSCURRENT value of a secret.
func (s *Server) Value(name string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return nil, false
	}
	v, ok := sec.versions[sec.stages["AWSCURRENT"]]
	if !ok {
		return nil, false
	}
	return v.value(), true
}

// Versions returns how many versions a secret has.
func (s *Server) Versions(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[name]; ok {
		return len(sec.versions)
	}
	return 0
}

// Inject adds a fault; faults are tried in the order added.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Calls returns the requests seen for op ("" for all).
func (s *Server) Calls(op string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if op == "" || c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

func (v *version) value() []byte {
	if v.str != nil {
		return []byte(*v.str)
	}
	return v.bin
}

// label moves labels to version id; AWSCURRENT's previous holder becomes
// AWSPREVIOUS.
func (sec *secret) label(id string, labels []string) {
	for _, l := range labels {
		prev, had := sec.stages[l]
		sec.stages[l] = id
		if l == "AWSCURRENT" && had && prev != id {
			sec.stages["AWSPREVIOUS"] = prev
		}
	}
}

func (sec *secret) labelsOf(id string) []string {
	var out []string
	for l, v := range sec.stages {
		if v == id {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

var (
	authRe = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)/(\d{8})/([a-z0-9-]+)/secretsmanager/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)
	dateRe = regexp.MustCompile(`^\d{8}T\d{6}Z$`)
)

// checkProtocol returns what is wrong with the request's framing, or "".
func checkProtocol(r *http.Request) string {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return fmt.Sprintf("want POST /, got %s %s", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		return fmt.Sprintf("Content-Type %q, want application/x-amz-json-1.1", ct)
	}
	if !strings.HasPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.") {
		return fmt.Sprintf("X-Amz-Target %q, want secretsmanager.<Op>", r.Header.Get("X-Amz-Target"))
	}
	date := r.Header.Get("X-Amz-Date")
	if !dateRe.MatchString(date) {
		return fmt.Sprintf("X-Amz-Date %q not in ISO 8601 basic format", date)
	}
	m := authRe.FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return "Authorization is not a SigV4 header for secretsmanager"
	}
	if m[1] != AccessKeyID {
		return fmt.Sprintf("credential access key %q, want %q", m[1], AccessKeyID)
	}
	if m[2] != date[:8] {
		return fmt.Sprintf("credential date %s differs from X-Amz-Date %s", m[2], date)
	}
	if m[3] != Region {
		return fmt.Sprintf("credential region %q, want %q", m[3], Region)
	}
	signed := strings.Split(m[4], ";")
	for _, h := range []string{"host", "x-amz-date", "x-amz-target", "content-type"} {
		if !slices.Contains(signed, h) {
			return fmt.Sprintf("SignedHeaders %q lacks %s", m[4], h)
		}
	}
	if r.Header.Get("X-Amz-Security-Token") != "" && !slices.Contains(signed, "x-amz-security-token") {
		return "X-Amz-Security-Token sent but not signed"
	}
	return ""
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "secretsmanager.")
	if msg := checkProtocol(r); msg != "" {
		s.tb.Errorf("awssmtest: protocol violation: %s", msg)
		writeErr(w, 400, "IncompleteSignatureException", msg)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Op: op, Authorization: r.Header.Get("Authorization"),
		SecurityToken: r.Header.Get("X-Amz-Security-Token"), Body: body})
	f := s.takeFault(op)
	hook := s.Hook
	s.mu.Unlock()
	if hook != nil {
		hook(op)
	}
	if f != nil {
		if f.Delay > 0 {
			select {
			case <-time.After(f.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if !f.Apply {
			s.fail(w, f)
			return
		}
	}
	w.Header().Set("x-amzn-RequestId", newUUID())
	switch op {
	case "GetSecretValue":
		s.getSecretValue(w, body)
	case "PutSecretValue":
		s.putSecretValue(w, body)
	default:
		writeErr(w, 400, "UnknownOperationException", "unknown operation "+op)
	}
}

func (s *Server) takeFault(op string) *Fault {
	for i, f := range s.faults {
		if f.Op != "" && f.Op != op {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
		}
		c := *f
		return &c
	}
	return nil
}

func (s *Server) fail(w http.ResponseWriter, f *Fault) {
	if f.Hangup {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
	}
	w.Header().Set("x-amzn-RequestId", newUUID())
	status := f.Status
	if status == 0 {
		if f.Type != "" {
			status = 400
		} else {
			status = 500
		}
	}
	if f.Body != "" || f.Type == "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		io.WriteString(w, f.Body)
		return
	}
	writeErr(w, status, f.Type, f.Message)
}

func writeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if w.Header().Get("x-amzn-RequestId") == "" {
		w.Header().Set("x-amzn-RequestId", newUUID())
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(v)
}

// lookup finds a secret by name or ARN; call with s.mu held.
func (s *Server) lookup(id string) *secret {
	if sec, ok := s.secrets[id]; ok {
		return sec
	}
	for _, sec := range s.secrets {
		if sec.arn == id {
			return sec
		}
	}
	return nil
}

func (s *Server) getSecretValue(w http.ResponseWriter, body []byte) {
	var in struct{ SecretId, VersionId, VersionStage string }
	if err := json.Unmarshal(body, &in); err != nil || in.SecretId == "" {
		writeErr(w, 400, "InvalidParameterException", "SecretId is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(in.SecretId)
	if sec == nil {
		writeErr(w, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	id := in.VersionId
	if id == "" {
		stage := in.VersionStage
		if stage == "" {
			stage = "AWSCURRENT"
		}
		var ok bool
		if id, ok = sec.stages[stage]; !ok {
			writeErr(w, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: "+stage)
			return
		}
	}
	v, ok := sec.versions[id]
	if !ok {
		writeErr(w, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: "+id)
		return
	}
	out := map[string]any{
		"ARN": sec.arn, "Name": sec.name, "VersionId": v.id, "VersionStages": sec.labelsOf(v.id),
		"CreatedDate": float64(v.created.UnixMilli()) / 1000,
	}
	if v.str != nil {
		out["SecretString"] = *v.str
	} else {
		out["SecretBinary"] = v.bin // []byte encodes as base64
	}
	writeJSON(w, out)
}

func (s *Server) putSecretValue(w http.ResponseWriter, body []byte) {
	var in struct {
		SecretId           string
		ClientRequestToken string
		SecretString       *string
		SecretBinary       []byte
		VersionStages      []string
	}
	if err := json.Unmarshal(body, &in); err != nil || in.SecretId == "" {
		writeErr(w, 400, "InvalidParameterException", "SecretId is required")
		return
	}
	if (in.SecretString == nil) == (in.SecretBinary == nil) {
		writeErr(w, 400, "InvalidParameterException", "You must provide either SecretString or SecretBinary.")
		return
	}
	if n := len(in.ClientRequestToken); n < 32 || n > 64 {
		writeErr(w, 400, "InvalidParameterException", "ClientRequestToken must be 32 to 64 characters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.lookup(in.SecretId)
	if sec == nil {
		writeErr(w, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
		return
	}
	nv := &version{id: in.ClientRequestToken, str: in.SecretString, bin: in.SecretBinary, created: time.Now()}
	if old, ok := sec.versions[nv.id]; ok {
		if (old.str == nil) != (nv.str == nil) || !bytes.Equal(old.value(), nv.value()) {
			writeErr(w, 400, "ResourceExistsException", "You can't modify an existing version, you can only create a new version.")
			return
		}
		writeJSON(w, map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": old.id, "VersionStages": sec.labelsOf(old.id)})
		return
	}
	labels := in.VersionStages
	if len(labels) == 0 || len(sec.versions) == 0 {
		if !slices.Contains(labels, "AWSCURRENT") {
			labels = append(labels, "AWSCURRENT")
		}
	}
	sec.versions[nv.id] = nv
	sec.label(nv.id, labels)
	writeJSON(w, map[string]any{"ARN": sec.arn, "Name": sec.name, "VersionId": nv.id, "VersionStages": sec.labelsOf(nv.id)})
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	x := randHex(16)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
