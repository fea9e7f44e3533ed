package emulator

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strings"
	"time"
)

// img_url without the network. The emulator stands in for WeChat, so it
// must never reach out: it downloads an img_url only from a loopback
// host:port that a test registered (WeChatConfig.ImageHosts,
// AllowImageHost), through a dialer that refuses every other address. Any
// other URL is never dialled and answers deterministically from the URL
// itself (URLImage).

// ErrNotLoopback is returned by the emulator's dialer for an address
// outside 127.0.0.0/8 and ::1.
var ErrNotLoopback = errors.New("emulator: refusing to dial a non-loopback address")

// LoopbackDialer dials only literal loopback addresses: the default of
// WeChatConfig.DialContext, and what a test wraps to record dials.
func LoopbackDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotLoopback, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return ErrNotLoopback
	}
	return nil
}

// AllowImageHost registers a loopback host:port (a test's image server)
// whose img_url the emulator downloads. Anything but a literal loopback
// address is refused.
func (e *Emulator) AllowImageHost(hostport string) error {
	if err := checkLoopback(hostport); err != nil {
		return err
	}
	s := e.wx
	s.mu.Lock()
	defer s.mu.Unlock()
	s.imageHosts[hostport] = true
	return nil
}

func (s *wechatState) imageHost(hostport string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.imageHosts[hostport]
}

// URLSeed is the identity seed of an img_url that is not downloaded
// (Person(URLSeed(u)) is who URLImage(u) shows).
func URLSeed(u string) int64 {
	h := fnv.New64a()
	h.Write([]byte(u))
	return int64(h.Sum64() & (1<<62 - 1))
}

// URLImage is the image an img_url on an unregistered host stands for: an
// ID card whose side is named by the last path segment ("front" or
// "back", as in https://cdn.example/u1/back.jpg) and whose identity comes
// from the whole URL. Any other URL cannot be "downloaded": ok is false,
// and WeChat's answer is 101000 (invalid image url).
func URLImage(u string) (spec CardSpec, ok bool) {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return CardSpec{}, false
	}
	last := strings.ToLower(path.Base(pu.Path))
	switch {
	case strings.Contains(last, "front"):
		return CardSpec{Kind: KindIDCard, Side: SideFront, Seed: URLSeed(u)}, true
	case strings.Contains(last, "back"):
		return CardSpec{Kind: KindIDCard, Side: SideBack, Seed: URLSeed(u)}, true
	}
	return CardSpec{}, false
}

// fetchImageURL returns the bytes img_url stands for: downloaded from a
// registered loopback host, else URLImage's rendering.
func (e *Emulator) fetchImageURL(ctx context.Context, u string) ([]byte, error) {
	pu, err := url.Parse(u)
	if err != nil {
		return nil, err
	}
	if !e.wx.imageHost(pu.Host) {
		spec, ok := URLImage(u)
		if !ok {
			return nil, errors.New("not downloadable")
		}
		return spec.JPEG(), nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := e.wx.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, e.wx.cfg.MaxImage+1))
}

// imageClient downloads from registered hosts only: every dial is checked
// again, whatever DialContext the configuration gives.
func imageClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	tr := &http.Transport{
		Proxy: nil, // never through a proxy: the address dialled is the URL's
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if err := checkLoopback(addr); err != nil {
				return nil, err
			}
			return dial(ctx, network, addr)
		},
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConns:        4,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
