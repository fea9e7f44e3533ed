// Package tencentssm is the Tencent Cloud SSM (Secrets Manager) backend of
// secretstore, on the monolithic tencentcloud-sdk-go v1.0.162
// (ssm/v20190923). Importing it registers the tencentssm:// scheme:
//
//	tencentssm://<secret-name>?region=ap-guangzhou&version=current
//
// version is the fixed VersionId the value lives in (default "current"):
// Get reads it with GetSecretValue, Put replaces it with UpdateSecret and
// creates it with PutSecretValue only if it does not exist yet (a secret
// holds at most 10 versions). Other options: lease (the secret that holds
// refresher leases, default the same secret), timeout (per call, default
// 10s), attempts (per call, default 3), endpoint and scheme (tests:
// endpoint=127.0.0.1:PORT&scheme=http; or TENCENTSSM_ENDPOINT=http://…).
//
// Credentials are read at every call from SCF's environment:
// TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY, TENCENTCLOUD_SESSIONTOKEN
// (temporary role credentials that SCF may renew between invocations).
// Region defaults to TENCENTCLOUD_REGION.
package tencentssm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	ssm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ssm/v20190923"

	"github.com/cardocr/cardocr/shared/secretstore"
)

func init() { secretstore.Register("tencentssm", open) }

// Defaults for a call. The SDK (v1.0.162) neither retries nor takes a
// context; this package does both: every attempt runs under the caller's
// context bounded by Timeout, and throttling, 5xx and network failures are
// retried up to MaxAttempts with a short jittered backoff.
const (
	DefaultVersion     = "current"
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 3
	leasePrefix        = "lease-"
)

