package callback

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/ocr"
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1764835200, 0)
	body := []byte(`{"orderNo":"o1","kind":"idcard","status":"done"}`)
	h := Sign("s3cret", now, body)
	if !regexp.MustCompile(`^t=1764835200,v1=[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("header %q", h)
	}
	for _, tc := range []struct {
		name, secret, header string
		body                 []byte
		at                   time.Time
		ok                   bool
	}{
		{"as signed", "s3cret", h, body, now, true},
		{"a rotated secret beside", "s3cret", h + ",v1=" + strings.Repeat("0", 64), body, now.Add(time.Minute), true},
		{"another secret", "other", h, body, now, false},
		{"another body", "s3cret", h, append(body, ' '), now, false},
		{"replayed later", "s3cret", h, body, now.Add(6 * time.Minute), false},
		{"no v1", "s3cret", "t=1764835200", body, now, false},
		{"garbage", "s3cret", "v1,t", body, now, false},
	} {
		if err := Verify(tc.secret, tc.header, tc.body, Tolerance, tc.at); (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 320 * time.Second, 640 * time.Second, 15 * time.Minute, 15 * time.Minute}
	for i, w := range want {
		if got := Backoff(i, 0); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i, got, w)
		}
	}
	// A day of attempts at most 15 minutes apart is about a hundred.
	var total time.Duration
	n := 0
	for total < MaxAge {
		total += Backoff(n, 0)
		n++
	}
	if n < 90 || n > 110 {
		t.Errorf("%d attempts in 24 h", n)
	}
}

// The dialer refuses internal addresses before any packet leaves: the
// check runs on the address about to be dialled.
func TestDialerRefusesInternalAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for _, tc := range []struct {
		addr     string
		loopback bool
		refused  bool
	}{
		{"10.0.0.1:443", false, true},
		{"172.16.5.4:443", false, true},
		{"192.168.1.1:443", false, true},
		{"169.254.169.254:80", false, true}, // the clouds' metadata service
		{"100.64.0.1:443", false, true},
		{"0.0.0.0:443", false, true},
		{"[fd00::1]:443", false, true},
		{"[fe80::1]:443", false, true},
		{"[::ffff:10.0.0.1]:443", false, true},
		{ln.Addr().String(), false, true}, // loopback, outside the local stack
		{ln.Addr().String(), true, false}, // the local stack's own receiver
		{"192.168.1.1:443", true, true},   // loopback allowed, private still not
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := Dialer(tc.loopback).DialContext(ctx, "tcp", tc.addr)
		cancel()
		if c != nil {
			c.Close()
		}
		if got := errors.Is(err, ErrRefusedAddress); got != tc.refused {
			t.Errorf("%s (loopback %v): %v", tc.addr, tc.loopback, err)
		}
		if tc.refused && !strings.Contains(err.Error(), "refused to connect to a private") {
			t.Errorf("the refusal does not say why: %v", err)
		}
	}
	for _, tc := range []struct {
		url      string
		loopback bool
		ok       bool
	}{
		{"https://hooks.example.com/cardocr", false, true},
		{"http://hooks.example.com/cardocr", false, false},
		{"http://127.0.0.1:8080/_local/callbacks", false, false},
		{"http://127.0.0.1:8080/_local/callbacks", true, true},
		{"http://example.com/x", true, false},
		{"https://user:pw@hooks.example.com/", false, false},
		{"/relative", false, false},
	} {
		if _, err := CheckURL(tc.url, tc.loopback); (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, %v): %v", tc.url, tc.loopback, err)
		}
	}
}

type memOutbox struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (o *memOutbox) k(owner, kind, orderNo, status string) string {
	return owner + "/" + kind + "/" + orderNo + "." + status
}
func (o *memOutbox) PutCallback(_ context.Context, owner, kind, orderNo, status string, body []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[o.k(owner, kind, orderNo, status)] = body
	return nil
}
func (o *memOutbox) Callback(_ context.Context, owner, kind, orderNo, status string) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.m[o.k(owner, kind, orderNo, status)], nil
}
func (o *memOutbox) DeleteCallback(_ context.Context, owner, kind, orderNo, status string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.m, o.k(owner, kind, orderNo, status))
	return nil
}

type memQueue struct {
	sent   [][]byte
	delays []time.Duration
}

func (q *memQueue) Send(_ context.Context, b []byte, d time.Duration) error {
	q.sent, q.delays = append(q.sent, b), append(q.delays, d)
	return nil
}

type memOrders map[string]ocr.Order

func (m memOrders) Order(_ context.Context, owner, orderNo string) (*ocr.Order, error) {
	if o, ok := m[orderNo]; ok {
		return &o, nil
	}
	return nil, nil
}
func (m memOrders) SaveOrder(_ context.Context, o ocr.Order) error { m[o.OrderNo] = o; return nil }

// A failing receiver: each attempt within 24 h is queued again with its
// backoff; past 24 h the order is marked and the message fails.
func TestDeliverRetriesThenGivesUp(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer down.Close()
	now := time.Unix(1764835200, 0)
	ob, q, orders := &memOutbox{m: map[string][]byte{}}, &memQueue{}, memOrders{"o1": {OrderNo: "o1", State: ocr.OrderDone}}
	d := &Deliverer{Outbox: ob, Queue: q, Orders: orders, Targets: Static(down.URL, "s"), Loopback: true, Now: func() time.Time { return now }}
	ob.PutCallback(context.Background(), "", "idcard", "o1", Done, []byte(`{}`))
	out, err := d.Deliver(context.Background(), Job{Kind: "idcard", OrderNo: "o1", Status: Done, Attempt: 3, Since: now.Add(-time.Hour).Unix()})
	if err != nil || out != Retrying || len(q.sent) != 1 || q.delays[0] != 80*time.Second || !strings.Contains(string(q.sent[0]), `"attempt":4`) {
		t.Fatalf("within 24 h: %s %v %q %v", out, err, q.sent, q.delays)
	}
	out, err = d.Deliver(context.Background(), Job{Kind: "idcard", OrderNo: "o1", Status: Done, Attempt: 99, Since: now.Add(-25 * time.Hour).Unix()})
	if !errors.Is(err, ErrGaveUp) || !orders["o1"].CallbackFailed || len(q.sent) != 1 {
		t.Fatalf("past 24 h: %s %v, order %+v", out, err, orders["o1"])
	}
	// Nothing waiting (delivered before, or erased): done, nothing sent.
	if out, err := d.Deliver(context.Background(), Job{Kind: "idcard", OrderNo: "o2", Status: Done}); out != Gone || err != nil {
		t.Fatalf("gone: %s %v", out, err)
	}
}

// The verifiers docs/callbacks.md shows, run as written: the Go one with
// go run, the Node one with node, on a delivery and on a forged one.
func TestDocumentedVerifiers(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "callbacks.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := func(lang string) string {
		m := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```").FindSubmatch(doc)
		if m == nil {
			t.Fatalf("no %s block in docs/callbacks.md", lang)
		}
		return string(m[1])
	}
	now := time.Now()
	body := `{"orderNo":"o1","kind":"bankcard","status":"done","result":{"card":{"number":"6222"}}}`
	good := Sign("s3cret", now, []byte(body))
	cases := []struct {
		header, body string
		want         string
	}{
		{good, body, "true"},
		{good, body + " ", "false"},
		{Sign("other", now, []byte(body)), body, "false"},
		{Sign("s3cret", now.Add(-10*time.Minute), []byte(body)), body, "false"},
	}
	goSrc := "package main\n\nimport (\n\t\"crypto/hmac\"\n\t\"crypto/sha256\"\n\t\"encoding/hex\"\n\t\"fmt\"\n\t\"os\"\n\t\"strconv\"\n\t\"strings\"\n\t\"time\"\n)\n\n" +
		block("go") + "\nfunc main() { fmt.Print(verify(os.Args[1], os.Args[2], []byte(os.Args[3]), time.Now())) }\n"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(goSrc), 0o600); err != nil {
		t.Fatal(err)
	}
	gobin := filepath.Join(dir, "verify")
	build := exec.Command("go", "build", "-o", gobin, "main.go")
	build.Dir = dir
	build.Env = append(os.Environ(), "GO111MODULE=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the documented Go verifier does not build: %v\n%s", err, out)
	}
	node, nodeErr := exec.LookPath("node")
	for i, c := range cases {
		out, err := exec.Command(gobin, "s3cret", c.header, c.body).Output()
		if err != nil || string(out) != c.want {
			t.Errorf("Go verifier, case %d: %s %v, want %s", i, out, err, c.want)
		}
		if nodeErr != nil {
			continue
		}
		js := block("js") + "\nconst [s, h, b] = process.argv.slice(-3)\nprocess.stdout.write(String(verify(s, h, Buffer.from(b))))\n"
		out, err = exec.Command(node, "-e", js, "s3cret", c.header, c.body).Output()
		if err != nil || string(out) != c.want {
			t.Errorf("Node verifier, case %d: %s %v, want %s", i, out, err, c.want)
		}
	}
	if nodeErr != nil && os.Getenv("CI") != "" {
		t.Error("no node on a CI machine: .ci/run installs it")
	}
}

