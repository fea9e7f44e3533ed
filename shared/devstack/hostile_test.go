package devstack

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/emulator"
)

// /_local/queue takes S3-shaped events; a key that climbs out of uploads/
// (and would read .local/credentials.json from the file store) is refused
// and recorded, and nothing reaches the upstream.
func TestLocalQueueRefusesTraversal(t *testing.T) {
	s, logs := startStack(t, nil)
	s.Emulator.ResetCounts()
	for _, key := range []string{"uploads/bankcard/../../credentials.json", "uploads/idcard/front/./../../../dev-api-key", "/uploads/bankcard/x.jpg", "uploads//bankcard/x.jpg"} {
		ev := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"local"},"object":{"key":%q,"size":10}}}]}`, url.QueryEscape(key))
		st, body := do(t, s, "POST", QueuePath, "application/json", strings.NewReader(ev), "")
		if st != 422 || code(body) != "rejected" {
			t.Errorf("%s: %d %s", key, st, body)
		}
	}
	for k, n := range s.Emulator.Counts() {
		if n != 0 {
			t.Errorf("%d %s calls", n, k)
		}
	}
	if strings.Contains(logs.String(), "webankSecret") || strings.Contains(logs.String(), "EmulatorSecret") {
		t.Error("the credentials file was read into the logs")
	}
}

// slowClient sends a POST whose body trickles in one byte every 500 ms and
// returns the connection; the body would take hours to complete.
func slowClient(t *testing.T, s *Stack, key string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(s.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	auth := ""
	if key != "" {
		auth = "Authorization: Bearer " + key + "\r\n"
	}
	fmt.Fprintf(c, "POST /v1/idcard/ocr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n%s\r\n{", auth)
	go func() {
		for {
			time.Sleep(500 * time.Millisecond)
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	return c
}

// readAnswer reads what the server sends until it closes the connection
// (or limit passes) and how long that took.
func readAnswer(c net.Conn, limit time.Duration) (string, time.Duration, bool) {
	start := time.Now()
	c.SetReadDeadline(start.Add(limit))
	b, err := io.ReadAll(c)
	// EOF, or a reset (the server closed with our bytes unread): closed.
	var ne net.Error
	closed := err == nil || !(errors.As(err, &ne) && ne.Timeout())
	return string(b), time.Since(start), closed
}

// Slow bodies: the whole request is read within REQUEST_TIMEOUT. A wrong
// key is answered 401 at once, without waiting for the body; a trickled
// body with the right key gets a JSON 408 when the time is up; and the
// server closes both connections.
func TestSlowBodiesAreBounded(t *testing.T) {
	s, _ := startStack(t, env{"REQUEST_TIMEOUT": "2s"})

	c := slowClient(t, s, "wrong")
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	head := make([]byte, 64)
	n, _ := io.ReadAtLeast(c, head, 12)
	if !strings.HasPrefix(string(head[:n]), "HTTP/1.1 401") {
		t.Errorf("wrong key: no 401 within a second: %q", head[:n])
	}
	if _, took, closed := readAnswer(c, 4*time.Second); !closed {
		t.Errorf("wrong key: connection still open after %v", took)
	}

	c2 := slowClient(t, s, s.APIKey)
	defer c2.Close()
	ans, took, closed := readAnswer(c2, 6*time.Second)
	if !strings.HasPrefix(ans, "HTTP/1.1 408") || !strings.Contains(ans, `"code":"request_timeout"`) || !strings.Contains(ans, "application/json") {
		t.Errorf("trickled body: %q", ans)
	}
	if !closed || took > 4*time.Second {
		t.Errorf("trickled body: closed %v after %v (REQUEST_TIMEOUT 2s)", closed, took)
	}
}

// 800 slow clients at once: every connection is closed within the request
// timeout, and goroutines and heap return to where they were.
func TestManySlowClientsDoNotAccumulate(t *testing.T) {
	const n = 800
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < 3*n {
		lim.Cur = min(lim.Max, 3*n)
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); lim.Cur < 3*n {
			t.Skipf("only %d file descriptors", lim.Cur)
		}
	}
	s, _ := startStack(t, env{"REQUEST_TIMEOUT": "2s"})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()

	conns := make([]net.Conn, n)
	for i := range conns {
		key := s.APIKey
		if i%2 == 1 {
			key = "wrong"
		}
		conns[i] = slowClient(t, s, key)
	}
	peak := runtime.NumGoroutine()
	var wg sync.WaitGroup
	var open atomic.Int32
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			if _, _, closed := readAnswer(c, 6*time.Second); !closed {
				open.Add(1)
			}
		}()
	}
	wg.Wait()
	if k := open.Load(); k != 0 {
		t.Errorf("%d of %d slow connections still open after 6 s (REQUEST_TIMEOUT 2s)", k, n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > g0+20 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if g := runtime.NumGoroutine(); g > g0+20 {
		t.Errorf("goroutines %d before, %d at the peak, %d after", g0, peak, g)
	}
	if grown := int64(after.HeapInuse) - int64(before.HeapInuse); grown > 32<<20 {
		t.Errorf("heap grew by %d MiB", grown>>20)
	}
	t.Logf("goroutines %d → %d (peak) → %d; heap in use %d → %d KiB", g0, peak, runtime.NumGoroutine(), before.HeapInuse>>10, after.HeapInuse>>10)
}

// Images are checked, not sniffed: a truncated JPEG, a 10×10 PNG, three
// bytes of JPEG magic and "BM" plus garbage get 400 invalid_image, and no
// upstream call is made.
func TestImplausibleImagesCostNoUpstreamCall(t *testing.T) {
	s, _ := startStack(t, nil)
	jpg := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 3}.JPEG()
	s.Emulator.ResetCounts()
	for name, img := range map[string][]byte{
		"truncated JPEG":  jpg[:len(jpg)/2],
		"10×10 PNG":       emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 3, Width: 10, Height: 10}.PNG(),
		"JPEG magic only": {0xFF, 0xD8, 0xFF},
		"BM and garbage":  []byte("BM" + strings.Repeat("garbage ", 20)),
	} {
		ct, body := multipartBody(t, map[string]string{"side": "front"}, img)
		if st, out := do(t, s, "POST", "/v1/idcard/ocr", ct, body, s.APIKey); st != 400 || code(out) != "invalid_image" {
			t.Errorf("%s: %d %s", name, st, truncate(out))
		}
	}
	for k, n := range s.Emulator.Counts() {
		if n != 0 {
			t.Errorf("%d %s calls", n, k)
		}
	}
}
