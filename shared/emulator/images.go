package emulator

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"hash/fnv"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// Card kinds and sides of a CardSpec.
const (
	KindIDCard   = "idcard"
	KindBankCard = "bankcard"
	SideFront    = "front" // 人像面, cardType "0"
	SideBack     = "back"  // 国徽面, cardType "1"
)

// MarkerPrefix starts every recognition marker the emulator reads.
const MarkerPrefix = "cardocr-emulator;"

// CardSpec describes a test image and what the emulator recognizes on it.
// The zero values mean "as the seed says" (see Person and BankCard). The
// spec travels inside the image as a marker: a JPEG COM segment, a PNG
// tEXt chunk, or bytes after a BMP's pixel array. An image without a valid
// marker is "not a card" (66661001 for ID cards, -9013 for bank cards).
type CardSpec struct {
	Kind string // KindIDCard or KindBankCard
	Side string // SideFront or SideBack (ID cards only)
	Seed int64

	// Warning: ID cards: the 8-character warning string ("00000000" when
	// empty), returned as warning and multiWarning. Bank cards:
	// comma-separated warning codes, e.g. "-9111,-9114" ("0" when empty);
	// an expired card gets 66661009 added.
	Warning string
	// ValidFrom/ValidTo: ID cards: yyyyMMdd, ValidTo may be LongTerm
	// ("长期"); empty takes the seed's. A card whose ValidTo is before the
	// emulator's today is refused with 66661003; dates that are not dates,
	// or ValidFrom after ValidTo, with 66661004. Bank cards: ValidTo is
	// "MM/YYYY" (empty: the seed's).
	ValidFrom, ValidTo string
	Clarity            int // 1–100; 0 means 60 + seed mod 36

	Unreadable bool   // ID front 66661008, ID back 66661012, bank -9011
	Blurry     bool   // ID 66661001, bank -9012
	Code       string // force this answer code (e.g. "66661099", "-9014")

	// Overrides of the recognized text. An ID number that is not 18
	// characters with a valid birth date and check digit is refused with
	// 66661008, as the documents say the service does. Sex and Birth are
	// returned as given, so they can disagree with the ID number.
	Name, Sex, Birth, IDNumber string
	BadCheckDigit              bool   // corrupt the seed's ID check digit (gives 66661008)
	CardNumber                 string // bank card number override
	BadLuhn                    bool   // make the bank card number fail Luhn

	Width, Height int // pixels; default 320×202, at least 8×8
	MinSize       int // pad the file with trailing zero bytes to at least this size
	// Grain adds sensor noise of up to ± Grain levels to every pixel: a
	// phone photo's texture, which makes a 12 MP JPEG weigh what a phone's
	// does (megabytes, not the kilobytes of flat colours).
	Grain int
}

// Marker returns the marker text embedded in images made from s.
func (s CardSpec) Marker() string {
	var b strings.Builder
	b.WriteString(MarkerPrefix)
	add := func(k, v string) {
		if v == "" {
			return
		}
		if !strings.HasSuffix(b.String(), ";") {
			b.WriteByte(';')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(v))
	}
	flag := func(k string, v bool) {
		if v {
			add(k, "1")
		}
	}
	add("kind", s.Kind)
	add("side", s.Side)
	add("seed", strconv.FormatInt(s.Seed, 10))
	add("warning", s.Warning)
	add("validfrom", s.ValidFrom)
	add("validto", s.ValidTo)
	if s.Clarity != 0 {
		add("clarity", strconv.Itoa(s.Clarity))
	}
	flag("unreadable", s.Unreadable)
	flag("blurry", s.Blurry)
	add("code", s.Code)
	add("name", s.Name)
	add("sex", s.Sex)
	add("birth", s.Birth)
	add("idnumber", s.IDNumber)
	flag("badcheck", s.BadCheckDigit)
	add("cardnumber", s.CardNumber)
	flag("badluhn", s.BadLuhn)
	return b.String()
}

