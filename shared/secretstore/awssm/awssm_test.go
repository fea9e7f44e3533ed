package awssm_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/secretstore/awssm"
	"github.com/cardocr/cardocr/shared/secretstore/awssm/awssmtest"
	"github.com/cardocr/cardocr/shared/secretstore/secretstoretest"
)

const marker = "SECRET-MARKER-7f3a"

func open(t *testing.T, url string) secretstore.Store {
	t.Helper()
	s, err := secretstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The Store contract (round trips, ErrNotFound, leases) is
// TestConformance's; these are Secrets Manager's own facts: one version per
// Put, the session token on every call, binary values as SecretBinary.
func TestVersionsTokenAndBinary(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	fake.CreateSecret("cardocr/tickets")
	s := open(t, fake.StoreURL("cardocr/tickets"))
	ctx := context.Background()
	doc := `{"webank":{"signTicket":"` + marker + `"}}`
	if err := s.Put(ctx, []byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, []byte(doc+" ")); err != nil {
		t.Fatal(err)
	}
	if n := fake.Versions("cardocr/tickets"); n != 2 {
		t.Errorf("versions = %d, want 2 (one per Put)", n)
	}
	for _, c := range fake.Calls("") {
		if c.SecurityToken != awssmtest.SessionToken {
			t.Errorf("%s: X-Amz-Security-Token %q, want the session token", c.Op, c.SecurityToken)
		}
	}
	// Binary (non-UTF-8) values use SecretBinary.
	bin := []byte{0xff, 0x00, 0xfe}
	if err := s.Put(ctx, bin); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx); err != nil || string(got) != string(bin) {
		t.Fatalf("binary Get = %x, %v", got, err)
	}
}

func TestMissingSecretIsNotFound(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	s := open(t, fake.StoreURL("nope"))
	_, err := s.Get(context.Background())
	if !errors.Is(err, secretstore.ErrNotFound) {
		t.Fatalf("Get: %v, want ErrNotFound", err)
	}
	if secretstore.Retryable(err) {
		t.Error("not found must not be retryable")
	}
	if err := s.Put(context.Background(), []byte("x")); !errors.Is(err, secretstore.ErrNotFound) {
		t.Fatalf("Put: %v, want ErrNotFound", err)
	}
}

func TestARNAndEndpointFromEnvironment(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	arn := fake.CreateSecret("tickets")
	fake.SetValue("tickets", []byte("v1"))
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", fake.URL)
	for _, u := range []string{"awssm://" + arn, "awssm:///" + arn} {
		s := open(t, u)
		got, err := s.Get(context.Background())
		if err != nil || string(got) != "v1" {
			t.Fatalf("%s: Get = %q, %v", u, got, err)
		}
	}
	if _, err := secretstore.Open(context.Background(), "awssm://tickets"); err == nil || !strings.Contains(err.Error(), "region") {
		t.Errorf("no region: %v", err)
	}
}

func TestMissingCredentials(t *testing.T) {
	awssmtest.Env(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	_, err := secretstore.Open(context.Background(), "awssm://x?region=us-east-1")
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("Open without credentials: %v", err)
	}
}

