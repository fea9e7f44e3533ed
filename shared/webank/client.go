// Package webank is a client of the WeBank KYC API (Tencent Cloud Face
// Verification): access token, SIGN ticket, ID card and bank card OCR submit
// and result query (docs/protocol.md §1–§6).
//
// The client never fetches tokens on its own: callers pass the SIGN ticket
// (package tickets keeps the one stored pair). Every call is bounded by the
// context's deadline (or a default when it has none). Errors are
// *errcode.Error values wrapping an *APIError, and no error or log line
// carries a secret, token, ticket, URL query, personal datum or image.
package webank

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/sign"
	"github.com/cardocr/cardocr/shared/upstream"
)

// DefaultBaseURL is the documented main host.
const DefaultBaseURL = "https://kyc1.qcloud.com"

// Version is the only documented API version.
const Version = "1.0.0"

// Config configures a Client.
type Config struct {
	BaseURL    string // default DefaultBaseURL
	AppID      string // WBappid
	Secret     string // only needed for AccessToken
	HTTPClient *http.Client
	// Default timeouts when the context has no deadline.
	TokenTimeout, SubmitTimeout, QueryTimeout time.Duration
	// MaxResponseBytes bounds what is read from an answer (photos make
	// result answers large). Default 64 MiB.
	MaxResponseBytes int64
}

// Client talks to one WeBank KYC host. It is safe for concurrent use.
type Client struct {
	base    string
	appID   string
	secret  string
	http    *http.Client
	cfg     Config
	maxBody int64
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
	if cfg.SubmitTimeout == 0 {
		cfg.SubmitTimeout = 25 * time.Second
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = 15 * time.Second
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = 64 << 20
	}
	return &Client{
		base: strings.TrimRight(cfg.BaseURL, "/"), appID: cfg.AppID, secret: cfg.Secret,
		http: cfg.HTTPClient, cfg: cfg, maxBody: cfg.MaxResponseBytes,
	}
}

// AppID returns the configured WBappid.
func (c *Client) AppID() string { return c.appID }

// AccessToken fetches a new access token. Each call makes the previous
// token (and its tickets) die about one minute later: only the refresher
// may call it.
func (c *Client) AccessToken(ctx context.Context) (upstream.Credential, error) {
	q := url.Values{}
	q.Set("app_id", c.appID)
	q.Set("secret", c.secret)
	q.Set("grant_type", "client_credential")
	q.Set("version", Version)
	f, err := c.get(ctx, "access_token", "/api/oauth2/access_token", q, c.cfg.TokenTimeout)
	if err != nil {
		return upstream.Credential{}, err
	}
	tok := upstream.Credential{Value: f.String("access_token")}
	if tok.Value == "" {
		return upstream.Credential{}, toDomain(&upstream.Error{Provider: "webank", Op: "access_token", Msg: "answer without access_token", Retryable: true})
	}
	var ok bool
	if tok.ExpiresIn, ok = Seconds(f.String("expire_in")); !ok {
		tok.ExpiresIn = 7200 * time.Second // documented lifetime
	}
	return tok, nil
}

// SignTicket fetches the SIGN ticket for an access token.
func (c *Client) SignTicket(ctx context.Context, accessToken string) (upstream.Credential, error) {
	q := url.Values{}
	q.Set("app_id", c.appID)
	q.Set("access_token", accessToken)
	q.Set("type", "SIGN")
	q.Set("version", Version)
	f, err := c.get(ctx, "api_ticket", "/api/oauth2/api_ticket", q, c.cfg.TokenTimeout)
	if err != nil {
		return upstream.Credential{}, err
	}
	var tickets []map[string]json.RawMessage
	if raw := f.Raw("tickets"); raw != nil {
		if json.Unmarshal(raw, &tickets) != nil {
			tickets = nil
		}
	}
	if len(tickets) == 0 {
		return upstream.Credential{}, toDomain(&upstream.Error{Provider: "webank", Op: "api_ticket", Msg: "answer without tickets", Retryable: true})
	}
	t := upstream.Credential{Value: rawText(tickets[0]["value"])}
	if t.Value == "" {
		return upstream.Credential{}, toDomain(&upstream.Error{Provider: "webank", Op: "api_ticket", Msg: "ticket without value", Retryable: true})
	}
	var ok bool
	if t.ExpiresIn, ok = Seconds(rawText(tickets[0]["expire_in"])); !ok {
		t.ExpiresIn = 3600 * time.Second
	}
	return t, nil
}

