package ocr

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
)

// The provider seam. A provider is one package (webank, wechat,
// tencentcloud) that implements Provider; the service checks input against
// its Limits before any call, hands it a stored credential when it has one,
// retries once on a rejected credential, re-queries late photos, answers
// repeated order numbers, falls back between providers, and normalizes and
// checks what the provider read. Nothing here knows a wire field.

// Image is an image to recognize, opened once per attempt so that it can be
// streamed (an upload is never held whole in memory).
type Image struct {
	Size int64 // bytes of the raw image
	Open func() (io.ReadCloser, error)
	// Head is the image's first bytes (all of it when held in memory, at
	// most HeadLen of an upload): the format and dimensions are read from
	// it before any call.
	Head []byte
}

// BytesImage wraps an image held in memory.
func BytesImage(b []byte) Image {
	return Image{Size: int64(len(b)), Head: b, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}}
}

// Photo is a photo as the upstream sent it: a JSON string holding a base64
// JPEG, kept as received (it may be a slice of the answer: megabytes are not
// copied on their way to the archive). It marshals as that string.
type Photo json.RawMessage

func (p Photo) MarshalJSON() ([]byte, error) {
	if len(p) == 0 {
		return []byte(`""`), nil
	}
	return p, nil
}

func (p *Photo) UnmarshalJSON(b []byte) error {
	*p = append((*p)[:0], b...)
	return nil
}

// Base64 returns the base64 text: a slice of p when the string has no
// escapes (the usual case), else a decoded copy.
func (p Photo) Base64() ([]byte, error) {
	if len(p) >= 2 && p[0] == '"' && p[len(p)-1] == '"' && bytes.IndexByte(p, '\\') < 0 {
		return p[1 : len(p)-1], nil
	}
	var s string
	if err := json.Unmarshal(p, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// Limits are a provider's documented input limits, checked before any call.
type Limits struct {
	IDCardImage   int64 // largest raw image for ID cards; 0: no ID card OCR
	BankCardImage int64 // largest raw image for bank cards; 0: no bank card OCR
	ImageURL      bool  // takes an https URL for the provider to download
	// IDCardQPS and BankCardQPS are the calls per second the upstream
	// allows the whole account (documented, or configured where the
	// documents name none); 0: none declared. Each instance paces itself
	// to its share (Service.Pace).
	IDCardQPS, BankCardQPS float64
}

// Credentials hands out a provider's stored credential (the WeBank SIGN
// ticket, the WeChat access token), kept fresh by the ticket refresher.
type Credentials interface {
	Current(ctx context.Context) (string, error)
	// Rejected is told about a credential the provider refused and returns
	// another one to retry once with, or a coded error (tickets_unavailable)
	// when the store has nothing newer. It never fetches a new token.
	Rejected(ctx context.Context, cred string) (string, error)
}

// Provider is one OCR upstream. Errors are *errcode.Error values; a failure
// of the upstream call itself wraps an *upstream.Error.
type Provider interface {
	Name() string
	Limits() Limits
	// Credentials returns the stored credential source, or nil when the
	// provider signs with static keys (then cred is "").
	Credentials() Credentials
	SubmitIDCard(ctx context.Context, cred string, c IDCardCall) (*IDCardRead, error)
	SubmitBankCard(ctx context.Context, cred string, c BankCardCall) (*BankCardRead, error)
}

// Querier is a provider that keeps results by order number.
type Querier interface {
	QueryIDCard(ctx context.Context, cred, orderNo string, files bool) (*IDCardRead, error)
	QueryBankCard(ctx context.Context, cred, orderNo string, files bool) (*BankCardRead, error)
}

// URLChecker is a provider that downloads images: it checks a URL (scheme,
// host, address) before any call.
type URLChecker interface {
	CheckImageURL(ctx context.Context, raw string) error
}

// IDCardCall is a checked ID card submission.
type IDCardCall struct {
	OrderNo  string
	UserID   string
	Side     string // Front or Back
	Native   bool   // nativePlace asked for
	Image    Image  // zero when ImageURL is set
	Format   string // "jpeg", "png" or "bmp", from the image's head
	ImageURL string
}

// BankCardCall is a checked bank card submission.
type BankCardCall struct {
	OrderNo string
	UserID  string
	Image   Image
	Format  string
}

// IDCardRead is what a provider read from an image or an order.
type IDCardRead struct {
	// Side is the side read: Front, Back, or "" for an order with both. A
	// provider that detects the side itself reports what it saw; the
	// service refuses a side other than the one asked for.
	Side string
	// Card holds the text fields as read; the service fills BirthDate,
	// ValidFrom and ValidTo from Fields (it owns the normalization).
	Card     IDCard
	Fields   cardcheck.IDCardFields // the fields as read: ID number, birth, sex, validity
	Warnings []cardcheck.Warning
	Clarity  *int
	Upstream json.RawMessage // the provider's answer without photos
	Files    map[string]Photo
	// PhotosMissing: photos were asked for and some are not there yet.
	PhotosMissing bool
	OrderTime     time.Time // when the upstream processed the order (queries)
}

// BankCardRead is what a provider read from a bank card image or order.
type BankCardRead struct {
	Number        string // as read (normalized and checked by the service)
	ValidThru     string // as read
	Warnings      []cardcheck.Warning
	Clarity       *int
	Upstream      json.RawMessage
	Files         map[string]Photo
	PhotosMissing bool
	OrderTime     time.Time
}

// ProvidersOf returns the provider map of a service with just ps.
func ProvidersOf(ps ...Provider) map[string]Provider {
	m := make(map[string]Provider, len(ps))
	for _, p := range ps {
		m[p.Name()] = p
	}
	return m
}