// versionRe is compiled on first use (a regexp at init costs every cold start).
var versionRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`) })

// Config is what Open needs; open fills it from the URL and environment.
type Config struct {
	SecretName  string
	VersionID   string // default DefaultVersion
	LeaseSecret string // default SecretName
	Region      string
	Endpoint    string // host[:port]; default ssm.tencentcloudapi.com
	Scheme      string // "http" or "https" (default)
	Timeout     time.Duration
	MaxAttempts int
	// Credentials returns the key pair and session token for one call;
	// default: the TENCENTCLOUD_* environment at the time of the call.
	Credentials func() (*common.Credential, error)
	Transport   http.RoundTripper // default: a clone of http.DefaultTransport
}

// Store is one secret version in Tencent SSM. It implements
// secretstore.Leaser (see TryLease).
type Store struct {
	cfg    Config
	prof   *profile.ClientProfile
	base   http.RoundTripper
	pool   chan *boundClient
	holder string
}

func open(_ context.Context, u *url.URL) (secretstore.Store, error) {
	q := u.Query()
	cfg := Config{
		SecretName:  strings.TrimPrefix(u.Host+u.Path, "/"),
		VersionID:   q.Get("version"),
		LeaseSecret: q.Get("lease"),
		Region:      q.Get("region"),
		Endpoint:    q.Get("endpoint"),
		Scheme:      q.Get("scheme"),
	}
	if cfg.Region == "" {
		cfg.Region = os.Getenv("TENCENTCLOUD_REGION")
	}
	if cfg.Endpoint == "" {
		if e := os.Getenv("TENCENTSSM_ENDPOINT"); e != "" {
			if eu, err := url.Parse(e); err == nil && eu.Host != "" {
				cfg.Endpoint, cfg.Scheme = eu.Host, eu.Scheme
			} else {
				cfg.Endpoint = e
			}
		}
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("secretstore: tencentssm: bad timeout %q", v)
		}
		cfg.Timeout = d
	}
	if v := q.Get("attempts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10 {
			return nil, fmt.Errorf("secretstore: tencentssm: bad attempts %q (1..10)", v)
		}
		cfg.MaxAttempts = n
	}
	if _, err := envCredentials(); err != nil {
		return nil, err // fail at start-up rather than at the first call
	}
	return Open(cfg)
}

// Open builds a store from cfg. It makes no network call.
func Open(cfg Config) (*Store, error) {
	if cfg.SecretName == "" {
		return nil, fmt.Errorf("secretstore: tencentssm: no secret name")
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("secretstore: tencentssm: no region (set ?region= or TENCENTCLOUD_REGION)")
	}
	if cfg.VersionID == "" {
		cfg.VersionID = DefaultVersion
	}
	if !versionRe().MatchString(cfg.VersionID) || strings.HasPrefix(cfg.VersionID, leasePrefix) {
		return nil, fmt.Errorf("secretstore: tencentssm: bad version %q (1-64 of A-Za-z0-9-_., not starting with %q)", cfg.VersionID, leasePrefix)
	}
	if cfg.LeaseSecret == "" {
		cfg.LeaseSecret = cfg.SecretName
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Credentials == nil {
		cfg.Credentials = envCredentials
	}
	prof := profile.NewClientProfile()
	prof.HttpProfile.ReqTimeout = 0 // the context bounds each call instead
	prof.Language = "en-US"         // error messages for logs
	if cfg.Endpoint != "" {
		prof.HttpProfile.Endpoint = cfg.Endpoint
	}
	if cfg.Scheme != "" {
		prof.HttpProfile.Scheme = strings.ToUpper(cfg.Scheme)
	}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	return &Store{cfg: cfg, prof: prof, base: base, pool: make(chan *boundClient, 8), holder: secretstore.NewHolderID()}, nil
}

// Get reads the fixed version.
func (s *Store) Get(ctx context.Context) ([]byte, error) {
	b, err := s.getVersion(ctx, s.cfg.SecretName, s.cfg.VersionID)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, s.errorf("GetSecretValue", s.cfg.SecretName, secretstore.ErrNotFound, "version %q is empty", s.cfg.VersionID)
	}
	return b, nil
}

func (s *Store) getVersion(ctx context.Context, secret, version string) ([]byte, error) {
	const op = "GetSecretValue"
	var out []byte
	err := s.call(ctx, op, secret, func(c *ssm.Client) (string, error) {
		req := ssm.NewGetSecretValueRequest()
		req.SecretName, req.VersionId = &secret, &version
		resp, err := c.GetSecretValue(req)
		if err != nil {
			return "", err
		}
		if resp.Response == nil {
			return "", errNoResponse
		}
		r := resp.Response
		switch {
		case r.SecretString != nil && *r.SecretString != "":
			out = []byte(*r.SecretString)
		case r.SecretBinary != nil && *r.SecretBinary != "":
			b, err := base64.StdEncoding.DecodeString(*r.SecretBinary)
			if err != nil {
				return str(r.RequestId), errBadBinary
			}
			out = b
		case r.SecretString == nil && r.SecretBinary == nil:
			return str(r.RequestId), errNoValue
		default:
			out = nil
		}
		return "", nil
	})
	return out, err
}

// Put replaces the fixed version's content (UpdateSecret), creating the
// version with PutSecretValue if it does not exist yet.
func (s *Store) Put(ctx context.Context, value []byte) error {
	err := s.update(ctx, value)
	if !errors.Is(err, secretstore.ErrNotFound) {
		return err
	}
	// The version (or the secret) does not exist: create the version.
	err = s.putVersion(ctx, s.cfg.SecretName, s.cfg.VersionID, value)
	if isLimitExceeded(err) {
		s.cleanup(ctx, "")
		err = s.putVersion(ctx, s.cfg.SecretName, s.cfg.VersionID, value)
	}
	if errors.Is(err, secretstore.ErrConflict) {
		// Another writer created it in between: replace its content.
		return s.update(ctx, value)
	}
	return err
}

func (s *Store) update(ctx context.Context, value []byte) error {
	return s.call(ctx, "UpdateSecret", s.cfg.SecretName, func(c *ssm.Client) (string, error) {
		req := ssm.NewUpdateSecretRequest()
		req.SecretName, req.VersionId = &s.cfg.SecretName, &s.cfg.VersionID
		req.SecretString, req.SecretBinary = encode(value)
		resp, err := c.UpdateSecret(req)
		if err == nil && resp.Response == nil {
			return "", errNoResponse
		}
		return "", err
	})
}

// putVersion creates a new version (PutSecretValue); an existing one is
// ErrConflict.
func (s *Store) putVersion(ctx context.Context, secret, version string, value []byte) error {
	return s.call(ctx, "PutSecretValue", secret, func(c *ssm.Client) (string, error) {
		req := ssm.NewPutSecretValueRequest()
		req.SecretName, req.VersionId = &secret, &version
		req.SecretString, req.SecretBinary = encode(value)
		resp, err := c.PutSecretValue(req)
		if err == nil && resp.Response == nil {
			return "", errNoResponse
		}
		return "", err
	})
}

func encode(value []byte) (sstr, sbin *string) {
	if utf8.Valid(value) {
		v := string(value)
		return &v, nil
	}
	v := base64.StdEncoding.EncodeToString(value)
	return nil, &v
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// call runs fn with a client bound to ctx (bounded by the store's timeout),
// retrying throttling and transient failures. fn returns the request id it
// saw when it rejects an answer itself.
func (s *Store) call(ctx context.Context, op, secret string, fn func(*ssm.Client) (requestID string, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	cred, err := s.cfg.Credentials()
	if err != nil {
		return &secretstore.Error{Backend: "tencentssm", Op: op, Secret: secret, Kind: secretstore.ErrDenied,
			Msg: "no credentials", Err: err}
	}
	var prev *secretstore.Error
	for attempt := 1; ; attempt++ {
		bc := s.client()
		bc.bind(ctx, cred)
		rid, err := fn(bc.c)
		netErr := bc.unbind()
		s.release(bc)
		if err == nil {
			return nil
		}
		e := s.mapError(ctx, op, secret, err, netErr, rid)
		if ctx.Err() != nil && prev != nil && e.Kind == secretstore.ErrUnavailable && isTimeout(e) {
			// Out of time while retrying: say what the attempts met.
			prev.Msg += "; then the call ran out of time"
			prev.Err = errors.Join(prev.Err, ctx.Err())
			return prev
		}
		if !secretstore.Retryable(e) || attempt >= s.cfg.MaxAttempts || ctx.Err() != nil {
			return e
		}
		prev = e
		backoff := time.Duration(50<<attempt) * time.Millisecond // 100ms, 200ms, 400ms…
		backoff = backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			prev.Msg += "; then the call ran out of time"
			prev.Err = errors.Join(prev.Err, ctx.Err())
			return prev
		case <-t.C:
		}
	}
}

func (s *Store) errorf(op, secret string, kind error, format string, args ...any) error {
	return &secretstore.Error{Backend: "tencentssm", Op: op, Secret: secret, Kind: kind, Msg: fmt.Sprintf(format, args...)}
}

// envCredentials reads SCF's credential environment (not the names the
// SDK's own env provider reads in later versions).
func envCredentials() (*common.Credential, error) {
	id, key := os.Getenv("TENCENTCLOUD_SECRETID"), os.Getenv("TENCENTCLOUD_SECRETKEY")
	if id == "" || key == "" {
		return nil, fmt.Errorf("secretstore: tencentssm: TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY are not set (SCF sets them when the function has a role; locally export them)")
	}
	return common.NewTokenCredential(id, key, os.Getenv("TENCENTCLOUD_SESSIONTOKEN")), nil
}

// boundClient is an SDK client whose transport runs every request under
// the context of the call using it (the SDK takes no context). Clients are
// pooled: building one calls log.SetFlags inside the SDK, which this
// package undoes.
type boundClient struct {
	c *ssm.Client
	t *boundTransport
}

// initMu serialises the SDK's Init, so that restoring the log flags it
// overwrites cannot interleave with another Init.
var initMu sync.Mutex

func (s *Store) client() *boundClient {
	select {
	case bc := <-s.pool:
		return bc
	default:
	}
	t := &boundTransport{base: s.base}
	c := &ssm.Client{}
	initMu.Lock()
	flags := log.Flags()
	c.Init(s.cfg.Region) // sets log flags as a side effect
	log.SetFlags(flags)
	initMu.Unlock()
	c.WithProfile(s.prof).WithHttpTransport(t)
	return &boundClient{c: c, t: t}
}

func (s *Store) release(bc *boundClient) {
	select {
	case s.pool <- bc:
	default:
	}
}

func (bc *boundClient) bind(ctx context.Context, cred *common.Credential) {
	bc.c.WithCredential(cred)
	bc.t.ctx, bc.t.err = ctx, nil
}

// unbind returns the transport error the SDK saw (its own error only
// carries the text).
func (bc *boundClient) unbind() error {
	err := bc.t.err
	bc.t.ctx, bc.t.err = nil, nil
	bc.c.WithCredential(nil)
	return err
}

type boundTransport struct {
	base http.RoundTripper
	ctx  context.Context
	err  error
}

func (t *boundTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.ctx != nil {
		r = r.WithContext(t.ctx)
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		t.err = err
		return nil, err
	}
	resp.Body = &recordingBody{ReadCloser: resp.Body, t: t}
	return resp, nil
}

type recordingBody struct {
	io.ReadCloser
	t *boundTransport
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.t.err = err
	}
	return n, err
}
