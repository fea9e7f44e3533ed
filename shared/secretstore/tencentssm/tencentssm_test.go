package tencentssm_test

import (
	"bytes"
	"context"
	"errors"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/secretstore/secretstoretest"
	"github.com/cardocr/cardocr/shared/secretstore/tencentssm"
	"github.com/cardocr/cardocr/shared/secretstore/tencentssm/tencentssmtest"
)

const marker = "SECRET-MARKER-5c1e"

func open(t *testing.T, url string) secretstore.Store {
	t.Helper()
	s, err := secretstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The Store contract (round trips, ErrNotFound, leases) is
// TestConformance's; these are SSM's own facts: one fixed version created
// once and updated after, token and region on every call, binary values as
// SecretBinary.
func TestFixedVersionTokenAndBinary(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.CreateSecret("cardocr-tickets")
	s := open(t, fake.StoreURL("cardocr-tickets"))
	ctx := context.Background()
	doc := `{"webank":{"signTicket":"` + marker + `"}}`
	if err := s.Put(ctx, []byte(doc)); err != nil { // creates version "current"
		t.Fatal(err)
	}
	if err := s.Put(ctx, []byte(doc+" ")); err != nil { // updates it
		t.Fatal(err)
	}
	if v := fake.VersionIDs("cardocr-tickets"); len(v) != 1 || v[0] != "current" {
		t.Errorf("versions %v, want [current]", v)
	}
	if n := len(fake.Calls("PutSecretValue")); n != 1 {
		t.Errorf("PutSecretValue calls = %d, want 1 (only to create the version)", n)
	}
	if n := len(fake.Calls("UpdateSecret")); n != 2 {
		t.Errorf("UpdateSecret calls = %d, want 2", n)
	}
	for _, c := range fake.Calls("") {
		if c.Token != tencentssmtest.SessionToken || c.Region != tencentssmtest.Region {
			t.Errorf("%s: token %q region %q", c.Action, c.Token, c.Region)
		}
	}
	// Binary values travel as SecretBinary.
	bin := []byte{0xff, 0x00, 0xfe}
	if err := s.Put(ctx, bin); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx); err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("binary Get = %x, %v", got, err)
	}
}

