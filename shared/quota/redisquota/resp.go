package redisquota

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The store speaks RESP2 itself: it needs EVALSHA/EVAL, HGETALL, SET, GET
// and PTTL, and a Redis client library was most of an SCF function's size
// (README.md, "Performance"). Protocol: https://redis.io/docs/latest/develop/reference/protocol-spec/

// errNil is a nil bulk string (a missing key).
var errNil = errors.New("redis: nil")

// serverError is an error reply (-ERR …, -NOSCRIPT …).
type serverError string

func (e serverError) Error() string { return "redis: " + string(e) }

// options are what a redis:// URL says.
type options struct {
	addr, user, password string
	db                   int
	tls                  bool
	host                 string // for TLS verification
}

func parseURL(raw string) (options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return options{}, errors.New("not a URL")
	}
	o := options{tls: u.Scheme == "rediss", host: u.Hostname()}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return o, errors.New("the scheme must be redis or rediss")
	}
	if o.host == "" {
		return o, errors.New("no host")
	}
	port := u.Port()
	if port == "" {
		port = "6379"
	}
	o.addr = net.JoinHostPort(o.host, port)
	if u.User != nil {
		o.user = u.User.Username()
		o.password, _ = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if o.db, err = strconv.Atoi(p); err != nil || o.db < 0 {
			return o, errors.New("the path must be a database number")
		}
	}
	return o, nil
}

// client is a small pool of connections to one server.
type client struct {
	opt  options
	idle chan *conn
}

const (
	poolSize       = 4
	defaultTimeout = 5 * time.Second
)

func newClient(o options) *client { return &client{opt: o, idle: make(chan *conn, poolSize)} }

type conn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

func (c *client) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: defaultTimeout}
	nc, err := d.DialContext(ctx, "tcp", c.opt.addr)
	if err != nil {
		return nil, err
	}
	if c.opt.tls {
		tc := tls.Client(nc, &tls.Config{ServerName: c.opt.host, MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tc
	}
	cn := &conn{nc: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}
	var hello [][]string
	switch {
	case c.opt.password != "" && c.opt.user != "":
		hello = append(hello, []string{"AUTH", c.opt.user, c.opt.password})
	case c.opt.password != "":
		hello = append(hello, []string{"AUTH", c.opt.password})
	}
	if c.opt.db != 0 {
		hello = append(hello, []string{"SELECT", strconv.Itoa(c.opt.db)})
	}
	if len(hello) > 0 {
		cn.deadline(ctx)
		for _, r := range cn.roundTrip(hello) {
			if r.err != nil {
				nc.Close()
				if se, ok := r.err.(serverError); ok && strings.Contains(string(se), "AUTH") || strings.Contains(r.err.Error(), "WRONGPASS") {
					return nil, errors.New("redis: authentication failed") // never the password
				}
				return nil, r.err
			}
		}
	}
	return cn, nil
}

func (cn *conn) deadline(ctx context.Context) {
	d, ok := ctx.Deadline()
	if !ok {
		d = time.Now().Add(defaultTimeout)
	}
	cn.nc.SetDeadline(d)
}

// reply is one answer: a string, an integer, an array of them, or an error.
type reply struct {
	str string
	n   int64
	arr []reply
	err error
}

// roundTrip writes cmds (a pipeline) and reads one reply per command. A
// transport failure is the err of every reply from the first unread one.
func (cn *conn) roundTrip(cmds [][]string) []reply {
	out := make([]reply, len(cmds))
	fail := func(from int, err error) []reply {
		for i := from; i < len(out); i++ {
			out[i] = reply{err: &transportError{err}}
		}
		return out
	}
	for _, args := range cmds {
		fmt.Fprintf(cn.w, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(cn.w, "$%d\r\n%s\r\n", len(a), a)
		}
	}
	if err := cn.w.Flush(); err != nil {
		return fail(0, err)
	}
	for i := range cmds {
		r, err := readReply(cn.r)
		if err != nil {
			return fail(i, err)
		}
		out[i] = r
	}
	return out
}

// transportError: the connection failed; it is not put back.
type transportError struct{ err error }

func (e *transportError) Error() string { return "redis: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return "", errors.New("malformed reply")
	}
	return line[:len(line)-2], nil
}

