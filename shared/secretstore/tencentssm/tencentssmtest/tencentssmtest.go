// Package tencentssmtest is a fake Tencent Cloud SSM (API 3.0, version
// 2019-09-23) on 127.0.0.1 for tests. It checks what the real SDK sends
// (POST /, Content-Type application/json, X-TC-Action, X-TC-Version,
// X-TC-Timestamp, X-TC-Region, X-TC-Token, and a TC3-HMAC-SHA256
// Authorization header whose shape and signature it verifies), answers
// {"Response":{…,"RequestId"}} or {"Response":{"Error":{"Code","Message"},
// "RequestId"}}, keeps versions with SSM's rules (PutSecretValue of an
// existing VersionId → ResourceInUse.VersionIdExists, at most 10 versions →
// LimitExceeded, UpdateSecret of a missing version → ResourceNotFound), and
// injects faults: throttling, 5xx, malformed bodies, slow answers and
// dropped connections.
package tencentssmtest

import (
	"crypto/rand"
	"encoding/base64"
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

	"github.com/cardocr/cardocr/shared/tc3"
)

// Region and credentials the fake expects; Env and StoreURL use them.
const (
	Region       = "ap-guangzhou"
	SecretID     = "AKIDfakefakefakefakefake"
	SecretKey    = "fake-secret-key"
	SessionToken = "fake-session-token"
	Version      = "2019-09-23"
	// MaxVersions is SSM's cap on versions per secret.
	MaxVersions = 10
)

// Fault makes the fake answer a matching request badly.
type Fault struct {
	Action  string        // "GetSecretValue", …; "" matches any
	Times   int           // how many requests it hits; 0 means until ClearFaults
	Status  int           // HTTP status for a non-API answer (e.g. 502); default 200
	Code    string        // API error code, e.g. "RequestLimitExceeded"
	Message string        // its message
	Body    string        // raw body to send instead (malformed answers)
	Delay   time.Duration // wait this long (or until the client gives up) first
	Hangup  bool          // drop the connection without answering
	Apply   bool          // with Delay: handle the request normally afterwards
}

// Throttled is the common API 3.0 rate-limit error.
func Throttled(action string, times int) Fault {
	return Fault{Action: action, Times: times, Code: "RequestLimitExceeded", Message: "请求的次数超过了频率限制。"}
}

// Unavailable is an HTTP 502 from a gateway in front of SSM.
func Unavailable(action string, times int) Fault {
	return Fault{Action: action, Times: times, Status: 502, Body: "<html>502 Bad Gateway</html>"}
}

// InternalError is an API-level internal error (HTTP 200).
func InternalError(action string, times int) Fault {
	return Fault{Action: action, Times: times, Code: "InternalError", Message: "内部错误。"}
}

// Malformed is an HTTP 200 answer cut short.
func Malformed(action string, times int) Fault {
	return Fault{Action: action, Times: times, Body: `{"Response":{"SecretName":"x","SecretString":"{\"web`}
}

// Slow answers normally after d (use a d longer than the client's timeout).
func Slow(action string, d time.Duration, times int) Fault {
	return Fault{Action: action, Times: times, Delay: d, Apply: true}
}

// Call is one request as the fake saw it.
type Call struct {
	Action string
	Region string
	Token  string
	Body   []byte
}

type version struct {
	str, bin string // bin is base64, as on the wire
	created  time.Time
}

type secret struct {
	versions map[string]*version
	order    []string
}

// Server is the fake. Its methods are safe for concurrent use.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Host string // 127.0.0.1:PORT, for ?endpoint=
	// Hook, if set, runs before each request is handled (outside the lock).
	Hook func(action string)
	// Now is the server's clock (default time.Now), for version times.
	Now func() time.Time
	// Lenient answers protocol violations (bad signature, wrong token…)
	// with SSM's error without failing the test, for tests that provoke
	// them on purpose.
	Lenient bool

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
	s.Host = strings.TrimPrefix(s.URL, "http://")
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// StoreURL is a tencentssm:// URL for the named secret on this fake, with
// extra query parameters (e.g. "version=v1", "attempts=1") appended.
func (s *Server) StoreURL(name string, extra ...string) string {
	u := "tencentssm://" + name + "?region=" + Region + "&endpoint=" + s.Host + "&scheme=http"
	for _, e := range extra {
		u += "&" + e
	}
	return u
}