func TestFaults(t *testing.T) {
	awssmtest.Env(t)
	cases := []struct {
		name      string
		fault     awssmtest.Fault
		kind      error
		retryable bool
		text      string
	}{
		{"throttled", awssmtest.Throttled("", 0), secretstore.ErrThrottled, true, "retry later"},
		{"5xx", awssmtest.Unavailable("", 0), secretstore.ErrUnavailable, true, "a retry may help"},
		{"502 html", awssmtest.Fault{Status: 502, Body: "<html>bad gateway " + marker + "</html>"}, secretstore.ErrUnavailable, true, "server error"},
		{"malformed 200", awssmtest.Fault{Status: 200, Body: `{"Name":"t","SecretString":"` + marker}, secretstore.ErrMalformed, false, "could not be decoded"},
		{"not json 200", awssmtest.Fault{Status: 200, Body: "<html>" + marker}, secretstore.ErrMalformed, false, "check the endpoint"},
		{"denied", awssmtest.Fault{Type: "AccessDeniedException", Message: "not authorized to perform secretsmanager:GetSecretValue"}, secretstore.ErrDenied, false, "not authorized"},
		{"kms", awssmtest.Fault{Type: "DecryptionFailure", Message: "can't decrypt"}, secretstore.ErrDenied, false, "fix credentials"},
		{"hangup", awssmtest.Fault{Hangup: true}, secretstore.ErrUnavailable, true, "could not reach"},
		{"other 4xx", awssmtest.Fault{Type: "InvalidParameterException", Message: "bad"}, nil, false, "retrying will not help"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := awssmtest.New(t)
			fake.SetValue("s", []byte(marker))
			fake.Inject(tc.fault)
			s := open(t, fake.StoreURL("s", "attempts=1"))
			for _, call := range []func() error{
				func() error { _, err := s.Get(context.Background()); return err },
				func() error { return s.Put(context.Background(), []byte(marker)) },
			} {
				err := call()
				if err == nil {
					t.Fatal("no error")
				}
				var se *secretstore.Error
				if !errors.As(err, &se) {
					t.Fatalf("%T is not a *secretstore.Error: %v", err, err)
				}
				if tc.kind != nil && !errors.Is(err, tc.kind) {
					t.Errorf("error %v is not %v", err, tc.kind)
				}
				if tc.kind == nil && se.Kind != nil {
					t.Errorf("kind %v, want none", se.Kind)
				}
				if got := secretstore.Retryable(err); got != tc.retryable {
					t.Errorf("Retryable = %v, want %v", got, tc.retryable)
				}
				msg := err.Error()
				if strings.Contains(msg, marker) {
					t.Errorf("error text carries the secret: %s", msg)
				}
				if !strings.Contains(msg, tc.text) {
					t.Errorf("error text %q lacks %q", msg, tc.text)
				}
			}
		})
	}
}

func TestThrottleRetried(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	fake.SetValue("s", []byte("v"))
	fake.Inject(awssmtest.Throttled("GetSecretValue", 1))
	s := open(t, fake.StoreURL("s"))
	if got, err := s.Get(context.Background()); err != nil || string(got) != "v" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if n := len(fake.Calls("GetSecretValue")); n != 2 {
		t.Errorf("calls = %d, want 2 (one throttled, one retried)", n)
	}
}

func TestTimeouts(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	fake.SetValue("s", []byte("v"))
	fake.Inject(awssmtest.Slow("", 5*time.Second, 0))

	// The store's own per-call bound.
	s := open(t, fake.StoreURL("s", "timeout=300ms"))
	start := time.Now()
	_, err := s.Get(context.Background())
	if !errors.Is(err, secretstore.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Get took %v with a 300ms timeout", d)
	}
	if !strings.Contains(err.Error(), "timed out") {
		t.Errorf("error text: %v", err)
	}

	// The caller's context.
	s = open(t, fake.StoreURL("s"))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	err = s.Put(ctx, []byte("x"))
	if !errors.Is(err, secretstore.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Put: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Put took %v with a 200ms context", d)
	}
}

func TestLeaseOnlyWithLeaseSecret(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	if _, ok := open(t, fake.StoreURL("t")).(secretstore.Leaser); ok {
		t.Error("a store without ?lease= must not offer leases")
	}
	if _, ok := open(t, fake.StoreURL("t", "lease=t-lease")).(secretstore.Leaser); !ok {
		t.Error("a store with ?lease= must offer leases")
	}
}

