// Package quotatest holds what every quota store must pass: the counting
// contract, and exactly N reservations out of many concurrent ones made by
// several processes sharing the store. It also starts the real servers the
// backends are tested against (redis-server, dynalite) on 127.0.0.1.
package quotatest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/quota"
)

// Conformance checks the counting contract on a store.
func Conformance(t *testing.T, s quota.Store) {
	t.Helper()
	ctx := context.Background()
	day := "2026-12-04"
	acme := quota.Counters{Tenant: "acme", TenantLimit: 2, TotalLimit: 3}
	bravo := quota.Counters{Tenant: "bravo", TenantLimit: 0, TotalLimit: 3}
	for i, want := range []bool{true, true, false} {
		if ok, err := s.Reserve(ctx, day, acme); err != nil || ok != want {
			t.Fatalf("acme reservation %d: %v %v, want %v", i+1, ok, err, want)
		}
	}
	if ok, _ := s.Reserve(ctx, day, bravo); !ok {
		t.Fatal("bravo's first call refused")
	}
	if ok, _ := s.Reserve(ctx, day, bravo); ok {
		t.Fatal("the deployment cap (3) was passed")
	}
	if err := s.Release(ctx, day, acme); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Reserve(ctx, day, bravo); !ok {
		t.Fatal("a released call was not given back")
	}
	c, err := s.Counts(ctx, day)
	if err != nil || c["acme"] != 1 || c["bravo"] != 2 || c[""] != 3 {
		t.Errorf("counts %v %v", c, err)
	}
	// Another day starts again; a release never goes below zero.
	if ok, _ := s.Reserve(ctx, "2026-12-05", acme); !ok {
		t.Error("a new day is not a new count")
	}
	for range 3 {
		s.Release(ctx, "2026-12-06", bravo)
	}
	if c, _ := s.Counts(ctx, "2026-12-06"); c["bravo"] != 0 || c[""] != 0 {
		t.Errorf("released below zero: %v", c)
	}
	// The breaker's flags.
	sus, ok := s.(quota.Suspensions)
	if !ok {
		t.Fatal("the store keeps no suspensions")
	}
	if r, until, err := sus.Suspension(ctx, "tencentcloud"); err != nil || r != "" || !until.IsZero() {
		t.Errorf("no flag: %q %v %v", r, until, err)
	}
	until := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := sus.Suspend(ctx, "tencentcloud", "FailedOperation.ArrearsError", until); err != nil {
		t.Fatal(err)
	}
	r, got, err := sus.Suspension(ctx, "tencentcloud")
	if err != nil || r != "FailedOperation.ArrearsError" || got.Sub(until) > time.Second || until.Sub(got) > time.Second {
		t.Errorf("flag: %q %v (want %v) %v", r, got, until, err)
	}
	if r, _, _ := sus.Suspension(ctx, "webank"); r != "" {
		t.Errorf("another provider flagged: %q", r)
	}
}

// Environment of the helper processes.
const (
	envURL   = "QUOTATEST_URL"
	envDay   = "QUOTATEST_DAY"
	envLimit = "QUOTATEST_LIMIT"
)

// RunHelper is called first in a backend's TestMain: in a helper process
// it makes 16 goroutines × 4 reservations against the store, prints how
// many were granted and exits.
func RunHelper() {
	url := os.Getenv(envURL)
	if url == "" {
		return
	}
	limit, _ := strconv.ParseInt(os.Getenv(envLimit), 10, 64)
	st, err := quota.Open(context.Background(), url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 4 {
				ok, err := st.Reserve(context.Background(), os.Getenv(envDay), quota.Counters{Tenant: "acme", TenantLimit: limit})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				if ok {
					granted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Println(granted.Load())
	os.Exit(0)
}

// AcrossProcesses runs 4 helper processes (64 concurrent clients, 256
// attempts) against the store at url with a tenant quota of n, and checks
// that exactly n were granted, and counted.
func AcrossProcesses(t *testing.T, url string, n int) {
	t.Helper()
	day := "2026-12-" + strconv.Itoa(10+int(time.Now().UnixNano()%18))
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), envURL+"="+url, envDay+"="+day, envLimit+"="+strconv.Itoa(n))
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("helper: %v", err)
				return
			}
			k, _ := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
			total.Add(k)
		}()
	}
	wg.Wait()
	if got := total.Load(); got != int64(n) {
		t.Errorf("64 clients in 4 processes were granted %d calls, want exactly %d", got, n)
	}
	st, _ := quota.Open(context.Background(), url)
	if c, err := st.Counts(context.Background(), day); err != nil || c["acme"] != int64(n) {
		t.Errorf("stored count %v %v, want %d", c, err, n)
	}
}

// FreePort is a free TCP port on 127.0.0.1.
func FreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Server starts a server process the test needs, on 127.0.0.1, and waits
// for its port; missing (not installed): skipped, except under CI, where
// .ci/run installs it.
func Server(t *testing.T, name string, bin string, args ...string) {
	t.Helper()
	path, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (.ci/run installs it): %v", name, err)
		}
		t.Skipf("%s is not installed here", name)
	}
	cmd := exec.Command(path, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
}

// WaitPort waits until 127.0.0.1:port accepts connections.
func WaitPort(t *testing.T, port int) {
	t.Helper()
	for i := 0; i < 200; i++ {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on 127.0.0.1:%d", port)
}
