// Package tencentcloud is Tencent Cloud OCR (API 3.0, ocr 2018-11-19) as an
// ocr.Provider: IDCardOCR for both sides of an ID card and BankCardOCR,
// called through the tencentcloud-sdk-go typed client with the warning
// options on (docs/protocol.md, "Tencent Cloud OCR").
//
// It keeps no results by order number (there is no query), signs with a
// static API key pair or the SCF role's temporary credentials (read at every
// call: they rotate), and needs no stored token. Errors are *errcode.Error
// values wrapping an *upstream.Error; the SDK's own messages for HTTP and
// parse failures quote the answer's body and are never kept.
package tencentcloud

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"
	tcerr "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/errors"
	"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"
	ocrapi "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ocr/v20181119"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/upstream"
)

// Name is the provider's name in requests and answers.
const Name = "tencentcloud"

// Limits: "要求图片经Base64编码后不超过 10M" (both actions' ImageBase64 on the
// current pages, https://cloud.tencent.com/document/api/866/33524 and
// https://cloud.tencent.com/document/api/866/36216, and the SDK's current
// models.go; older copies said 7M), read as 10 MiB of Base64, so images of
// at most 3/4 of that.
const (
	MaxBase64 = 10 << 20
	MaxImage  = MaxBase64 / 4 * 3 // 7864320
)

// DefaultEndpoint is the public endpoint (any region's serves the API).
const DefaultEndpoint = "ocr.tencentcloudapi.com"

// Config configures a Provider.
type Config struct {
	// Endpoint is a host[:port], or an http(s) URL (the emulator's)
	// [DefaultEndpoint].
	Endpoint string
	Region   string // [ap-guangzhou]
	// SecretID and SecretKey are a static API key pair. When empty, the
	// SCF role's TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY and
	// TENCENTCLOUD_SESSIONTOKEN are read at every call.
	SecretID, SecretKey string
	// KeyPair, when set, gives the key pair of each call instead of
	// SecretID and SecretKey (a credentials secret read again when due: a
	// rotated key needs no cold start); empty: the role's, as above.
	KeyPair func() (id, key string)
	// KeyRejected is told when the upstream refuses the key pair
	// (AuthFailure…), so that the next call reads it again.
	KeyRejected func()
	Transport   http.RoundTripper // [a clone of http.DefaultTransport]
	// Timeout bounds a call whose context has no deadline [20 s].
	Timeout time.Duration
	// MaxResponseBytes bounds what is read of an answer [16 MiB].
	MaxResponseBytes int64
	Getenv           func(string) string // [os.Getenv]
}

// Provider calls Tencent Cloud OCR. It is safe for concurrent use.
type Provider struct {
	cfg  Config
	prof *profile.ClientProfile
}

// New returns a Provider.
func New(cfg Config) *Provider {
	if cfg.Region == "" {
		cfg.Region = "ap-guangzhou"
	}
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = 16 << 20
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	prof := profile.NewClientProfile()
	prof.HttpProfile.ReqTimeout = 0 // the context bounds each call instead
	prof.Language = "en-US"
	prof.HttpProfile.Endpoint = DefaultEndpoint
	if e := cfg.Endpoint; e != "" {
		prof.HttpProfile.Endpoint = e
		if scheme, host, ok := strings.Cut(e, "://"); ok {
			prof.HttpProfile.Scheme, prof.HttpProfile.Endpoint = strings.ToUpper(scheme), strings.TrimRight(host, "/")
		}
	}
	return &Provider{cfg: cfg, prof: prof}
}

// Configured reports whether calls can be signed: a static key pair, or a
// role's temporary credentials in the environment.
func (p *Provider) Configured() bool { _, err := p.credential(); return err == nil }

func (p *Provider) Name() string                 { return Name }
func (p *Provider) Credentials() ocr.Credentials { return nil }