// One winner among racing processes is TestConformance's; here: leases
// live in the lease secret only, and losers write nothing.
func TestLeaseWritesOnlyTheLeaseSecret(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	fake.CreateSecret("tickets")
	fake.CreateSecret("tickets-lease")
	ctx := context.Background()
	for i, want := range []bool{true, false, false} {
		l := open(t, fake.StoreURL("tickets", "lease=tickets-lease")).(secretstore.Leaser)
		if ok, err := l.TryLease(ctx, "after:2024-01-01T00:00:00Z", time.Minute); err != nil || ok != want {
			t.Fatalf("process %d: held %v, %v", i, ok, err)
		}
	}
	if _, ok := fake.Value("tickets"); ok {
		t.Error("leases must not touch the tickets secret")
	}
	if n := fake.Versions("tickets-lease"); n != 1 {
		t.Errorf("lease versions = %d, want 1 (losers write nothing)", n)
	}
}

func TestLeaseIdempotentExpiryAndSlots(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	fake.CreateSecret("lease")
	ctx := context.Background()
	a := open(t, fake.StoreURL("t", "lease=lease")).(secretstore.Leaser)
	b := open(t, fake.StoreURL("t", "lease=lease")).(secretstore.Leaser)

	try := func(l secretstore.Leaser, slot string, ttl time.Duration) bool {
		t.Helper()
		ok, err := l.TryLease(ctx, slot, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !try(a, "s1", 300*time.Millisecond) {
		t.Fatal("a did not get a free slot")
	}
	if !try(a, "s1", 300*time.Millisecond) {
		t.Error("a lost its own lease on asking again")
	}
	if try(b, "s1", time.Minute) {
		t.Error("b got a live lease")
	}
	if !try(b, "s2", time.Minute) {
		t.Error("b did not get another slot")
	}
	time.Sleep(350 * time.Millisecond)
	if !try(b, "s1", time.Minute) {
		t.Error("b did not take over an expired lease")
	}
	if try(a, "s1", time.Minute) {
		t.Error("a got s1 back while b holds it")
	}
	if _, err := a.TryLease(ctx, "", time.Minute); !errors.Is(err, secretstore.ErrBadLease) {
		t.Errorf("empty slot: %v", err)
	}
	if _, err := a.TryLease(ctx, "x", 25*time.Hour); !errors.Is(err, secretstore.ErrBadLease) {
		t.Errorf("ttl over a day: %v", err)
	}
}

func TestLeaseRetriedPutIsStillHeld(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	fake.CreateSecret("lease")
	// The first PutSecretValue is applied but its answer is too late for
	// the client; the SDK's retry of the same call is a no-op success.
	fake.Inject(awssmtest.Slow("PutSecretValue", 400*time.Millisecond, 1))
	l := open(t, fake.StoreURL("t", "lease=lease")).(secretstore.Leaser)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := l.TryLease(ctx, "s", time.Minute); err == nil {
		t.Fatal("want a timeout")
	}
	time.Sleep(300 * time.Millisecond) // the slow request lands
	ok, err := l.TryLease(context.Background(), "s", time.Minute)
	if err != nil || !ok {
		t.Fatalf("retry after a lost answer: held=%v err=%v", ok, err)
	}
	other := open(t, fake.StoreURL("t", "lease=lease")).(secretstore.Leaser)
	if ok, _ := other.TryLease(context.Background(), "s", time.Minute); ok {
		t.Error("two holders")
	}
}

func TestOpenConfigDirect(t *testing.T) {
	if _, err := awssm.Open(awssm.Config{SecretID: "x", Region: "us-east-1"}); err == nil {
		t.Error("Open without credentials succeeded")
	}
}

// The contract every store keeps (secretstoretest), here with a lease
// secret as the template configures it.
func TestConformance(t *testing.T) {
	awssmtest.Env(t)
	fake := awssmtest.New(t)
	fake.CreateSecret("conformance")
	fake.CreateSecret("conformance-lease")
	u := fake.StoreURL("conformance", "lease=conformance-lease")
	secretstoretest.Conformance(t, func() secretstore.Store { return open(t, u) })
}
