package callback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// CheckURL accepts https URLs, and http ones to a loopback host when
// loopback is true (the local stack's own receiver).
func CheckURL(raw string, loopback bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return nil, errors.New("callback: the URL must be an absolute https URL without credentials")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback && isLoopbackHost(u.Hostname()):
	default:
		return nil, errors.New("callback: the URL must be https (http only to loopback, in the local stack)")
	}
	return u, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// ErrRefusedAddress is a connection the dialer would not make.
var ErrRefusedAddress = errors.New("callback: refused to connect to a private, link-local, loopback or otherwise internal address")

// refused says whether a resolved address is one a callback must never
// reach: the function's own network (private ranges, link-local with the
// cloud's metadata service at 169.254.169.254, loopback, CGNAT), or no
// real host at all.
func refused(a netip.Addr, loopback bool) bool {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return !loopback
	case a.IsPrivate(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsMulticast(),
		a.IsUnspecified(), a.IsInterfaceLocalMulticast():
		return true
	}
	return netip.MustParsePrefix("100.64.0.0/10").Contains(a) || netip.MustParsePrefix("0.0.0.0/8").Contains(a)
}

// Dialer connects only to public addresses (and loopback when allowed),
// checked on the address actually dialled, after name resolution, so a
// name that resolves to an internal address is refused too.
func Dialer(loopback bool) *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrRefusedAddress, address)
		}
		if refused(ap.Addr(), loopback) {
			return fmt.Errorf("%w (%s)", ErrRefusedAddress, ap.Addr())
		}
		return nil
	}}
}

// Client is the HTTP client deliveries use: the guarded dialer, no
// proxy, no redirects followed (a redirect could lead anywhere), a
// bounded wait.
func Client(loopback bool) *http.Client {
	d := Dialer(loopback)
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return d.DialContext(ctx, network, addr)
			},
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 15 * time.Second,
			MaxIdleConns:          4,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