// IDCardQPS and BankCardQPS are the default call rates of the account,
// from each API page's "默认接口请求频率限制" (IDCardOCR 20 次/秒,
// BankCardOCR 10 次/秒): https://cloud.tencent.com/document/api/866/33524
// and https://cloud.tencent.com/document/api/866/36216.
const (
	IDCardQPS   = 20
	BankCardQPS = 10
)

func (p *Provider) Limits() ocr.Limits {
	return ocr.Limits{IDCardImage: MaxImage, BankCardImage: MaxImage, IDCardQPS: IDCardQPS, BankCardQPS: BankCardQPS}
}

func (p *Provider) credential() (*common.Credential, error) {
	id, key := p.cfg.SecretID, p.cfg.SecretKey
	if p.cfg.KeyPair != nil {
		id, key = p.cfg.KeyPair()
	}
	if id != "" && key != "" {
		return common.NewCredential(id, key), nil
	}
	id, key = p.cfg.Getenv("TENCENTCLOUD_SECRETID"), p.cfg.Getenv("TENCENTCLOUD_SECRETKEY")
	if id == "" || key == "" {
		return nil, errors.New("no Tencent Cloud credentials (tencentcloudSecretId/Key in the credentials secret, or an SCF role)")
	}
	return common.NewTokenCredential(id, key, p.cfg.Getenv("TENCENTCLOUD_SESSIONTOKEN")), nil
}

// idConfig turns on every warning IDCardOCR offers (copy, border and
// occlusion, reshoot, PS, temporary card, invalid date, reflection) and
// the quality score.
const idConfig = `{"CopyWarn":true,"BorderCheckWarn":true,"ReshootWarn":true,"DetectPsWarn":true,"TempIdWarn":true,"InvalidDateWarn":true,"ReflectWarn":true,"Quality":true}`

// SubmitIDCard recognizes one side with IDCardOCR.
func (p *Provider) SubmitIDCard(ctx context.Context, _ string, c ocr.IDCardCall) (*ocr.IDCardRead, error) {
	const op = "IDCardOCR"
	img, err := readImage(op, c.Image)
	if err != nil {
		return nil, err
	}
	req := ocrapi.NewIDCardOCRRequest()
	side, cfg := "FRONT", idConfig
	if c.Side == ocr.Back {
		side = "BACK"
	}
	req.ImageBase64, req.CardSide, req.Config = &img, &side, &cfg
	var resp *ocrapi.IDCardOCRResponse
	if err := p.call(ctx, op, func(cl *ocrapi.Client) (err error) { resp, err = cl.IDCardOCR(req); return err }); err != nil {
		return nil, err
	}
	r := resp.Response
	if r == nil {
		return nil, toDomain(&upstream.Error{Provider: Name, Op: op, Msg: "answer without Response", Retryable: true})
	}
	read := &ocr.IDCardRead{Card: ocr.IDCard{
		Name: str(r.Name), Sex: str(r.Sex), Nation: str(r.Nation), Address: str(r.Address), IDNumber: str(r.IdNum), Authority: str(r.Authority),
	}}
	read.Fields = cardcheck.IDCardFields{IDNumber: read.Card.IDNumber, Birth: str(r.Birth), Sex: read.Card.Sex, ValidDate: str(r.ValidDate)}
	// The side is the one read, whatever was asked (the service refuses a
	// mismatch): the documents do not say how a wrong-side image is answered.
	switch {
	case read.Card.IDNumber != "" || read.Card.Name != "":
		read.Side = ocr.Front
	case read.Card.Authority != "" || read.Fields.ValidDate != "":
		read.Side = ocr.Back
	default:
		return nil, &errcode.Error{Code: errcode.RecognitionFailed, Message: "nothing was read from the image",
			Err: &upstream.Error{Provider: Name, Op: op, Msg: "empty answer"}}
	}
	var adv struct {
		WarnInfos []int64 `json:"WarnInfos"`
		Quality   *int    `json:"Quality"`
	}
	if s := str(r.AdvancedInfo); s != "" && json.Unmarshal([]byte(s), &adv) != nil {
		read.Warnings = []cardcheck.Warning{cardcheck.WarnUnrecognized}
	}
	for _, w := range adv.WarnInfos {
		read.Warnings = append(read.Warnings, idWarning(w))
	}
	read.Clarity = adv.Quality
	read.Upstream, _ = json.Marshal(r)
	return read, nil
}