func TestVersionOptionAndMissingSecret(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.SetValue("creds", "v2", []byte("two"))
	fake.SetValue("creds", "current", []byte("cur"))
	if got, err := open(t, fake.StoreURL("creds", "version=v2")).Get(context.Background()); err != nil || string(got) != "two" {
		t.Fatalf("Get v2 = %q, %v", got, err)
	}
	s := open(t, fake.StoreURL("nope"))
	if _, err := s.Get(context.Background()); !errors.Is(err, secretstore.ErrNotFound) {
		t.Fatalf("Get: %v, want ErrNotFound", err)
	}
	if err := s.Put(context.Background(), []byte("x")); !errors.Is(err, secretstore.ErrNotFound) {
		t.Fatalf("Put to a missing secret: %v, want ErrNotFound", err)
	}
	for _, bad := range []string{"version=lease-x", "version=a%2Fb"} {
		if _, err := secretstore.Open(context.Background(), fake.StoreURL("x", bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestCredentialsFromEnvironmentAtEachCall(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.SetValue("s", "current", []byte("v"))
	fake.Lenient = true // the wrong token below is on purpose
	s := open(t, fake.StoreURL("s"))
	t.Setenv("TENCENTCLOUD_SESSIONTOKEN", "renewed")
	_, err := s.Get(context.Background())
	// The fake only accepts its token: the renewed one must have been sent.
	if err == nil {
		t.Fatal("stale credentials used")
	}
	if !errors.Is(err, secretstore.ErrDenied) {
		t.Errorf("wrong token: %v, want ErrDenied", err)
	}
	t.Setenv("TENCENTCLOUD_SECRETID", "")
	if _, err := s.Get(context.Background()); !errors.Is(err, secretstore.ErrDenied) || !strings.Contains(err.Error(), "TENCENTCLOUD_SECRETID") {
		t.Errorf("Get after the credentials went away: %v", err)
	}
	if _, err := secretstore.Open(context.Background(), fake.StoreURL("s")); err == nil || !strings.Contains(err.Error(), "TENCENTCLOUD_SECRETID") {
		t.Errorf("Open without credentials: %v", err)
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.SetValue("s", "current", []byte("v"))
	t.Setenv("TENCENTSSM_ENDPOINT", fake.URL)
	got, err := open(t, "tencentssm://s").Get(context.Background())
	if err != nil || string(got) != "v" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestFaults(t *testing.T) {
	tencentssmtest.Env(t)
	cases := []struct {
		name      string
		fault     tencentssmtest.Fault
		kind      error
		retryable bool
		text      string
	}{
		{"throttled", tencentssmtest.Throttled("", 0), secretstore.ErrThrottled, true, "retry later"},
		{"internal", tencentssmtest.InternalError("", 0), secretstore.ErrUnavailable, true, "a retry may help"},
		{"502", tencentssmtest.Fault{Status: 502, Body: "<html>" + marker + "</html>"}, secretstore.ErrUnavailable, true, "HTTP status 502"},
		{"429", tencentssmtest.Fault{Status: 429, Body: marker}, secretstore.ErrThrottled, true, "HTTP status 429"},
		{"malformed", tencentssmtest.Fault{Body: `{"Response":{"SecretString":"` + marker}, secretstore.ErrMalformed, false, "check the endpoint"},
		{"no Response", tencentssmtest.Fault{Body: `{"SecretString":"` + marker + `"}`}, secretstore.ErrMalformed, false, "not what SSM sends"},
		{"denied", tencentssmtest.Fault{Code: "UnauthorizedOperation", Message: "CAM denied ssm:GetSecretValue"}, secretstore.ErrDenied, false, "CAM denied"},
		{"disabled", tencentssmtest.Fault{Code: "ResourceUnavailable.ResourceDisabled", Message: "disabled"}, secretstore.ErrDenied, false, "fix credentials"},
		{"hangup", tencentssmtest.Fault{Hangup: true}, secretstore.ErrUnavailable, true, "could not reach SSM"},
		{"other", tencentssmtest.Fault{Code: "InvalidParameterValue", Message: "bad"}, nil, false, "retrying will not help"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := tencentssmtest.New(t)
			fake.SetValue("s", "current", []byte(marker))
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

func TestTransientFailuresRetried(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.SetValue("s", "current", []byte("v"))
	fake.Inject(tencentssmtest.Throttled("GetSecretValue", 1))
	fake.Inject(tencentssmtest.Unavailable("GetSecretValue", 1))
	s := open(t, fake.StoreURL("s"))
	if got, err := s.Get(context.Background()); err != nil || string(got) != "v" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if n := len(fake.Calls("GetSecretValue")); n != 3 {
		t.Errorf("calls = %d, want 3", n)
	}
	// Not retried: not found.
	fake.Inject(tencentssmtest.Fault{Action: "GetSecretValue", Times: 1, Code: "ResourceNotFound", Message: "gone"})
	if _, err := s.Get(context.Background()); !errors.Is(err, secretstore.ErrNotFound) {
		t.Fatal(err)
	}
	if n := len(fake.Calls("GetSecretValue")); n != 4 {
		t.Errorf("calls = %d, want 4 (not found is not retried)", n)
	}
}

func TestTimeouts(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.SetValue("s", "current", []byte("v"))
	fake.Inject(tencentssmtest.Slow("", 5*time.Second, 0))

	s := open(t, fake.StoreURL("s", "timeout=300ms"))
	start := time.Now()
	_, err := s.Get(context.Background())
	if !errors.Is(err, secretstore.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Get took %v with a 300ms timeout", d)
	}
	if !strings.Contains(err.Error(), "in time") {
		t.Errorf("error text: %v", err)
	}
	s = open(t, fake.StoreURL("s"))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	if err := s.Put(ctx, []byte("x")); !errors.Is(err, context.DeadlineExceeded) || !secretstore.Retryable(err) {
		t.Fatalf("Put: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Put took %v with a 200ms context", d)
	}

	// Throttled until the time is up: the error says throttled.
	fake.ClearFaults()
	fake.Inject(tencentssmtest.Throttled("", 0))
	s = open(t, fake.StoreURL("s", "timeout=150ms", "attempts=10"))
	_, err = s.Get(context.Background())
	if !errors.Is(err, secretstore.ErrThrottled) || !strings.Contains(err.Error(), "ran out of time") {
		t.Fatalf("Get: %v", err)
	}
}

func TestSDKLogFlagsRestored(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.SetValue("s", "current", []byte("v"))
	log.SetFlags(0)
	defer log.SetFlags(log.LstdFlags)
	if _, err := open(t, fake.StoreURL("s")).Get(context.Background()); err != nil {
		t.Fatal(err)
	}
	if f := log.Flags(); f != 0 {
		t.Errorf("log flags changed to %d", f)
	}
}

func leaser(t *testing.T, url string) secretstore.Leaser {
	t.Helper()
	l, ok := open(t, url).(secretstore.Leaser)
	if !ok {
		t.Fatal("tencentssm store is not a Leaser")
	}
	return l
}

// One winner among racing processes is TestConformance's; here: a lease
// is a version of its own and never touches the current one.
func TestLeaseLeavesTheCurrentVersion(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.SetValue("tickets", "current", []byte(`{}`))
	ctx := context.Background()
	for i, want := range []bool{true, false} {
		if ok, err := leaser(t, fake.StoreURL("tickets")).TryLease(ctx, "after:2024-01-01T00:00:00Z", time.Minute); err != nil || ok != want {
			t.Fatalf("process %d: held %v, %v", i, ok, err)
		}
	}
	if v, _ := fake.Value("tickets", "current"); string(v) != `{}` {
		t.Errorf("lease touched the current version: %q", v)
	}
}

func TestLeaseExpiryChainAndCleanup(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.SetValue("tickets", "current", []byte(`{}`))
	ctx := context.Background()
	a := leaser(t, fake.StoreURL("tickets"))
	b := leaser(t, fake.StoreURL("tickets"))
	try := func(l secretstore.Leaser, slot string, ttl time.Duration) bool {
		t.Helper()
		ok, err := l.TryLease(ctx, slot, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !try(a, "s1", 200*time.Millisecond) || !try(a, "s1", time.Second) {
		t.Fatal("a does not hold a free slot")
	}
	if try(b, "s1", time.Minute) {
		t.Fatal("b got a live lease")
	}
	time.Sleep(250 * time.Millisecond)
	if !try(b, "s1", time.Minute) {
		t.Fatal("b did not take over an expired lease")
	}
	if try(a, "s1", time.Minute) {
		t.Fatal("a holds s1 again while b does")
	}

	// Many slots in a row: expired leases of old slots are deleted, so
	// the secret never reaches SSM's 10-version cap.
	for i := range 30 {
		if !try(a, "slot-"+string(rune('a'+i)), time.Millisecond) {
			t.Fatalf("slot %d not leased", i)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if n := len(fake.VersionIDs("tickets")); n > tencentssmtest.MaxVersions {
		t.Fatalf("%d versions", n)
	}
	if v, _ := fake.Value("tickets", "current"); string(v) != `{}` {
		t.Errorf("cleanup touched the current version: %q", v)
	}
}

func TestPutAtVersionCapCleansLeases(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.CreateSecret("tickets")
	l := leaser(t, fake.StoreURL("tickets", "attempts=1"))
	ctx := context.Background()
	// Fill the secret with expired leases from another holder's slots
	// (no clean-up runs for them: each is taken by a fresh store).
	for i := range tencentssmtest.MaxVersions {
		other := leaser(t, fake.StoreURL("tickets"))
		ok, err := other.TryLease(ctx, "old-"+string(rune('a'+i)), time.Millisecond)
		if err != nil || !ok {
			t.Fatalf("lease %d: %v %v", i, ok, err)
		}
	}
	time.Sleep(5 * time.Millisecond)
	if err := l.(secretstore.Store).Put(ctx, []byte(`{"v":1}`)); err != nil {
		t.Fatalf("Put at the cap: %v", err)
	}
	if v, _ := fake.Value("tickets", "current"); string(v) != `{"v":1}` {
		t.Errorf("current = %q", v)
	}
}

func TestLeaseSeparateSecret(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.SetValue("tickets", "current", []byte(`{}`))
	fake.CreateSecret("tickets-lease")
	l := leaser(t, fake.StoreURL("tickets", "lease=tickets-lease"))
	if ok, err := l.TryLease(context.Background(), "s", time.Minute); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if n := len(fake.VersionIDs("tickets")); n != 1 {
		t.Errorf("tickets secret has %d versions", n)
	}
	if n := len(fake.VersionIDs("tickets-lease")); n != 1 {
		t.Errorf("lease secret has %d versions", n)
	}
}

func TestOpenConfigDirect(t *testing.T) {
	if _, err := tencentssm.Open(tencentssm.Config{SecretName: "x"}); err == nil {
		t.Error("Open without a region succeeded")
	}
}

// The contract every store keeps (secretstoretest).
func TestConformance(t *testing.T) {
	tencentssmtest.Env(t)
	fake := tencentssmtest.New(t)
	fake.CreateSecret("conformance")
	u := fake.StoreURL("conformance")
	secretstoretest.Conformance(t, func() secretstore.Store { return open(t, u) })
}
