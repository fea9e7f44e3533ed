package httpapi

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"strings"

	"github.com/cardocr/cardocr/shared/errcode"
)

// A JSON submission carries the image as one long base64 string. Decoding
// it the ordinary way holds the body, the string and the image at once
// (about 5× the image). This decoder reads the body once, as a stream, and
// base64-decodes the image member as its characters arrive, so the image
// bytes are the only copy held: a JSON request costs about its image.

// Bounds of the members other than image.
const (
	maxKeyLen   = 64
	maxValueLen = 16 << 10
)

var errNotJSON = errors.New("not JSON")

// known are the members read, by lower-case name.
var known = map[string]bool{"image": true, "native": true, "side": true, "userid": true, "provider": true, "orderno": true, "imageurl": true}

type jsonStream struct {
	r        *bufio.Reader
	maxImage int64
	hint     int64 // Content-Length, to size the image buffer once
}

// decodeJSONStream reads {"side":…,"image":"<base64>",…} from body.
func decodeJSONStream(body io.Reader, maxImage, contentLength int64) (*submission, error) {
	js := &jsonStream{r: bufio.NewReaderSize(body, 32<<10), maxImage: maxImage, hint: contentLength}
	sub, err := js.object()
	if err != nil {
		var de *errcode.Error
		if errors.As(err, &de) {
			return nil, err
		}
		if errors.Is(err, errNotJSON) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errcode.Errorf(errcode.InvalidRequest, "the body is not valid JSON")
		}
		return nil, bodyErr(err)
	}
	return sub, nil
}

// next returns the next byte that is not JSON white space.
func (j *jsonStream) next() (byte, error) {
	for {
		c, err := j.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return c, nil
	}
}

func (j *jsonStream) object() (*submission, error) {
	c, err := j.next()
	if err != nil {
		return nil, err
	}
	if c != '{' {
		return nil, errNotJSON
	}
	sub := &submission{}
	var native string
	seen := map[string]bool{}
	first := true
	for {
		c, err := j.next()
		if err != nil {
			return nil, err
		}
		if c == '}' && first {
			break
		}
		if !first {
			if c == '}' {
				break
			}
			if c != ',' {
				return nil, errNotJSON
			}
			if c, err = j.next(); err != nil {
				return nil, err
			}
		}
		first = false
		if c != '"' {
			return nil, errNotJSON
		}
		key, err := j.stringValue(maxKeyLen)
		if err != nil {
			return nil, err
		}
		if c, err = j.next(); err != nil {
			return nil, err
		}
		if c != ':' {
			return nil, errNotJSON
		}
		// Names match case-insensitively, as encoding/json matches them.
		// A known member may not repeat (an image would be decoded twice);
		// unknown ones are skipped whatever they are.
		key = strings.ToLower(key)
		if known[key] {
			if seen[key] {
				return nil, errcode.Errorf(errcode.InvalidRequest, "member %q appears twice", truncateKey(key))
			}
			seen[key] = true
		}
		switch key {
		case "image":
			if sub.Image, err = j.imageValue(); err != nil {
				return nil, err
			}
		case "native":
			raw, err := j.rawValue()
			if err != nil {
				return nil, err
			}
			native = strings.Trim(raw, `"`)
		case "side", "userid", "provider", "orderno", "imageurl":
			v, err := j.scalarString()
			if err != nil {
				return nil, err
			}
			switch key {
			case "side":
				sub.Side = v
			case "userid":
				sub.UserID = v
			case "provider":
				sub.Provider = v
			case "orderno":
				sub.OrderNo = v
			case "imageurl":
				sub.ImageURL = v
			}
		default:
			if _, err := j.rawValue(); err != nil {
				return nil, err
			}
		}
	}
	// A single object: nothing but white space may follow.
	if _, err := j.next(); err == nil {
		return nil, errcode.Errorf(errcode.InvalidRequest, "the body is not a single JSON object")
	} else if !errors.Is(err, io.EOF) {
		return nil, err
	}
	if sub.Native, err = parseBool(native); err != nil {
		return nil, err
	}
	switch {
	case sub.ImageURL != "" && len(sub.Image) > 0:
		return nil, errcode.Errorf(errcode.InvalidRequest, "send either image or imageUrl, not both")
	case sub.ImageURL == "" && len(sub.Image) == 0:
		return nil, errcode.Errorf(errcode.InvalidRequest, "image is required (base64)")
	}
	return sub, nil
}