// parseMarker reads a marker written by Marker. ok is false when text is
// not a well-formed marker for a known kind and side.
func parseMarker(text string) (s CardSpec, ok bool) {
	rest, found := strings.CutPrefix(text, MarkerPrefix)
	if !found || len(text) > 4096 {
		return CardSpec{}, false
	}
	seenSeed := false
	for _, kv := range strings.Split(rest, ";") {
		if kv == "" {
			continue
		}
		k, ev, found := strings.Cut(kv, "=")
		if !found {
			return CardSpec{}, false
		}
		v, err := url.QueryUnescape(ev)
		if err != nil {
			return CardSpec{}, false
		}
		switch k {
		case "kind":
			s.Kind = v
		case "side":
			s.Side = v
		case "seed":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return CardSpec{}, false
			}
			s.Seed, seenSeed = n, true
		case "warning":
			s.Warning = v
		case "validfrom":
			s.ValidFrom = v
		case "validto":
			s.ValidTo = v
		case "clarity":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 100 {
				return CardSpec{}, false
			}
			s.Clarity = n
		case "unreadable":
			s.Unreadable = v == "1"
		case "blurry":
			s.Blurry = v == "1"
		case "code":
			s.Code = v
		case "name":
			s.Name = v
		case "sex":
			s.Sex = v
		case "birth":
			s.Birth = v
		case "idnumber":
			s.IDNumber = v
		case "badcheck":
			s.BadCheckDigit = v == "1"
		case "cardnumber":
			s.CardNumber = v
		case "badluhn":
			s.BadLuhn = v == "1"
		default:
			// Unknown keys are ignored so markers can grow.
		}
	}
	if !seenSeed {
		return CardSpec{}, false
	}
	switch s.Kind {
	case KindIDCard:
		if s.Side != SideFront && s.Side != SideBack {
			return CardSpec{}, false
		}
		if s.Warning != "" && !isWarningString(s.Warning) {
			return CardSpec{}, false
		}
	case KindBankCard:
		if s.Side != "" && s.Side != SideFront {
			return CardSpec{}, false
		}
		for _, w := range splitWarnings(s.Warning) {
			if _, err := strconv.Atoi(w); err != nil {
				return CardSpec{}, false
			}
		}
	default:
		return CardSpec{}, false
	}
	return s, true
}

func isWarningString(w string) bool {
	if len(w) != 8 {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] != '0' && w[i] != '1' {
			return false
		}
	}
	return true
}

func splitWarnings(w string) []string {
	if w == "" || w == "0" {
		return nil
	}
	return strings.Split(w, ",")
}

func (s CardSpec) size() (int, int) {
	w, h := s.Width, s.Height
	if w <= 0 {
		w = 320 // the ID-1 card's ratio, and plausible as a photo of one
	}
	if h <= 0 {
		h = 202
	}
	return max(w, 8), max(h, 8)
}

// render draws a card-like picture that depends only on the spec.
func (s CardSpec) render(w, h int) *image.RGBA {
	r := newRNG(s.Seed, 0x1A)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bg := color.RGBA{uint8(180 + r.intn(60)), uint8(180 + r.intn(60)), uint8(190 + r.intn(60)), 255}
	if s.Kind == KindBankCard {
		bg = color.RGBA{uint8(20 + r.intn(80)), uint8(60 + r.intn(100)), uint8(120 + r.intn(120)), 255}
	}
	fill := func(x0, y0, x1, y1 int, c color.RGBA) {
		for y := max(0, y0); y < min(h, y1); y++ {
			for x := max(0, x0); x < min(w, x1); x++ {
				img.SetRGBA(x, y, c)
			}
		}
	}
	fill(0, 0, w, h, bg)
	ink := color.RGBA{30, 30, 40, 255}
	switch {
	case s.Kind == KindBankCard:
		fill(w/10, h/3, w/4, h/2, color.RGBA{212, 175, 55, 255}) // chip
		for i := 0; i < 16; i++ {
			fill(w/10+i*w/20, 2*h/3, w/10+i*w/20+w/40, 2*h/3+h/10, color.RGBA{240, 240, 240, 255})
		}
	case s.Side == SideBack:
		fill(w/12, h/8, w/12+w/5, h/8+w/5, color.RGBA{200, 20, 20, 255}) // emblem
		for i := 0; i < 3; i++ {
			fill(w/3, h/2+i*h/8, w-w/10, h/2+i*h/8+h/16, ink)
		}
	default:
		fill(w-w/3, h/6, w-w/12, h-h/6, color.RGBA{120, 110, 100, 255}) // photo
		for i := 0; i < 5; i++ {
			fill(w/12, h/8+i*h/7, w/2+r.intn(w/6+1), h/8+i*h/7+h/16, ink)
		}
	}
	if s.Grain > 0 {
		g := newRNG(s.Seed, 0x6A)
		span := 2*s.Grain + 1
		for i := 0; i < len(img.Pix); i += 4 {
			n := g.next()
			for c := 0; c < 3; c++ {
				v := int(img.Pix[i+c]) + int((n>>(16*c))%uint64(span)) - s.Grain
				img.Pix[i+c] = uint8(min(255, max(0, v)))
			}
		}
	}
	return img
}