// Env sets SCF's credential environment to the fake's credentials.
func Env(t *testing.T) {
	t.Setenv("TENCENTCLOUD_SECRETID", SecretID)
	t.Setenv("TENCENTCLOUD_SECRETKEY", SecretKey)
	t.Setenv("TENCENTCLOUD_SESSIONTOKEN", SessionToken)
	t.Setenv("TENCENTCLOUD_REGION", Region)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// CreateSecret creates a secret with no versions.
func (s *Server) CreateSecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.create(name)
}

func (s *Server) create(name string) *secret {
	sec, ok := s.secrets[name]
	if !ok {
		sec = &secret{versions: map[string]*version{}}
		s.secrets[name] = sec
	}
	return sec
}

// SetValue sets a version's content, creating secret and version as needed.
func (s *Server) SetValue(name, versionID string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.create(name)
	if _, ok := sec.versions[versionID]; !ok {
		sec.order = append(sec.order, versionID)
	}
	sec.versions[versionID] = &version{str: string(value), created: s.now()}
}

// Value returns a version's content.
func (s *Server) Value(name, versionID string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec, ok := s.secrets[name]
	if !ok {
		return nil, false
	}
	v, ok := sec.versions[versionID]
	if !ok {
		return nil, false
	}
	if v.bin != "" {
		b, _ := base64.StdEncoding.DecodeString(v.bin)
		return b, true
	}
	return []byte(v.str), true
}

// VersionIDs lists a secret's versions in creation order.
func (s *Server) VersionIDs(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec, ok := s.secrets[name]; ok {
		return slices.Clone(sec.order)
	}
	return nil
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

// Calls returns the requests seen for action ("" for all).
func (s *Server) Calls(action string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if action == "" || c.Action == action {
			out = append(out, c)
		}
	}
	return out
}

// checkProtocol returns what is wrong with a request (and the API error
// code SSM would answer), or "".
func checkProtocol(r *http.Request, body []byte) (code, msg string) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return "InvalidParameter", fmt.Sprintf("want POST /, got %s %s", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return "InvalidParameter", fmt.Sprintf("Content-Type %q, want application/json", ct)
	}
	if r.Header.Get("X-TC-Action") == "" {
		return "MissingParameter", "X-TC-Action missing"
	}
	if v := r.Header.Get("X-TC-Version"); v != Version {
		return "InvalidParameter", fmt.Sprintf("X-TC-Version %q, want %s", v, Version)
	}
	if rg := r.Header.Get("X-TC-Region"); rg != Region {
		return "InvalidParameterValue", fmt.Sprintf("X-TC-Region %q, want %s", rg, Region)
	}
	return tc3.Verify(r, body, "ssm", tc3.Credentials{SecretID: SecretID, SecretKey: SecretKey, Token: SessionToken}, time.Now())
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	action := r.Header.Get("X-TC-Action")
	if code, msg := checkProtocol(r, body); code != "" {
		s.mu.Lock()
		lenient := s.Lenient
		s.mu.Unlock()
		if !lenient {
			s.tb.Errorf("tencentssmtest: protocol violation: %s", msg)
		}
		writeErr(w, code, msg)
		return
	}
	s.mu.Lock()
	s.calls = append(s.calls, Call{Action: action, Region: r.Header.Get("X-TC-Region"), Token: r.Header.Get("X-TC-Token"), Body: body})
	f := s.takeFault(action)
	hook := s.Hook
	s.mu.Unlock()
	if hook != nil {
		hook(action)
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
			fail(w, f)
			return
		}
	}
	var in struct {
		SecretName, VersionId string
		SecretString          *string
		SecretBinary          *string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		writeErr(w, "InvalidParameter", "body is not JSON")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch action {
	case "GetSecretValue":
		s.getSecretValue(w, in.SecretName, in.VersionId)
	case "PutSecretValue", "UpdateSecret":
		s.write(w, action, in.SecretName, in.VersionId, in.SecretString, in.SecretBinary)
	case "ListSecretVersionIds":
		s.list(w, in.SecretName)
	case "DeleteSecretVersion":
		s.deleteVersion(w, in.SecretName, in.VersionId)
	default:
		writeErr(w, "InvalidAction", "action "+action+" is not supported by the fake")
	}
}

