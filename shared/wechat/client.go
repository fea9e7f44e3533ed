// Package wechat is a client of the WeChat server API calls the service
// needs (docs/protocol.md §7): the stable access token (cgi-bin/stable_token)
// and ID card OCR (cv/ocr/idcard).
//
// The client never caches tokens: package tickets keeps the one stored
// token (the refresher writes it, readers cache it). Every call is bounded
// by the context's deadline (or a default when it has none). Errors are
// *errcode.Error values wrapping an *APIError, and no error carries the
// secret, the access token, a URL with its query, personal data or images.
package wechat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/cardocr/cardocr/shared/upstream"
)

// DefaultBaseURL is the documented host.
const DefaultBaseURL = "https://api.weixin.qq.com"

// MaxImage is the largest image cv/ocr/idcard takes: the document says
// "小于2M" (less than 2 MB); we read that as less than 2 MiB.
const MaxImage = 2<<20 - 1

// ForceRefreshSpacing is the documented minimum time between two
// force_refresh calls (closer calls do not refresh).
const ForceRefreshSpacing = 30 * time.Second

// Config configures a Client.
type Config struct {
	BaseURL    string // default DefaultBaseURL
	AppID      string
	Secret     string // only needed for StableToken
	HTTPClient *http.Client
	// Resolver resolves img_url hosts for the address guard; default
	// net.DefaultResolver. Tests pass their own.
	Resolver Resolver
	// Default timeouts when the context has no deadline.
	TokenTimeout, OCRTimeout time.Duration
	// MaxResponseBytes bounds what is read from an answer. Default 1 MiB.
	MaxResponseBytes int64
	Now              func() time.Time
}

// Client talks to one WeChat API host. It is safe for concurrent use.
type Client struct {
	base string
	cfg  Config

	forceMu   sync.Mutex
	lastForce time.Time
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Transport: http.DefaultTransport}
	}
	if cfg.TokenTimeout == 0 {
		cfg.TokenTimeout = 10 * time.Second
	}
	if cfg.OCRTimeout == 0 {
		cfg.OCRTimeout = 20 * time.Second
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Resolver == nil {
		cfg.Resolver = defaultResolver{}
	}
	return &Client{base: strings.TrimRight(cfg.BaseURL, "/"), cfg: cfg}
}

// AppID returns the configured appid.
func (c *Client) AppID() string { return c.cfg.AppID }

// ErrForceTooSoon is returned (wrapped) by StableToken when a forced
// refresh was asked for within ForceRefreshSpacing of the previous one made
// by this client: the platform would not refresh anyway.
var ErrForceTooSoon = errors.New("wechat: force_refresh within 30 s of the previous one")