// SubmitRequest is an OCR submission.
type SubmitRequest struct {
	OrderNo   string
	UserID    string // optional, not signed
	CardType  string // ID cards: "0" portrait, "1" national emblem
	GetNative bool   // ID cards: ask for nativePlace
	Image     ocr.Image
}

// SubmitIDCard posts an ID card image to api/paas/idcardocrapp.
func (c *Client) SubmitIDCard(ctx context.Context, ticket string, r SubmitRequest) (*Fields, error) {
	return c.submit(ctx, "idcardocrapp", "/api/paas/idcardocrapp", "idcardStr", ticket, r)
}

// SubmitBankCard posts a bank card image to api/paas/bankcardocrapp.
func (c *Client) SubmitBankCard(ctx context.Context, ticket string, r SubmitRequest) (*Fields, error) {
	r.CardType, r.GetNative = "", false
	return c.submit(ctx, "bankcardocrapp", "/api/paas/bankcardocrapp", "bankcardStr", ticket, r)
}

// IDCardResult queries api/server/getOcrResult; files asks for the photos.
func (c *Client) IDCardResult(ctx context.Context, ticket, orderNo string, files, native bool) (*Fields, error) {
	return c.query(ctx, "getOcrResult", "/api/server/getOcrResult", ticket, orderNo, files, native)
}

// BankCardResult queries api/server/getBankCardOcrResult.
func (c *Client) BankCardResult(ctx context.Context, ticket, orderNo string, files bool) (*Fields, error) {
	return c.query(ctx, "getBankCardOcrResult", "/api/server/getBankCardOcrResult", ticket, orderNo, files, false)
}

func (c *Client) query(ctx context.Context, op, path, ticket, orderNo string, files, native bool) (*Fields, error) {
	nonce := sign.Nonce()
	q := url.Values{}
	q.Set("app_id", c.appID)
	q.Set("order_no", orderNo)
	q.Set("nonce", nonce)
	q.Set("version", Version)
	q.Set("sign", sign.Sign(c.appID, orderNo, Version, ticket, nonce))
	if files {
		q.Set("get_file", "1")
	}
	if native {
		q.Set("get_native", "1")
	}
	return c.get(ctx, op, path, q, c.cfg.QueryTimeout)
}

// submitHead is the JSON body without the image, which is appended as the
// last member while streaming. The app id goes under both names the
// documents use for it (webankAppId in one copy of the page, appId in
// another), with the same value.
type submitHead struct {
	AppID       string `json:"appId"`
	WebankAppID string `json:"webankAppId"`
	Version     string `json:"version"`
	Nonce       string `json:"nonce"`
	Sign        string `json:"sign"`
	OrderNo     string `json:"orderNo"`
	UserID      string `json:"userId,omitempty"`
	CardType    string `json:"cardType,omitempty"`
	GetNative   string `json:"getNative,omitempty"`
}

func (c *Client) submit(ctx context.Context, op, path, imageField, ticket string, r SubmitRequest) (*Fields, error) {
	if !sign.ValidOrderNo(r.OrderNo) {
		return nil, toDomain(&upstream.Error{Provider: "webank", Op: op, Msg: "invalid order number"})
	}
	nonce := sign.Nonce()
	h := submitHead{
		AppID: c.appID, WebankAppID: c.appID, Version: Version, Nonce: nonce, OrderNo: r.OrderNo, UserID: r.UserID,
		CardType: r.CardType, Sign: sign.Sign(c.appID, r.OrderNo, nonce, Version, ticket),
	}
	if r.GetNative {
		h.GetNative = "1"
	}
	head, err := json.Marshal(h)
	if err != nil {
		return nil, toDomain(&upstream.Error{Provider: "webank", Op: op, Err: err})
	}
	prefix := append(head[:len(head)-1], `,"`+imageField+`":"`...)
	suffix := []byte(`"}`)
	src, err := r.Image.Open()
	if err != nil {
		return nil, toDomain(&upstream.Error{Provider: "webank", Op: op, Msg: "cannot read the image", Err: err, NotSent: true, Retryable: true})
	}
	body := streamBody(prefix, src, suffix)
	length := int64(len(prefix)) + int64(base64.StdEncoding.EncodedLen(int(r.Image.Size))) + int64(len(suffix))

	ctx, cancel := upstream.WithDefaultTimeout(ctx, c.cfg.SubmitTimeout)
	defer cancel()
	u := c.base + path + "?orderNo=" + url.QueryEscape(r.OrderNo)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		body.Close()
		return nil, toDomain(&upstream.Error{Provider: "webank", Op: op, Err: errors.New("bad base URL"), NotSent: true})
	}
	req.ContentLength = length
	req.Header.Set("Content-Type", "application/json")
	return c.do(req, op)
}