// readReply reads one RESP2 reply; error replies are values, not errors.
func readReply(r *bufio.Reader) (reply, error) {
	line, err := readLine(r)
	if err != nil {
		return reply{}, err
	}
	switch line[0] {
	case '+':
		return reply{str: line[1:]}, nil
	case '-':
		return reply{err: serverError(line[1:])}, nil
	case ':':
		n, err := strconv.ParseInt(line[1:], 10, 64)
		if err != nil {
			return reply{}, errors.New("malformed integer")
		}
		return reply{n: n, str: line[1:]}, nil
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n > 64<<20 {
			return reply{}, errors.New("malformed bulk length")
		}
		if n < 0 {
			return reply{err: errNil}, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return reply{}, err
		}
		return reply{str: string(b[:n])}, nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n > 1<<20 {
			return reply{}, errors.New("malformed array length")
		}
		if n < 0 {
			return reply{err: errNil}, nil
		}
		out := reply{arr: make([]reply, n)}
		for i := range out.arr {
			if out.arr[i], err = readReply(r); err != nil {
				return reply{}, err
			}
		}
		return out, nil
	}
	return reply{}, errors.New("unknown reply type")
}

// do runs a pipeline on a pooled connection. A pooled connection the
// server closed while it was idle fails before the command is read: that
// one failure is tried again on a new connection (never a failure on a new
// one, where the command may have run).
func (c *client) do(ctx context.Context, cmds ...[]string) ([]reply, error) {
	for attempt := 0; ; attempt++ {
		cn, pooled := c.get()
		if cn == nil {
			var err error
			if cn, err = c.dial(ctx); err != nil {
				return nil, fmt.Errorf("redis: %w", scrubDial(err))
			}
		}
		cn.deadline(ctx)
		rs := cn.roundTrip(cmds)
		var te *transportError
		if last := rs[len(rs)-1].err; errors.As(last, &te) {
			cn.nc.Close()
			if pooled && attempt == 0 && staleConn(te.err) {
				continue
			}
			return nil, te
		}
		c.put(cn)
		return rs, nil
	}
}

func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// scrubDial drops the dialer's wrapping: the cause is kept, the URL (which
// may hold the password) never appears.
func scrubDial(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

func (c *client) get() (*conn, bool) {
	select {
	case cn := <-c.idle:
		return cn, true
	default:
		return nil, false
	}
}

func (c *client) put(cn *conn) {
	cn.nc.SetDeadline(time.Time{})
	select {
	case c.idle <- cn:
	default:
		cn.nc.Close()
	}
}

// script is a Lua script run by its SHA1 (EVALSHA), loaded by EVAL when
// the server does not know it yet.
type script struct {
	src, sha string
	once     sync.Once
}

func newScript(src string) *script { return &script{src: src} }

func (s *script) hash() string {
	s.once.Do(func() {
		sum := sha1.Sum([]byte(s.src))
		s.sha = hex.EncodeToString(sum[:])
	})
	return s.sha
}

func (s *script) run(ctx context.Context, c *client, keys []string, args ...string) (reply, error) {
	call := func(verb, body string) (reply, error) {
		cmd := append([]string{verb, body, strconv.Itoa(len(keys))}, keys...)
		rs, err := c.do(ctx, append(cmd, args...))
		if err != nil {
			return reply{}, err
		}
		return rs[0], rs[0].err
	}
	r, err := call("EVALSHA", s.hash())
	var se serverError
	if errors.As(err, &se) && strings.HasPrefix(string(se), "NOSCRIPT") {
		return call("EVAL", s.src)
	}
	return r, err
}
