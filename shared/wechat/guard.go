package wechat

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/errcode"
)

// Resolver resolves host names (a *net.Resolver does).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

type defaultResolver struct{}

func (defaultResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, network, host)
}

// MaxImageURL bounds the img_url we pass on.
const MaxImageURL = 2048

// CheckImageURL accepts only https URLs to hosts whose every address is
// public: private, loopback, link-local, unspecified, multicast and other
// special-purpose addresses are refused, so that a caller cannot point
// WeChat (or anything later reusing the URL) at internal services or make
// us vouch for them. It only resolves the host; it never connects.
//
// The check is about the URL as given: WeChat resolves the name again when
// it downloads, so a name that changes its answers (DNS rebinding) is not
// stopped here; it only ever reaches WeChat's fetcher, not our network.
func CheckImageURL(ctx context.Context, res Resolver, raw string) error {
	bad := func(msg string) error { return errcode.Errorf(errcode.InvalidRequest, "imageUrl %s", msg) }
	if len(raw) > MaxImageURL {
		return bad("is too long")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return bad("is not an absolute URL")
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return bad("must use https")
	}
	if u.User != nil {
		return bad("must not carry credentials")
	}
	host := u.Hostname()
	if host == "" {
		return bad("has no host")
	}
	if p := u.Port(); p != "" && p != "443" {
		return bad("must use the default https port")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !PublicAddr(a) {
			return bad("points to a private or reserved address")
		}
		return nil
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") || strings.HasSuffix(strings.ToLower(strings.TrimSuffix(host, ".")), ".localhost") {
		return bad("points to a private or reserved address")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
	}
	addrs, err := res.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return bad("host could not be resolved")
	}
	for _, a := range addrs {
		if !PublicAddr(a) {
			return bad("points to a private or reserved address")
		}
	}
	return nil
}

// reserved are the IANA special-purpose address registries, IPv4 and IPv6
// (https://www.iana.org/assignments/iana-ipv4-special-registry/ and
// https://www.iana.org/assignments/iana-ipv6-special-registry/), whole:
// entries marked globally reachable too (an image host has no business in
// them), plus the ranges that embed an IPv4 address (which could be any).
var reserved = []netip.Prefix{
	// IPv4
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),         // private
	netip.MustParsePrefix("100.64.0.0/10"),      // shared address space (CGNAT)
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback
	netip.MustParsePrefix("169.254.0.0/16"),     // link local
	netip.MustParsePrefix("172.16.0.0/12"),      // private
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),       // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.31.196.0/24"),    // AS112-v4
	netip.MustParsePrefix("192.52.193.0/24"),    // AMT
	netip.MustParsePrefix("192.88.99.0/24"),     // deprecated 6to4 relay anycast
	netip.MustParsePrefix("192.168.0.0/16"),     // private
	netip.MustParsePrefix("192.175.48.0/24"),    // direct delegation AS112 service
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"),    // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),     // documentation (TEST-NET-3)
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved
	netip.MustParsePrefix("255.255.255.255/32"), // limited broadcast
	// IPv6
	netip.MustParsePrefix("::/96"),             // unspecified, loopback and IPv4-compatible (::a.b.c.d, deprecated)
	netip.MustParsePrefix("::ffff:0:0/96"),     // IPv4-mapped
	netip.MustParsePrefix("::ffff:0:0:0/96"),   // IPv4-translated
	netip.MustParsePrefix("64:ff9b::/96"),      // IPv4-IPv6 translation (NAT64, embeds any IPv4)
	netip.MustParsePrefix("64:ff9b:1::/48"),    // local-use IPv4-IPv6 translation
	netip.MustParsePrefix("100::/64"),          // discard-only
	netip.MustParsePrefix("2001::/23"),         // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID, AMT, AS112-v6 …
	netip.MustParsePrefix("2001:db8::/32"),     // documentation
	netip.MustParsePrefix("2002::/16"),         // 6to4 (embeds any IPv4)
	netip.MustParsePrefix("2620:4f:8000::/48"), // direct delegation AS112 service
	netip.MustParsePrefix("3fff::/20"),         // documentation
	netip.MustParsePrefix("5f00::/16"),         // segment routing (SRv6) SIDs
	netip.MustParsePrefix("fc00::/7"),          // unique local
	netip.MustParsePrefix("fe80::/10"),         // link local
	netip.MustParsePrefix("fec0::/10"),         // deprecated site local
}

// PublicAddr reports whether a is a global unicast address outside the
// private, loopback, link-local, unspecified, multicast and reserved
// ranges.
func PublicAddr(a netip.Addr) bool {
	if !a.IsValid() || a.Zone() != "" {
		return false
	}
	for _, p := range reserved { // before Unmap: ::ffff:a.b.c.d is refused as such
		if p.Contains(a) {
			return false
		}
	}
	a = a.Unmap()
	return !(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || !a.IsGlobalUnicast())
}