func (s *Server) takeFault(action string) *Fault {
	for i, f := range s.faults {
		if f.Action != "" && f.Action != action {
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

func fail(w http.ResponseWriter, f *Fault) {
	if f.Hangup {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if f.Body != "" || f.Code == "" {
		if f.Status != 0 {
			w.WriteHeader(f.Status)
		}
		io.WriteString(w, f.Body)
		return
	}
	if f.Status != 0 {
		w.WriteHeader(f.Status)
	}
	writeErr(w, f.Code, f.Message)
}

func requestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	x := hex.EncodeToString(b)
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func writeErr(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"Response": map[string]any{
		"Error": map[string]string{"Code": code, "Message": msg}, "RequestId": requestID(),
	}})
}

func writeOK(w http.ResponseWriter, resp map[string]any) {
	resp["RequestId"] = requestID()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"Response": resp})
}

var versionRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func (s *Server) getSecretValue(w http.ResponseWriter, name, vid string) {
	sec, ok := s.secrets[name]
	if !ok {
		writeErr(w, "ResourceNotFound", "secret "+name+" does not exist")
		return
	}
	v, ok := sec.versions[vid]
	if !ok {
		writeErr(w, "ResourceNotFound", "version "+vid+" of secret "+name+" does not exist")
		return
	}
	writeOK(w, map[string]any{"SecretName": name, "VersionId": vid, "SecretString": v.str, "SecretBinary": v.bin})
}

func (s *Server) write(w http.ResponseWriter, action, name, vid string, str, bin *string) {
	if !versionRe.MatchString(vid) {
		writeErr(w, "InvalidParameterValue", "VersionId must be 1-64 characters of [A-Za-z0-9-_.]")
		return
	}
	if (str == nil) == (bin == nil) {
		writeErr(w, "InvalidParameter", "exactly one of SecretString and SecretBinary")
		return
	}
	if bin != nil {
		if _, err := base64.StdEncoding.DecodeString(*bin); err != nil {
			writeErr(w, "InvalidParameterValue", "SecretBinary is not base64")
			return
		}
	}
	sec, ok := s.secrets[name]
	if !ok {
		writeErr(w, "ResourceNotFound", "secret "+name+" does not exist")
		return
	}
	nv := &version{created: s.now()}
	if str != nil {
		nv.str = *str
	} else {
		nv.bin = *bin
	}
	_, exists := sec.versions[vid]
	switch {
	case action == "PutSecretValue" && exists:
		writeErr(w, "ResourceInUse.VersionIdExists", "version "+vid+" already exists")
		return
	case action == "PutSecretValue" && len(sec.versions) >= MaxVersions:
		writeErr(w, "LimitExceeded", "a secret has at most 10 versions")
		return
	case action == "UpdateSecret" && !exists:
		writeErr(w, "ResourceNotFound", "version "+vid+" of secret "+name+" does not exist")
		return
	case action == "UpdateSecret":
		nv.created = sec.versions[vid].created
	default:
		sec.order = append(sec.order, vid)
	}
	sec.versions[vid] = nv
	writeOK(w, map[string]any{"SecretName": name, "VersionId": vid})
}

func (s *Server) list(w http.ResponseWriter, name string) {
	sec, ok := s.secrets[name]
	if !ok {
		writeErr(w, "ResourceNotFound", "secret "+name+" does not exist")
		return
	}
	vs := []map[string]any{}
	for _, id := range sec.order {
		vs = append(vs, map[string]any{"VersionId": id, "CreateTime": sec.versions[id].created.Unix()})
	}
	writeOK(w, map[string]any{"SecretName": name, "Versions": vs})
}

func (s *Server) deleteVersion(w http.ResponseWriter, name, vid string) {
	sec, ok := s.secrets[name]
	if !ok {
		writeErr(w, "ResourceNotFound", "secret "+name+" does not exist")
		return
	}
	if _, ok := sec.versions[vid]; !ok {
		writeErr(w, "ResourceNotFound", "version "+vid+" of secret "+name+" does not exist")
		return
	}
	delete(sec.versions, vid)
	sec.order = slices.DeleteFunc(sec.order, func(id string) bool { return id == vid })
	writeOK(w, map[string]any{"SecretName": name, "VersionId": vid})
}