func truncateKey(k string) string {
	if len(k) > 16 {
		return k[:16] + "…"
	}
	return k
}

// stringValue reads a string whose opening quote was consumed, at most
// limit bytes of JSON text, with encoding/json's rules.
func (j *jsonStream) stringValue(limit int) (string, error) {
	raw := []byte{'"'}
	escaped := false
	for {
		c, err := j.r.ReadByte()
		if err != nil {
			return "", err
		}
		raw = append(raw, c)
		if len(raw) > limit+2 {
			return "", errcode.Errorf(errcode.InvalidRequest, "a member of the body is too long")
		}
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return "", errNotJSON
			}
			return s, nil
		}
	}
}

// scalarString reads a string member (null is the empty string).
func (j *jsonStream) scalarString() (string, error) {
	c, err := j.next()
	if err != nil {
		return "", err
	}
	switch c {
	case '"':
		return j.stringValue(maxValueLen)
	case 'n':
		return "", j.literal("ull")
	}
	return "", errcode.Errorf(errcode.InvalidRequest, "the body's string members must be strings")
}

func (j *jsonStream) literal(rest string) error {
	for i := 0; i < len(rest); i++ {
		c, err := j.r.ReadByte()
		if err != nil {
			return err
		}
		if c != rest[i] {
			return errNotJSON
		}
	}
	return nil
}

// rawValue reads any value (for native, and members we ignore) and returns
// its text, bounded; nesting is skipped with strings honoured.
func (j *jsonStream) rawValue() (string, error) {
	c, err := j.next()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteByte(c)
	depth, inString, escaped := 0, c == '"', false
	switch c {
	case '{', '[':
		depth = 1
	case '"':
	default:
		// A number or a literal: up to the next delimiter.
		for {
			c, err := j.r.ReadByte()
			if err != nil {
				return "", err
			}
			if strings.IndexByte(",}] \t\r\n", c) >= 0 {
				_ = j.r.UnreadByte()
				s := b.String()
				if !json.Valid([]byte(s)) {
					return "", errNotJSON
				}
				return s, nil
			}
			b.WriteByte(c)
			if b.Len() > maxValueLen {
				return "", errcode.Errorf(errcode.InvalidRequest, "a member of the body is too long")
			}
		}
	}
	for inString || depth > 0 {
		c, err := j.r.ReadByte()
		if err != nil {
			return "", err
		}
		b.WriteByte(c)
		if b.Len() > maxValueLen {
			return "", errcode.Errorf(errcode.InvalidRequest, "a member of the body is too long")
		}
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
		}
	}
	s := b.String()
	if !json.Valid([]byte(s)) {
		return "", errNotJSON
	}
	return s, nil
}