type stableTokenBody struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// StableToken calls cgi-bin/stable_token. In normal mode (force false) it
// returns the platform's current token, the same one to every caller while
// it is valid, and invalidates nothing: it is safe from many places. force
// invalidates the previous token at once for every instance (20 a day, 30 s
// apart): only the tickets refresher may ask for it, after a 40001.
func (c *Client) StableToken(ctx context.Context, force bool) (upstream.Credential, error) {
	if force {
		c.forceMu.Lock()
		now := c.cfg.Now()
		if !c.lastForce.IsZero() && now.Sub(c.lastForce) < ForceRefreshSpacing {
			c.forceMu.Unlock()
			return upstream.Credential{}, toDomain(&upstream.Error{Provider: "wechat", Op: "stable_token", Msg: "force_refresh too soon", Err: ErrForceTooSoon})
		}
		c.lastForce = now
		c.forceMu.Unlock()
	}
	body, err := json.Marshal(stableTokenBody{GrantType: "client_credential", AppID: c.cfg.AppID, Secret: c.cfg.Secret, ForceRefresh: force})
	if err != nil {
		return upstream.Credential{}, toDomain(&upstream.Error{Provider: "wechat", Op: "stable_token", Err: err})
	}
	ctx, cancel := upstream.WithDefaultTimeout(ctx, c.cfg.TokenTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/cgi-bin/stable_token", bytes.NewReader(body))
	if err != nil {
		return upstream.Credential{}, toDomain(&upstream.Error{Provider: "wechat", Op: "stable_token", Err: errors.New("bad base URL")})
	}
	req.Header.Set("Content-Type", "application/json")
	a, err := c.do(req, "stable_token")
	if err != nil {
		return upstream.Credential{}, err
	}
	tok := upstream.Credential{Value: a.String("access_token")}
	if tok.Value == "" {
		return upstream.Credential{}, toDomain(&upstream.Error{Provider: "wechat", Op: "stable_token", Msg: "answer without access_token", Retryable: true})
	}
	var ok bool
	if tok.ExpiresIn, ok = seconds(a.String("expires_in")); !ok {
		tok.ExpiresIn = 7200 * time.Second // documented lifetime
	}
	return tok, nil
}

// Image is an image to upload, opened once per attempt and streamed.
type Image struct {
	Size        int64 // bytes
	Open        func() (io.ReadCloser, error)
	ContentType string // default application/octet-stream
	FileName    string // default "card.jpg"
}

// BytesImage wraps an image held in memory.
func BytesImage(b []byte) Image {
	return Image{Size: int64(len(b)), Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// Modes of cv/ocr/idcard.
const (
	ModePhoto = "photo" // photographed, with background (the default)
	ModeScan  = "scan"  // scanned, no background
)

// IDCardRequest is one cv/ocr/idcard call: an uploaded image, or an https
// URL WeChat downloads (ImageURL, checked by CheckImageURL first).
type IDCardRequest struct {
	Image    Image
	ImageURL string
	Mode     string // ModePhoto (default) or ModeScan
}

// Sides as WeChat names them.
const (
	TypeFront = "Front"
	TypeBack  = "Back"
)

// IDCard is a recognized side, as WeChat answered.
type IDCard struct {
	Type        string // TypeFront or TypeBack
	Name        string
	ID          string
	Addr        string
	Gender      string
	Nationality string
	ValidDate   string // "20070105-20270105"
	// Raw is the answer as received, for the API's "upstream" field.
	Raw json.RawMessage
}

// IDCard calls cv/ocr/idcard with accessToken. The image size is checked
// before anything is sent.
// CheckImageURL checks an img_url with this client's resolver (see the
// package function): callers check before spending a token or quota.
func (c *Client) CheckImageURL(ctx context.Context, raw string) error {
	return CheckImageURL(ctx, c.cfg.Resolver, raw)
}

func (c *Client) IDCard(ctx context.Context, accessToken string, r IDCardRequest) (*IDCard, error) {
	const op = "idcard"
	mode := r.Mode
	if mode == "" {
		mode = ModePhoto
	}
	if mode != ModePhoto && mode != ModeScan {
		return nil, toDomain(&upstream.Error{Provider: "wechat", Op: op, Msg: "mode must be photo or scan", NotSent: true})
	}
	q := url.Values{}
	q.Set("type", mode)
	q.Set("access_token", accessToken)
	var body io.Reader = http.NoBody
	var length int64
	var contentType string
	if r.ImageURL != "" {
		if err := CheckImageURL(ctx, c.cfg.Resolver, r.ImageURL); err != nil {
			return nil, err
		}
		q.Set("img_url", r.ImageURL)
	} else {
		if r.Image.Size <= 0 || r.Image.Open == nil {
			return nil, toDomain(&upstream.Error{Provider: "wechat", Op: op, Msg: "no image", NotSent: true})
		}
		if r.Image.Size > MaxImage {
			return nil, tooLarge(r.Image.Size)
		}
		src, err := r.Image.Open()
		if err != nil {
			return nil, toDomain(&upstream.Error{Provider: "wechat", Op: op, Msg: "cannot read the image", Err: err, NotSent: true, Retryable: true})
		}
		mb, ct := multipartBody(src, r.Image)
		body, length, contentType = mb, mb.length, ct
	}
	ctx, cancel := upstream.WithDefaultTimeout(ctx, c.cfg.OCRTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/cv/ocr/idcard?"+q.Encode(), body)
	if err != nil {
		if rc, ok := body.(io.Closer); ok {
			rc.Close()
		}
		return nil, toDomain(&upstream.Error{Provider: "wechat", Op: op, Err: errors.New("bad base URL")})
	}
	if contentType != "" {
		req.ContentLength = length
		req.Header.Set("Content-Type", contentType)
	}
	a, err := c.do(req, op)
	if err != nil {
		return nil, err
	}
	card := &IDCard{
		Type: a.String("type"), Name: a.String("name"), ID: a.String("id"), Addr: a.String("addr"),
		Gender: a.String("gender"), Nationality: a.String("nationality"), ValidDate: a.String("valid_date", "validDate"),
		Raw: a.raw,
	}
	if card.Type != TypeFront && card.Type != TypeBack {
		return nil, toDomain(&upstream.Error{Provider: "wechat", Op: op, Msg: "answer without a known type", Retryable: false})
	}
	return card, nil
}

// streamedBody is a request body read from parts with a known length.
type streamedBody struct {
	io.Reader
	src    io.Closer
	length int64
}

func (s *streamedBody) Close() error { return s.src.Close() }

// multipartBody streams one form-data part named img: the part header,
// the image, the closing boundary, with an exact length.
func multipartBody(src io.ReadCloser, img Image) (*streamedBody, string) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	ct := img.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	name := img.FileName
	if name == "" {
		name = "card.jpg"
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="img"; filename=%q`, name))
	h.Set("Content-Type", ct)
	if _, err := mw.CreatePart(h); err != nil {
		panic("wechat: multipart header: " + err.Error()) // writes to a bytes.Buffer cannot fail
	}
	prefix := bytes.Clone(head.Bytes())
	head.Reset()
	_ = mw.Close()
	suffix := bytes.Clone(head.Bytes())
	return &streamedBody{
		Reader: io.MultiReader(bytes.NewReader(prefix), io.LimitReader(src, img.Size), bytes.NewReader(suffix)),
		src:    src,
		length: int64(len(prefix)) + img.Size + int64(len(suffix)),
	}, mw.FormDataContentType()
}

// do runs the request and checks the answer (upstream cleans transport
// errors, whose text would repeat the URL with its query: access_token).
func (c *Client) do(req *http.Request, op string) (*answer, error) {
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		err, notSent := upstream.Transport(req.Context(), err)
		return nil, toDomain(&upstream.Error{Provider: "wechat", Op: op, Err: err, Retryable: true, NotSent: notSent})
	}
	defer resp.Body.Close()
	body, err := upstream.ReadBody(resp, c.cfg.MaxResponseBytes)
	if err != nil {
		return nil, toDomain(upstream.ReadError(req.Context(), "wechat", op, resp.StatusCode, err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, toDomain(upstream.StatusError("wechat", op, resp))
	}
	a, err := parseAnswer(body)
	if err != nil {
		return nil, toDomain(&upstream.Error{Provider: "wechat", Op: op, HTTPStatus: resp.StatusCode, Err: err, Retryable: true})
	}
	code := a.String("errcode")
	if code != "" && code != "0" {
		return nil, toDomain(newAPIError(op, code, a.String("errmsg")))
	}
	return a, nil
}