func encodeJPEG(img image.Image) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80}); err != nil {
		panic("emulator: jpeg encode: " + err.Error()) // cannot fail on an in-memory RGBA
	}
	return buf.Bytes()
}

func pad(b []byte, minSize int) []byte {
	if len(b) < minSize {
		b = append(b, make([]byte, minSize-len(b))...)
	}
	return b
}

// JPEG returns a real JPEG image of the card with the marker in a COM
// segment right after SOI.
func (s CardSpec) JPEG() []byte {
	w, h := s.size()
	plain := encodeJPEG(s.render(w, h))
	m := []byte(s.Marker())
	if len(m) > 65533 {
		m = m[:65533]
	}
	out := make([]byte, 0, len(plain)+len(m)+4)
	out = append(out, plain[:2]...) // SOI
	out = append(out, 0xFF, 0xFE)
	out = binary.BigEndian.AppendUint16(out, uint16(len(m)+2))
	out = append(out, m...)
	out = append(out, plain[2:]...)
	return pad(out, s.MinSize)
}

// PNG returns a real PNG image of the card with the marker in a tEXt chunk
// (keyword "Comment") right after IHDR.
func (s CardSpec) PNG() []byte {
	w, h := s.size()
	var buf bytes.Buffer
	if err := png.Encode(&buf, s.render(w, h)); err != nil {
		panic("emulator: png encode: " + err.Error())
	}
	plain := buf.Bytes()
	const ihdrEnd = 8 + 4 + 4 + 13 + 4
	data := append([]byte("Comment\x00"), s.Marker()...)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	chunk = append(chunk, "tEXt"...)
	chunk = append(chunk, data...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	out := make([]byte, 0, len(plain)+len(chunk))
	out = append(out, plain[:ihdrEnd]...)
	out = append(out, chunk...)
	out = append(out, plain[ihdrEnd:]...)
	return pad(out, s.MinSize)
}

// BMP returns an uncompressed 24-bit BMP of the card with the marker in
// the bytes after the pixel array.
func (s CardSpec) BMP() []byte {
	w, h := s.size()
	img := s.render(w, h)
	row := (w*3 + 3) &^ 3
	const off = 14 + 40
	m := []byte(s.Marker())
	size := off + row*h + len(m)
	out := make([]byte, 0, size)
	out = append(out, 'B', 'M')
	out = binary.LittleEndian.AppendUint32(out, uint32(size))
	out = binary.LittleEndian.AppendUint32(out, 0)
	out = binary.LittleEndian.AppendUint32(out, off)
	out = binary.LittleEndian.AppendUint32(out, 40)
	out = binary.LittleEndian.AppendUint32(out, uint32(w))
	out = binary.LittleEndian.AppendUint32(out, uint32(h))
	out = binary.LittleEndian.AppendUint16(out, 1)
	out = binary.LittleEndian.AppendUint16(out, 24)
	out = binary.LittleEndian.AppendUint32(out, 0) // BI_RGB
	out = binary.LittleEndian.AppendUint32(out, uint32(row*h))
	out = append(out, make([]byte, 16)...) // resolution, palette counts
	for y := h - 1; y >= 0; y-- {
		start := len(out)
		for x := 0; x < w; x++ {
			c := img.RGBAAt(x, y)
			out = append(out, c.B, c.G, c.R)
		}
		out = append(out, make([]byte, row-(len(out)-start))...)
	}
	out = append(out, m...)
	return pad(out, s.MinSize)
}

// Image formats the emulator accepts.
const (
	formatJPEG = "jpeg"
	formatPNG  = "png"
	formatBMP  = "bmp"
)

// maxFullDecodePixels bounds the images the emulator decodes completely;
// larger ones only get their headers checked.
const maxFullDecodePixels = 1 << 20

// inspectImage classifies b. format is "" when b is not a JPEG, PNG or BMP
// (66661010); decodeOK is false when it looks like one but does not decode
// (66661005); hasMarker says whether a valid marker was found.
func inspectImage(b []byte) (format string, decodeOK bool, spec CardSpec, hasMarker bool) {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		format = formatJPEG
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		format = formatPNG
	case len(b) >= 2 && b[0] == 'B' && b[1] == 'M':
		format = formatBMP
	default:
		return "", false, CardSpec{}, false
	}
	var marker string
	switch format {
	case formatJPEG:
		decodeOK = decodes(b, jpeg.DecodeConfig, jpeg.Decode)
		marker = jpegComment(b)
	case formatPNG:
		decodeOK = decodes(b, png.DecodeConfig, png.Decode)
		marker = pngComment(b)
	case formatBMP:
		var end int
		end, decodeOK = bmpPixelEnd(b)
		if decodeOK {
			marker = string(b[end:min(len(b), end+4096)])
			marker, _, _ = strings.Cut(marker, "\x00")
		}
	}
	if !decodeOK {
		return format, false, CardSpec{}, false
	}
	spec, hasMarker = parseMarker(marker)
	return format, true, spec, hasMarker
}

