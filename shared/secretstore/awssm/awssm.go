// Package awssm is the AWS Secrets Manager backend of secretstore. Importing
// it registers the awssm:// scheme:
//
//	awssm://<name>                     a secret by name (slashes allowed)
//	awssm:///arn:aws:secretsmanager:…  a secret by ARN (awssm://arn:… works too)
//
// Query options: region (else AWS_REGION, AWS_DEFAULT_REGION, or the ARN's),
// lease (a second secret that holds refresher leases; without it the store
// does not implement secretstore.Leaser), timeout (per call, default 10s),
// attempts (attempts per call, default 3), endpoint (tests; else the
// SDK's standard AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL).
//
// To keep cold starts short and binaries small it links neither the SDK's
// shared configuration (SSO, STS, IMDS, INI) nor its Secrets Manager
// client: the two actions are made here over the awsJson1_1 protocol
// (shared/awsreq, signed with the SDK's v4 signer), with the SDK's
// standard retry rules. Credentials come from the environment Lambda sets
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Locally,
// export them (e.g. `aws configure export-credentials --format env`).
package awssm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cardocr/cardocr/shared/secretstore"
)

func init() { secretstore.Register("awssm", open) }

// Defaults for a call: the whole call (all attempts) is bounded by the
// caller's context and by Timeout, whichever ends first.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 3
	maxBackoff         = 2 * time.Second
)

// Store is one secret in AWS Secrets Manager.
type Store struct {
	client  *client
	id      string // name or ARN
	timeout time.Duration
}

// LeasingStore is a Store with a lease secret: it implements
// secretstore.Leaser.
type LeasingStore struct {
	*Store
	leaseID string
	holder  string
}

// Config is what Open needs; open fills it from the URL and environment.
type Config struct {
	SecretID    string // name or ARN
	LeaseID     string // optional lease secret (name or ARN)
	Region      string
	Endpoint    string // optional base URL, e.g. http://127.0.0.1:4566
	Credentials aws.CredentialsProvider
	Timeout     time.Duration
	MaxAttempts int
}

func open(_ context.Context, u *url.URL) (secretstore.Store, error) {
	q := u.Query()
	cfg := Config{
		SecretID: strings.TrimPrefix(u.Host+u.Path, "/"),
		LeaseID:  q.Get("lease"),
		Region:   q.Get("region"),
		Endpoint: q.Get("endpoint"),
	}
	if cfg.SecretID == "" {
		return nil, fmt.Errorf("secretstore: awssm URL without a secret name")
	}
	if cfg.Region == "" {
		cfg.Region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if cfg.Region == "" {
		cfg.Region = arnRegion(cfg.SecretID)
	}
	if cfg.Endpoint == "" && !strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		cfg.Endpoint = firstEnv("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL")
	}
	if v := q.Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("secretstore: awssm: bad timeout %q", v)
		}
		cfg.Timeout = d
	}
	if v := q.Get("attempts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10 {
			return nil, fmt.Errorf("secretstore: awssm: bad attempts %q (1..10)", v)
		}
		cfg.MaxAttempts = n
	}
	creds, err := envCredentials()
	if err != nil {
		return nil, err
	}
	cfg.Credentials = creds
	return Open(cfg)
}

// Open builds a store from cfg. It makes no network call.
func Open(cfg Config) (secretstore.Store, error) {
	if cfg.SecretID == "" {
		return nil, fmt.Errorf("secretstore: awssm: no secret name")
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("secretstore: awssm: no region (set ?region=, AWS_REGION, or use an ARN)")
	}
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("secretstore: awssm: no credentials")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	endpoint := "https://secretsmanager." + cfg.Region + ".amazonaws.com"
	if strings.HasPrefix(cfg.Region, "cn-") {
		endpoint += ".cn"
	}
	if cfg.Endpoint != "" {
		endpoint = strings.TrimSuffix(cfg.Endpoint, "/")
	}
	c := &client{endpoint: endpoint + "/", region: cfg.Region, creds: cfg.Credentials, attempts: cfg.MaxAttempts,
		hc: &http.Client{Transport: http.DefaultTransport}}
	s := &Store{client: c, id: cfg.SecretID, timeout: cfg.Timeout}
	if cfg.LeaseID == "" {
		return s, nil
	}
	return &LeasingStore{Store: s, leaseID: cfg.LeaseID, holder: secretstore.NewHolderID()}, nil
}

// secretValue is GetSecretValue's answer, the part read here.
type secretValue struct {
	SecretString *string `json:"SecretString"`
	SecretBinary []byte  `json:"SecretBinary"` // base64 in JSON
}

// Get returns the AWSCURRENT value.
func (s *Store) Get(ctx context.Context) ([]byte, error) {
	const op = "GetSecretValue"
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var out secretValue
	if err := s.client.call(ctx, op, s.id, map[string]string{"SecretId": s.id}, &out); err != nil {
		return nil, err
	}
	switch {
	case out.SecretString != nil && *out.SecretString != "":
		return []byte(*out.SecretString), nil
	case len(out.SecretBinary) > 0:
		return out.SecretBinary, nil
	case out.SecretString != nil || out.SecretBinary != nil:
		return nil, &secretstore.Error{Backend: "awssm", Op: op, Secret: s.id, Kind: secretstore.ErrNotFound, Msg: "the current version is empty"}
	default:
		return nil, &secretstore.Error{Backend: "awssm", Op: op, Secret: s.id, Kind: secretstore.ErrMalformed, Msg: "the answer has neither SecretString nor SecretBinary"}
	}
}

// Put stores value as a new version labelled AWSCURRENT (PutSecretValue).
// One ClientRequestToken is made per call and kept across its retries, as
// the SDK does, so a retried Put after a lost answer does not add a version.
func (s *Store) Put(ctx context.Context, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.client.call(ctx, "PutSecretValue", s.id, putInput(s.id, value, newToken()), nil)
}

// putInput is PutSecretValue's request: text as SecretString, other bytes
// as SecretBinary.
func putInput(id string, value []byte, token string) map[string]any {
	in := map[string]any{"SecretId": id, "ClientRequestToken": token}
	if utf8.Valid(value) {
		in["SecretString"] = string(value)
	} else {
		in["SecretBinary"] = value // base64 in JSON
	}
	return in
}

// newToken is a random UUID (version 4), as the SDK fills idempotency
// tokens.
func newToken() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	x := hex.EncodeToString(b[:])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// arnRegion returns the region field of an ARN, or "".
func arnRegion(id string) string {
	parts := strings.SplitN(id, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" {
		return parts[3]
	}
	return ""
}

// envCredentials reads the credentials Lambda puts in the environment. They
// do not expire while the execution environment lives.
func envCredentials() (aws.CredentialsProvider, error) {
	id, key := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || key == "" {
		return nil, fmt.Errorf("secretstore: awssm: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them; locally export them)")
	}
	c := aws.Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: os.Getenv("AWS_SESSION_TOKEN"), Source: "environment"}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return c, nil }), nil
}