// streamBody returns prefix, the base64 of src, and suffix as one reader.
// The encoding runs in a goroutine writing into a pipe; closing the returned
// body (the transport always does) stops it and closes src.
func streamBody(prefix []byte, src io.ReadCloser, suffix []byte) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer src.Close()
		enc := base64.NewEncoder(base64.StdEncoding, pw)
		_, err := io.Copy(enc, src)
		if err == nil {
			err = enc.Close()
		}
		pw.CloseWithError(err)
	}()
	return &multiReadCloser{Reader: io.MultiReader(bytes.NewReader(prefix), pr, bytes.NewReader(suffix)), pipe: pr}
}

type multiReadCloser struct {
	io.Reader
	pipe *io.PipeReader
}

func (m *multiReadCloser) Close() error { return m.pipe.Close() }

func (c *Client) get(ctx context.Context, op, path string, q url.Values, timeout time.Duration) (*Fields, error) {
	ctx, cancel := upstream.WithDefaultTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, toDomain(&upstream.Error{Provider: "webank", Op: op, Err: errors.New("bad base URL")})
	}
	return c.do(req, op)
}

// do runs the request and checks the answer (upstream cleans transport
// errors, whose text would repeat the URL with its query: secret,
// access_token, sign).
func (c *Client) do(req *http.Request, op string) (*Fields, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		err, notSent := upstream.Transport(req.Context(), err)
		return nil, toDomain(&upstream.Error{Provider: "webank", Op: op, Err: err, Retryable: true, NotSent: notSent})
	}
	defer resp.Body.Close()
	body, err := upstream.ReadBody(resp, c.maxBody)
	if err != nil {
		return nil, toDomain(upstream.ReadError(req.Context(), "webank", op, resp.StatusCode, err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, toDomain(upstream.StatusError("webank", op, resp))
	}
	f, err := ParseFields(body)
	if err != nil {
		return nil, toDomain(&upstream.Error{Provider: "webank", Op: op, HTTPStatus: resp.StatusCode, Err: err, Retryable: true})
	}
	code := f.TopString("code")
	if code == "" {
		code = f.String("code")
	}
	if code != "0" {
		return nil, toDomain(&upstream.Error{
			Provider: "webank", Op: op, Code: code, Msg: upstream.Truncate(f.TopString("msg"), 80), HTTPStatus: resp.StatusCode,
			CredentialsRejected: ticketRejectedCodes[code], Quota: code == "66660003", Retryable: busyCodes[code] || code == "", Throttled: throttleCodes[code], NotBilled: notBilledCodes[code],
		})
	}
	return f, nil
}

// SelfCheckOrderNo is the order number CheckTicket asks about. It is never
// submitted, so the upstream's "no result" (66660020) can only come after
// it accepted the signature.
const SelfCheckOrderNo = "cardocrSelfCheck0"

// ErrTicketRejected is wrapped by CheckTicket's error when the upstream
// refused the ticket, its token or the signature made with it.
var ErrTicketRejected = upstream.ErrCredentialsRejected

// CheckTicket makes one signed call that costs nothing (a result query for
// SelfCheckOrderNo) to learn whether the upstream accepts ticket. nil: it
// does. An error wrapping ErrTicketRejected: it does not. Any other error:
// the check could not tell (the upstream failed, or answered a code whose
// meaning is not known): callers must not act on it.
func (c *Client) CheckTicket(ctx context.Context, ticket string) error {
	_, err := c.IDCardResult(ctx, ticket, SelfCheckOrderNo, false, false)
	var ae *upstream.Error
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &ae):
		return err
	case ae.Code == "66660020":
		return nil
	case ae.CredentialsRejected:
		return fmt.Errorf("%w (code %s)", ErrTicketRejected, ae.Code)
	}
	return err
}