// idWarning maps IDCardOCR's WarnInfos codes to the API's warnings.
func idWarning(code int64) cardcheck.Warning {
	switch code {
	case -9109, -9100: // the current models.go says -9109; older pages and the README -9100
		return cardcheck.WarnInvalidDate
	case -9101:
		return cardcheck.WarnBorderIncomplete
	case -9102:
		return cardcheck.WarnPhotocopy
	case -9103:
		return cardcheck.WarnRecaptured
	case -9104:
		return cardcheck.WarnTemporaryCard
	case -9105:
		return cardcheck.WarnOccluded
	case -9106:
		return cardcheck.WarnTampered
	case -9107:
		return cardcheck.WarnReflection
	}
	c := strconv.FormatInt(code, 10)
	return cardcheck.Warning{Code: "id_warning_" + c, Message: "unknown provider warning " + c}
}

// SubmitBankCard recognizes a bank card with BankCardOCR, its copy,
// reshoot and border checks on.
func (p *Provider) SubmitBankCard(ctx context.Context, _ string, c ocr.BankCardCall) (*ocr.BankCardRead, error) {
	const op = "BankCardOCR"
	img, err := readImage(op, c.Image)
	if err != nil {
		return nil, err
	}
	req := ocrapi.NewBankCardOCRRequest()
	on := true
	req.ImageBase64, req.EnableCopyCheck, req.EnableReshootCheck, req.EnableBorderCheck = &img, &on, &on, &on
	var resp *ocrapi.BankCardOCRResponse
	if err := p.call(ctx, op, func(cl *ocrapi.Client) (err error) { resp, err = cl.BankCardOCR(req); return err }); err != nil {
		return nil, err
	}
	r := resp.Response
	if r == nil {
		return nil, toDomain(&upstream.Error{Provider: Name, Op: op, Msg: "answer without Response", Retryable: true})
	}
	var codes []string
	for _, w := range r.WarningCode {
		if w != nil {
			codes = append(codes, strconv.FormatInt(*w, 10))
		}
	}
	read := &ocr.BankCardRead{Number: str(r.CardNo), ValidThru: str(r.ValidDate), Warnings: cardcheck.DecodeBankWarnings(strings.Join(codes, ","))}
	r.BorderCutImage, r.CardNoImage = nil, nil // images are never echoed
	read.Upstream, _ = json.Marshal(r)
	return read, nil
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// readImage reads the image whole: the API takes it as a Base64 member of
// a JSON body the SDK builds in memory.
func readImage(op string, img ocr.Image) (string, error) {
	if img.Open == nil || img.Size <= 0 {
		return "", toDomain(&upstream.Error{Provider: Name, Op: op, Msg: "no image", NotSent: true})
	}
	src, err := img.Open()
	if err != nil {
		return "", toDomain(&upstream.Error{Provider: Name, Op: op, Msg: "cannot read the image", Err: err, NotSent: true, Retryable: true})
	}
	defer src.Close()
	var buf bytes.Buffer
	buf.Grow(int(img.Size))
	if _, err := io.Copy(&buf, io.LimitReader(src, img.Size)); err != nil || int64(buf.Len()) != img.Size {
		return "", toDomain(&upstream.Error{Provider: Name, Op: op, Msg: "cannot read the image", Err: err, NotSent: true, Retryable: true})
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

// initMu serializes the SDK's client Init, which sets the standard
// logger's flags as a side effect; they are restored.
var initMu sync.Mutex

// call runs send with a client bound to ctx (the SDK takes no context: its
// transport carries it) and maps what goes wrong.
func (p *Provider) call(ctx context.Context, op string, send func(*ocrapi.Client) error) error {
	cred, err := p.credential()
	if err != nil {
		return &errcode.Error{Code: errcode.UpstreamError, Message: "Tencent Cloud OCR has no credentials on this deployment",
			Err: &upstream.Error{Provider: Name, Op: op, Err: err, NotSent: true}}
	}
	ctx, cancel := upstream.WithDefaultTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	bt := &boundTransport{ctx: ctx, base: p.cfg.Transport, max: p.cfg.MaxResponseBytes}
	c := &ocrapi.Client{}
	initMu.Lock()
	flags := log.Flags()
	c.Init(p.cfg.Region)
	log.SetFlags(flags)
	initMu.Unlock()
	c.WithProfile(p.prof).WithCredential(cred).WithHttpTransport(bt)
	err = send(c)
	if err == nil {
		return nil
	}
	var sdk *tcerr.TencentCloudSDKError
	if !errors.As(err, &sdk) {
		return toDomain(&upstream.Error{Provider: Name, Op: op, Err: upstream.Scrub(err), Retryable: true})
	}
	switch sdk.Code {
	case "ClientError.NetworkError", "ClientError.IOError":
		terr, notSent := bt.failure()
		return toDomain(&upstream.Error{Provider: Name, Op: op, Err: terr, Retryable: true, NotSent: notSent})
	case "ClientError.HttpStatusCodeError":
		// The SDK's message quotes the body: only the status is kept.
		return toDomain(&upstream.Error{Provider: Name, Op: op, HTTPStatus: bt.status, Msg: "HTTP " + strconv.Itoa(bt.status),
			Retryable: bt.status >= 500 || bt.status == http.StatusTooManyRequests})
	case "ClientError.ParseJsonError":
		return toDomain(&upstream.Error{Provider: Name, Op: op, HTTPStatus: bt.status, Msg: "malformed answer", Retryable: true})
	}
	if kindOf(sdk.Code) == kindAuth && p.cfg.KeyRejected != nil {
		p.cfg.KeyRejected()
	}
	return toDomain(apiError(op, sdk))
}

// boundTransport runs every request under the call's context, bounds the
// answer it reads and remembers what failed (the SDK's error keeps only
// text).
type boundTransport struct {
	ctx    context.Context
	base   http.RoundTripper
	max    int64
	mu     sync.Mutex
	err    error
	status int
}

func (t *boundTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req.WithContext(t.ctx))
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.err = err
		return nil, err
	}
	t.status = resp.StatusCode
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: t.max, t: t}
	return resp, nil
}