// Over https, as deployed: one signed POST, removed from the outbox once
// the receiver answered 2xx.
func TestDeliverHTTPS(t *testing.T) {
	var header string
	var got []byte
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Get(Header)
		got, _ = io.ReadAll(r.Body)
		w.WriteHeader(204)
	}))
	defer srv.Close()
	ob := &memOutbox{m: map[string][]byte{}}
	body := []byte(`{"orderNo":"o9","kind":"bankcard","status":"done","result":{}}`)
	ob.PutCallback(context.Background(), "acme", "bankcard", "o9", Done, body)
	d := &Deliverer{Outbox: ob, Queue: &memQueue{}, Orders: memOrders{}, Client: srv.Client(),
		Targets: func(_ context.Context, owner string) (Target, bool, error) {
			return Target{URL: srv.URL + "/hooks", Secret: "acme-secret-0123456789"}, owner == "acme", nil
		}}
	out, err := d.Deliver(context.Background(), Job{Tenant: "acme", Kind: "bankcard", OrderNo: "o9", Status: Done, Since: time.Now().Unix()})
	if err != nil || out != Delivered {
		t.Fatalf("%s %v", out, err)
	}
	if string(got) != string(body) || Verify("acme-secret-0123456789", header, got, Tolerance, time.Now()) != nil {
		t.Errorf("delivered %s with %q", got, header)
	}
	if b, _ := ob.Callback(context.Background(), "acme", "bankcard", "o9", Done); b != nil {
		t.Error("still in the outbox")
	}
}
