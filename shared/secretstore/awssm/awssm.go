// Package awssm is the AWS Secrets Manager backend of secretstore. Importing
// it registers the awssm:// scheme:
//
//	awssm://<name>                     a secret by name (slashes allowed)
//	awssm:///arn:aws:secretsmanager:…  a secret by ARN (awssm://arn:… works too)
//
// Query options: region (else AWS_REGION, AWS_DEFAULT_REGION, or the ARN's),
// lease (a second secret that holds refresher leases; without it the store
// does not implement secretstore.Leaser), timeout (per call, default 10s),
// attempts (SDK attempts per call, default 3), endpoint (tests; else the
// SDK's standard AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL).
//
// To keep cold starts short and binaries small it does not load the SDK's
// shared configuration (the config package pulls in SSO, STS, IMDS and INI
// parsing): credentials come from the environment Lambda sets
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Locally,
// export them (e.g. `aws configure export-credentials --format env`).
package awssm

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cardocr/cardocr/shared/secretstore"
)

func init() { secretstore.Register("awssm", open) }

// Defaults for a call: the whole call (all SDK attempts) is bounded by the
// caller's context and by Timeout, whichever ends first.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 3
	maxBackoff         = 2 * time.Second
)

// Store is one secret in AWS Secrets Manager.
type Store struct {
	client  *secretsmanager.Client
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
	o := secretsmanager.Options{
		Region:      cfg.Region,
		Credentials: cfg.Credentials,
		Retryer: retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = cfg.MaxAttempts
			so.MaxBackoff = maxBackoff
		}),
	}
	if cfg.Endpoint != "" {
		o.BaseEndpoint = aws.String(cfg.Endpoint)
	}
	s := &Store{client: secretsmanager.New(o), id: cfg.SecretID, timeout: cfg.Timeout}
	if cfg.LeaseID == "" {
		return s, nil
	}
	return &LeasingStore{Store: s, leaseID: cfg.LeaseID, holder: secretstore.NewHolderID()}, nil
}

// Get returns the AWSCURRENT value.
func (s *Store) Get(ctx context.Context) ([]byte, error) {
	const op = "GetSecretValue"
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var last error
	out, err := s.client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(s.id)}, recordAttempts(&last))
	if err != nil {
		return nil, mapError(ctx, op, s.id, err, last)
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
// The SDK fills one ClientRequestToken per call and keeps it across its
// retries, so a retried Put after a lost answer does not add a version.
func (s *Store) Put(ctx context.Context, value []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var last error
	_, err := s.client.PutSecretValue(ctx, putInput(s.id, value, ""), recordAttempts(&last))
	if err != nil {
		return mapError(ctx, "PutSecretValue", s.id, err, last)
	}
	return nil
}

func putInput(id string, value []byte, token string) *secretsmanager.PutSecretValueInput {
	in := &secretsmanager.PutSecretValueInput{SecretId: aws.String(id)}
	if utf8.Valid(value) {
		in.SecretString = aws.String(string(value))
	} else {
		in.SecretBinary = value
	}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	return in
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