func (t *boundTransport) failure() (error, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.err
	if err == nil {
		err = errors.New("transport failure")
	}
	return upstream.Transport(t.ctx, err)
}

type boundedBody struct {
	io.ReadCloser
	left int64
	t    *boundTransport
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.t.mu.Lock()
		b.t.err = upstream.ErrTooLarge
		b.t.mu.Unlock()
		return 0, upstream.ErrTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		b.t.mu.Lock()
		b.t.err = err
		b.t.mu.Unlock()
	}
	return n, err
}

// apiError is an answer with an API 3.0 error code. The upstream's message
// is kept (truncated) for the logs only.
func apiError(op string, sdk *tcerr.TencentCloudSDKError) *upstream.Error {
	e := &upstream.Error{Provider: Name, Op: op, Code: sdk.Code, Msg: upstream.Truncate(sdk.Message, 80)}
	switch k := kindOf(sdk.Code); k {
	case kindQuota:
		e.Quota = true
	case kindThrottled:
		e.Throttled, e.Retryable = true, true
	case kindBusy:
		e.Retryable = true
	}
	if rid := sdk.RequestId; rid != "" {
		e.Msg = upstream.Truncate(e.Msg+" [RequestId "+rid+"]", 140)
	}
	return e
}

type kind int

const (
	kindOther kind = iota
	kindNotRecognized
	kindWrongSide
	kindBadImage
	kindTooLarge
	kindQuota
	kindThrottled
	kindBusy
	kindAuth
	kindTimeout
)

