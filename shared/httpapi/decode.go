package httpapi

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/cardocr/cardocr/shared/errcode"
)

// submission is a decoded POST body, before the service checks it.
type submission struct {
	Side     string
	UserID   string
	Native   bool
	Provider string
	OrderNo  string
	Image    []byte
	ImageURL string // provider wechat: an https URL WeChat downloads instead
}

// decodeSubmission reads a JSON or multipart body. maxImage bounds the
// decoded image; the body is bounded to what such an image needs, and to
// syncLimit (> 0), the synchronous routes' bound, whose 413 names the
// upload route for kind.
func decodeSubmission(w http.ResponseWriter, r *http.Request, maxImage, syncLimit int64, kind string) (*submission, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, errcode.Errorf(errcode.UnsupportedMediaType, "send application/json or multipart/form-data")
	}
	maxBody := int64(base64.StdEncoding.EncodedLen(int(maxImage))) + 64<<10
	if syncLimit > 0 && syncLimit < maxBody {
		if r.ContentLength > syncLimit {
			return nil, syncTooLarge(syncLimit, kind)
		}
		maxBody = syncLimit
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	var sub *submission
	switch mt {
	case "application/json":
		sub, err = decodeJSONStream(r.Body, maxImage, r.ContentLength)
	case "multipart/form-data":
		sub, err = decodeMultipart(r.Body, params["boundary"], maxImage, r.ContentLength)
	default:
		return nil, errcode.Errorf(errcode.UnsupportedMediaType, "send application/json or multipart/form-data")
	}
	var mbe *http.MaxBytesError
	if syncLimit > 0 && maxBody == syncLimit && errors.As(err, &mbe) {
		return nil, syncTooLarge(syncLimit, kind)
	}
	return sub, err
}

// syncTooLarge is the 413 of a body over the synchronous routes' bound: it
// names the route that takes larger photos.
func syncTooLarge(limit int64, kind string) error {
	return errcode.Errorf(errcode.ImageTooLarge,
		"the request body is larger than %d bytes, the most this deployment's synchronous routes take; send a larger photo with POST /v1/%s/uploads (a presigned upload)", limit, kind)
}

func bodyErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errcode.Wrap(errcode.ImageTooLarge, err, fmt.Sprintf("the request body is larger than %d bytes", mbe.Limit))
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return errcode.Wrap(errcode.RequestTimeout, err, "the request body did not arrive in time")
	}
	return errcode.Wrap(errcode.InvalidRequest, err, "the request body could not be read")
}

// decodeBase64 accepts standard base64 with or without padding, URL-safe
// base64, embedded line breaks, and a data: URL prefix.
func decodeBase64(s string, maxImage int64) ([]byte, error) {
	if strings.HasPrefix(s, "data:") {
		i := strings.Index(s, ";base64,")
		if i < 0 {
			return nil, errcode.Errorf(errcode.InvalidImage, "image data URL is not base64")
		}
		s = s[i+len(";base64,"):]
	}
	if strings.ContainsAny(s, "\r\n \t") {
		s = strings.Map(func(r rune) rune {
			if r == '\r' || r == '\n' || r == ' ' || r == '\t' {
				return -1
			}
			return r
		}, s)
	}
	if strings.TrimRight(s, "=") == "" {
		return nil, errcode.Errorf(errcode.InvalidImage, "the image is empty")
	}
	if int64(base64.RawStdEncoding.DecodedLen(len(strings.TrimRight(s, "=")))) > maxImage {
		return nil, errcode.Errorf(errcode.ImageTooLarge, "the image is larger than %d bytes", maxImage)
	}
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
		s = strings.TrimRight(s, "=")
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
	}
	return b, nil
}

// parseFlag is the one rule for every yes/no field and query parameter
// (native, files): true, 1, yes, on, or false, 0, no, off, or absent;
// anything else is refused rather than read as false.
func parseFlag(name, s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "null", "false", "0", "no", "off":
		return false, nil
	case "true", "1", "yes", "on":
		return true, nil
	}
	return false, errcode.Errorf(errcode.InvalidRequest, "%s must be true or false (or 1/0, yes/no, on/off)", name)
}

func parseBool(s string) (bool, error) { return parseFlag("native", s) }

const maxFieldBytes = 1 << 10

func decodeMultipart(body io.Reader, boundary string, maxImage, contentLength int64) (*submission, error) {
	if boundary == "" {
		return nil, errcode.Errorf(errcode.InvalidRequest, "multipart body without a boundary")
	}
	mr := multipart.NewReader(body, boundary)
	s := &submission{}
	var sawImage bool
	var nativeText string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if be := bodyErr(err); errcode.ErrorCode(be) != errcode.InvalidRequest {
				return nil, be // too large, or too slow
			}
			return nil, errcode.Errorf(errcode.InvalidRequest, "the multipart body is malformed")
		}
		name := p.FormName()
		if name == "image" {
			// Room for a base64 text field of the largest image; a file is
			// held to maxImage below.
			textMax := int64(base64.StdEncoding.EncodedLen(int(maxImage))) + 4<<10
			// One buffer sized from the body's length: growing by doubling
			// would hold up to twice the image at its peak.
			var buf bytes.Buffer
			if contentLength > 0 {
				buf.Grow(int(min(contentLength, textMax+1)))
			}
			if _, err := buf.ReadFrom(io.LimitReader(p, textMax+1)); err != nil {
				return nil, bodyErr(err)
			}
			img := buf.Bytes()
			if p.FileName() == "" && looksBase64(img) {
				// A text field named image: base64, as in the JSON form.
				if int64(len(img)) > textMax {
					return nil, errcode.Errorf(errcode.ImageTooLarge, "the image is larger than %d bytes", maxImage)
				}
				if img, err = decodeBase64(string(img), maxImage); err != nil {
					return nil, err
				}
			}
			if int64(len(img)) > maxImage {
				return nil, errcode.Errorf(errcode.ImageTooLarge, "the image is larger than %d bytes", maxImage)
			}
			s.Image, sawImage = img, true
			continue
		}
		v, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
		if err != nil {
			return nil, bodyErr(err)
		}
		if len(v) > maxFieldBytes {
			return nil, errcode.Errorf(errcode.InvalidRequest, "form field %q is too long", name)
		}
		val := strings.TrimSpace(string(v))
		switch name {
		case "side":
			s.Side = val
		case "userId":
			s.UserID = val
		case "native":
			nativeText = val
		case "provider":
			s.Provider = val
		case "orderNo":
			s.OrderNo = val
		case "imageUrl":
			s.ImageURL = val
		}
	}
	if s.ImageURL != "" && !sawImage {
		var err error
		s.Native, err = parseBool(nativeText)
		return s, err
	}
	if !sawImage || len(s.Image) == 0 {
		return nil, errcode.Errorf(errcode.InvalidRequest, "image is required (a file in the image field)")
	}
	var err error
	if s.Native, err = parseBool(nativeText); err != nil {
		return nil, err
	}
	return s, nil
}

func looksBase64(b []byte) bool {
	if len(b) < 4 {
		return false
	}
	for _, c := range b[:min(len(b), 64)] {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '-' || c == '_' || c == ':' || c == ';' || c == ',' || c == '\n' || c == '\r') {
			return false
		}
	}
	return true
}

// boolQuery reads ?files=1 style flags, by the same rule as the body's.
func boolQuery(r *http.Request, key string) (bool, error) {
	return parseFlag(key, r.URL.Query().Get(key))
}
