package redisquota

import (
	"bufio"
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/quota"
	"github.com/cardocr/cardocr/shared/quota/quotatest"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want options
		bad  bool
	}{
		{in: "redis://127.0.0.1:6380/2", want: options{addr: "127.0.0.1:6380", host: "127.0.0.1", db: 2}},
		{in: "redis://:pw@10.0.0.5", want: options{addr: "10.0.0.5:6379", host: "10.0.0.5", password: "pw"}},
		{in: "rediss://user:p%40ss@redis.example:6379/0", want: options{addr: "redis.example:6379", host: "redis.example", user: "user", password: "p@ss", tls: true}},
		{in: "redis://127.0.0.1/x", bad: true},
		{in: "http://127.0.0.1", bad: true},
		{in: "redis:///0", bad: true},
	} {
		got, err := parseURL(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("%s: %+v %v", tc.in, got, err)
		}
	}
}

func startServer(t *testing.T, args ...string) int {
	t.Helper()
	port := quotatest.FreePort(t)
	quotatest.Server(t, "redis-server", "redis-server", append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no"}, args...)...)
	quotatest.WaitPort(t, port)
	return port
}

// A password and a database from the URL; a wrong password fails without
// the password in the error.
func TestAuthAndDatabase(t *testing.T) {
	port := startServer(t, "--requirepass", "s3cret-pass")
	ctx := context.Background()
	open := func(u string) *Store {
		o, err := parseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		return &Store{c: newClient(o)}
	}
	st := open("redis://:s3cret-pass@127.0.0.1:" + strconv.Itoa(port) + "/3")
	if ok, err := st.Reserve(ctx, "20261204", quota.Counters{Tenant: "a", TenantLimit: 1}); !ok || err != nil {
		t.Fatalf("Reserve: %v %v", ok, err)
	}
	rs, err := st.c.do(ctx, []string{"EXISTS", key("20261204")})
	if err != nil || rs[0].n != 1 {
		t.Fatalf("not in database 3: %+v %v", rs, err)
	}
	bad := open("redis://:wrong-pass@127.0.0.1:" + strconv.Itoa(port))
	_, err = bad.Counts(ctx, "20261204")
	if err == nil || !strings.Contains(err.Error(), "authentication failed") || strings.Contains(err.Error(), "wrong-pass") {
		t.Errorf("wrong password: %v", err)
	}
}

// A pooled connection the server closed while idle is replaced, once.
func TestStaleConnectionIsReplaced(t *testing.T) {
	port := startServer(t)
	o, _ := parseURL("redis://127.0.0.1:" + strconv.Itoa(port))
	st := &Store{c: newClient(o)}
	ctx := context.Background()
	if _, err := st.Counts(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	admin := newClient(o)
	if rs, err := admin.do(ctx, []string{"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}); err != nil || rs[0].n < 1 {
		t.Fatalf("CLIENT KILL: %+v %v", rs, err)
	}
	if ok, err := st.Reserve(ctx, "d", quota.Counters{Tenant: "a"}); !ok || err != nil {
		t.Fatalf("after the server closed the idle connection: %v %v", ok, err)
	}
	if m, err := st.Counts(ctx, "d"); err != nil || m["a"] != 1 || m[""] != 1 {
		t.Fatalf("counted %v %v (once, not twice)", m, err)
	}
}

// Any bytes: a reply or an error, never a panic or a huge allocation.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "-ERR x\r\n", ":12\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*2\r\n$1\r\na\r\n:1\r\n", "*-1\r\n", "$99999999999\r\n", "*3\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = readReply(bufio.NewReader(strings.NewReader(string(b))))
	})
}