func decodes(b []byte, config func(r io.Reader) (image.Config, error), decode func(r io.Reader) (image.Image, error)) bool {
	cfg, err := config(bytes.NewReader(b))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return false
	}
	if cfg.Width*cfg.Height > maxFullDecodePixels {
		return true
	}
	_, err = decode(bytes.NewReader(b))
	return err == nil
}

// jpegComment returns the first COM segment before SOS that starts with
// MarkerPrefix, or "".
func jpegComment(b []byte) string {
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return ""
		}
		m := b[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0x01 {
			i += 2
			continue
		}
		if m == 0xDA || m == 0xD9 { // SOS, EOI: no more headers
			return ""
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return ""
		}
		if m == 0xFE {
			if c := string(b[i+4 : i+2+n]); strings.HasPrefix(c, MarkerPrefix) {
				return c
			}
		}
		i += 2 + n
	}
	return ""
}

// pngComment returns the text of the first tEXt chunk whose text starts
// with MarkerPrefix, or "".
func pngComment(b []byte) string {
	i := 8
	for i+12 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[i:]))
		if n < 0 || n > len(b)-i-12 {
			return ""
		}
		typ := string(b[i+4 : i+8])
		data := b[i+8 : i+8+n]
		if typ == "tEXt" {
			if _, text, ok := bytes.Cut(data, []byte{0}); ok && bytes.HasPrefix(text, []byte(MarkerPrefix)) {
				return string(text)
			}
		}
		if typ == "IDAT" || typ == "IEND" {
			return ""
		}
		i += 12 + n
	}
	return ""
}

// bmpPixelEnd checks a BMP's headers and returns where its pixel array
// ends. ok is false for a header that is not a decodable BMP.
func bmpPixelEnd(b []byte) (end int, ok bool) {
	if len(b) < 14+12 {
		return 0, false
	}
	off := int64(binary.LittleEndian.Uint32(b[10:]))
	dib := binary.LittleEndian.Uint32(b[14:])
	var w, h int64
	var bpp, compression uint32
	switch {
	case dib == 12:
		w = int64(binary.LittleEndian.Uint16(b[18:]))
		h = int64(binary.LittleEndian.Uint16(b[20:]))
		bpp = uint32(binary.LittleEndian.Uint16(b[24:]))
	case dib == 40 || dib == 52 || dib == 56 || dib == 108 || dib == 124:
		if len(b) < 14+40 {
			return 0, false
		}
		w = int64(int32(binary.LittleEndian.Uint32(b[18:])))
		h = int64(int32(binary.LittleEndian.Uint32(b[22:])))
		bpp = uint32(binary.LittleEndian.Uint16(b[28:]))
		compression = binary.LittleEndian.Uint32(b[30:])
	default:
		return 0, false
	}
	if h < 0 {
		h = -h
	}
	if w <= 0 || h <= 0 || w > 1<<16 || h > 1<<16 {
		return 0, false
	}
	switch bpp {
	case 1, 4, 8, 16, 24, 32:
	default:
		return 0, false
	}
	if compression != 0 && compression != 3 { // BI_RGB, BI_BITFIELDS
		return 0, false
	}
	row := (w*int64(bpp) + 31) / 32 * 4
	e := off + row*h
	if off < 14+int64(dib) || e > int64(len(b)) {
		return 0, false
	}
	return int(e), true
}

func imageRect(x0, y0, x1, y1 int) image.Rectangle { return image.Rect(x0, y0, x1, y1) }

// photoSpec is what an image without a marker shows: any decodable photo
// is a card of the kind (and side) asked for, whose identity comes from a
// hash of its bytes, so the same photo always gives the same person or
// card number (with valid check digits, birth date and sex). Markers stay
// for the scenarios (wrong side, warnings, not a card, expired, …).
func photoSpec(b []byte, kind, side string) CardSpec {
	h := fnv.New64a()
	h.Write(b)
	return CardSpec{Kind: kind, Side: side, Seed: int64(h.Sum64() & (1<<62 - 1))}
}

// ReadCard returns the spec an image carries, as every emulator here reads
// it: an emulator of another provider (a test's) answers from the same
// markers. ok is false for an image without one ("not a card").
func ReadCard(b []byte) (spec CardSpec, ok bool) {
	_, _, spec, ok = inspectImage(b)
	return spec, ok
}