// imageValue streams the image member: a base64 string (standard or
// URL-safe, padded or not, white space and \n-style escapes allowed, an
// optional "data:…;base64," prefix), decoded as it is read; or null.
func (j *jsonStream) imageValue() ([]byte, error) {
	c, err := j.next()
	if err != nil {
		return nil, err
	}
	switch c {
	case 'n':
		return nil, j.literal("ull")
	case '"':
	default:
		return nil, errcode.Errorf(errcode.InvalidImage, "image must be a base64 string")
	}
	capacity := int64(64 << 10)
	if j.hint > 0 {
		capacity = j.hint/4*3 + 3
	}
	out := make([]byte, 0, min(capacity, j.maxImage+3))
	var chunk [4 << 10]byte // base64 characters waiting to be decoded (a multiple of 4)
	n, pad := 0, 0
	prefix := make([]byte, 0, 64) // the first characters, to spot a data: URL
	checkedPrefix := false
	flush := func(final bool) error {
		k := n
		if !final {
			k -= k % 4
		}
		if k == 0 {
			return nil
		}
		if final && k%4 == 1 {
			return errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
		}
		enc := base64.StdEncoding
		if k%4 != 0 {
			enc = base64.RawStdEncoding
		}
		if int64(len(out))+int64(enc.DecodedLen(k)) > j.maxImage+2 {
			return errcode.Errorf(errcode.ImageTooLarge, "the image is larger than %d bytes", j.maxImage)
		}
		if need := enc.DecodedLen(k); cap(out)-len(out) < need {
			// Only without a Content-Length (chunked), or with a lying one.
			grown := make([]byte, len(out), max(2*cap(out), len(out)+need))
			copy(grown, out)
			out = grown
		}
		m, err := enc.Decode(out[len(out):cap(out)], chunk[:k])
		if err != nil {
			return errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
		}
		out = out[:len(out)+m]
		n = copy(chunk[:], chunk[k:n])
		return nil
	}
	add := func(c byte) error {
		switch {
		case c == '=':
			pad++
			return nil
		case pad > 0:
			return errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
		case c == '-':
			c = '+'
		case c == '_':
			c = '/'
		}
		chunk[n] = c
		n++
		if n == len(chunk) {
			return flush(false)
		}
		return nil
	}
	for {
		c, err := j.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if c == '\\' {
			e, err := j.r.ReadByte()
			if err != nil {
				return nil, err
			}
			switch e {
			case '/':
				c = '/'
			case 'n', 'r', 't':
				continue // escaped line breaks inside the base64
			case 'u':
				var hex [4]byte
				if _, err := io.ReadFull(j.r, hex[:]); err != nil {
					return nil, err
				}
				var v rune
				for _, h := range hex {
					v <<= 4
					switch {
					case h >= '0' && h <= '9':
						v |= rune(h - '0')
					case h >= 'a' && h <= 'f':
						v |= rune(h - 'a' + 10)
					case h >= 'A' && h <= 'F':
						v |= rune(h - 'A' + 10)
					default:
						return nil, errNotJSON
					}
				}
				if v > 0x7f {
					return nil, errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
				}
				c = byte(v)
			default:
				return nil, errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
			}
		} else if c == '"' {
			break
		}
		if c == ' ' || c == '\n' || c == '\r' || c == '\t' {
			continue
		}
		if !checkedPrefix {
			// Hold back the first characters until we know whether they
			// are a data: URL prefix.
			prefix = append(prefix, c)
			if len(prefix) < 5 {
				continue
			}
			if string(prefix[:5]) == "data:" {
				if c == ',' {
					p := string(prefix)
					if !strings.HasSuffix(p, ";base64,") {
						return nil, errcode.Errorf(errcode.InvalidImage, "image data URL is not base64")
					}
					prefix, checkedPrefix = prefix[:0], true
				} else if len(prefix) == cap(prefix) {
					return nil, errcode.Errorf(errcode.InvalidImage, "image data URL is not base64")
				}
				continue
			}
			checkedPrefix = true
			for _, p := range prefix {
				if !validB64(p) && p != '=' {
					return nil, errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
				}
				if err := add(p); err != nil {
					return nil, err
				}
			}
			prefix = prefix[:0]
			continue
		}
		if !validB64(c) && c != '=' {
			return nil, errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
		}
		if err := add(c); err != nil {
			return nil, err
		}
	}
	if !checkedPrefix { // a string shorter than five characters
		for _, p := range prefix {
			if !validB64(p) && p != '=' {
				return nil, errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
			}
			if err := add(p); err != nil {
				return nil, err
			}
		}
	}
	if pad > 2 { // padding is optional (and its alignment is not checked)
		return nil, errcode.Errorf(errcode.InvalidImage, "image is not valid base64")
	}
	if err := flush(true); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errcode.Errorf(errcode.InvalidImage, "the image is empty")
	}
	if int64(len(out)) > j.maxImage {
		return nil, errcode.Errorf(errcode.ImageTooLarge, "the image is larger than %d bytes", j.maxImage)
	}
	return out, nil
}

func validB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
}