// kindOf classifies an error code (the product's error-code page and the
// actions' pages list them).
func kindOf(code string) kind {
	switch code {
	case "FailedOperation.ImageNoIdCard", "FailedOperation.IdCardInfoIllegal", "FailedOperation.OcrFailed",
		"FailedOperation.ImageBlur", "FailedOperation.NoBankCardError", "FailedOperation.IllegalBankCardError",
		"FailedOperation.IdCardTooSmall", "FailedOperation.MultiCardError", "FailedOperation.ImageNoSpecifiedCard",
		"FailedOperation.ImageNoText", "FailedOperation.DetectFailed":
		return kindNotRecognized
	case "FailedOperation.ImageDecodeFailed", "FailedOperation.EmptyImageError", "InvalidParameter.EngineImageDecodeFailed",
		"FailedOperation.DownLoadError":
		return kindBadImage
	case "LimitExceeded.TooLargeFileError", "FailedOperation.ImageSizeTooLarge":
		return kindTooLarge
	case "FailedOperation.CardSideError":
		// "身份证正反面识别错误": the image is the other side than asked
		// for: the caller's image, which no other provider can fix.
		return kindWrongSide
	case "ResourceUnavailable.InArrears", "ResourceUnavailable.ResourcePackageRunOut", "FailedOperation.ArrearsError",
		"FailedOperation.CountLimitError", "ResourcesSoldOut.ChargeStatusException", "FailedOperation.UnOpenError":
		return kindQuota
	case "FailedOperation.EngineRecognizeTimeout":
		return kindTimeout
	case "InternalError", "FailedOperation.UnKnowError":
		return kindBusy
	}
	switch {
	case strings.HasPrefix(code, "RequestLimitExceeded"):
		return kindThrottled
	case strings.HasPrefix(code, "AuthFailure"):
		return kindAuth
	case strings.HasPrefix(code, "InternalError"):
		return kindBusy
	}
	return kindOther
}

// toDomain maps an upstream error to the API's error code. The upstream's
// message is not shown to callers.
func toDomain(e *upstream.Error) *errcode.Error {
	de := &errcode.Error{Code: errcode.UpstreamError, UpstreamCode: e.Code, Retryable: e.Retryable, Err: e}
	if e.Code == "" {
		switch {
		case upstream.IsTimeout(e.Err):
			de.Code, de.Message, de.Retryable = errcode.UpstreamTimeout, "Tencent Cloud OCR did not answer in time", true
		case e.Msg == "no image" || e.Msg == "cannot read the image":
			de.Message = "the image could not be read"
		default:
			de.Message = "the Tencent Cloud OCR call failed"
		}
		return de
	}
	switch kindOf(e.Code) {
	case kindNotRecognized:
		de.Code, de.Message = errcode.RecognitionFailed, "the card could not be recognized; retake the photo"
	case kindWrongSide:
		de.Code, de.Message = errcode.RecognitionFailed, "the image shows the other side of the ID card than the side requested"
	case kindBadImage:
		de.Code, de.Message = errcode.InvalidImage, "the image could not be decoded"
	case kindTooLarge:
		de.Code, de.Message = errcode.ImageTooLarge, fmt.Sprintf("the image is too large for Tencent Cloud OCR (a Base64 string of at most %d characters)", MaxBase64)
	case kindQuota:
		de.Code, de.Message = errcode.QuotaExceeded, "the Tencent Cloud OCR account is in arrears, out of quota or not opened"
	case kindThrottled:
		de.Code, de.Message, de.Retryable = errcode.Busy, "Tencent Cloud OCR's rate limit answered; try again shortly", true
	case kindTimeout:
		de.Code, de.Message, de.Retryable = errcode.UpstreamTimeout, "Tencent Cloud OCR did not finish in time", true
	case kindAuth:
		de.Message = "Tencent Cloud rejected our credentials"
	case kindBusy:
		de.Message = "Tencent Cloud OCR reported an internal error; try again"
	default:
		de.Message = "Tencent Cloud OCR answered with an error"
	}
	return de
}
