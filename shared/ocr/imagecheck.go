package ocr

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/cardocr/cardocr/shared/errcode"
)

// Plausible dimensions of a photo of a card (ID-1, 85.6 × 54 mm): a short
// side under 100 px cannot be read, and a side over 16384 px or more than
// 60 megapixels is no phone photo. Anything outside is refused before any
// upstream call.
const (
	MinImageSide   = 100
	MaxImageSide   = 16384
	MaxImagePixels = 60_000_000
)

// HeadLen is how many leading bytes CheckImage needs to read the format
// and the dimensions (JPEG keeps them after its APP segments, EXIF with a
// thumbnail included, which are at most 64 KiB each).
const HeadLen = 256 << 10

// ImageInfo is what the header says.
type ImageInfo struct {
	Format        string // "jpeg", "png", "bmp"
	Width, Height int
}

// CheckImage rejects what no upstream would accept, before any call: an
// empty or oversized file, one that is not a JPEG, PNG or BMP, one whose
// header does not decode, whose dimensions are implausible for a card
// photo, or, when head is the whole file (len(head) == size), one that is
// truncated (a JPEG without its end marker, a PNG without IEND, a BMP
// shorter than its pixels). limit is the provider's raw-size limit.
func CheckImage(head []byte, size, limit int64) error {
	if size == 0 {
		return errcode.Errorf(errcode.InvalidImage, "the image is empty")
	}
	if size > limit {
		return errcode.Errorf(errcode.ImageTooLarge, "the image is %d bytes; this provider accepts at most %d", size, limit)
	}
	info, err := InspectImage(head, int64(len(head)) >= size)
	if err != nil {
		return err
	}
	short, long := min(info.Width, info.Height), max(info.Width, info.Height)
	if short < MinImageSide || long > MaxImageSide || info.Width*info.Height > MaxImagePixels {
		return errcode.Errorf(errcode.InvalidImage, "the image is %d×%d pixels: not a plausible card photo (each side %d to %d pixels, at most %d megapixels)",
			info.Width, info.Height, MinImageSide, MaxImageSide, MaxImagePixels/1_000_000)
	}
	return nil
}

// InspectImage reads the format and dimensions from the header; whole
// says b is the complete file, and then its structure is walked to the end.
func InspectImage(b []byte, whole bool) (ImageInfo, error) {
	bad := func(msg string) (ImageInfo, error) {
		return ImageInfo{}, errcode.Errorf(errcode.InvalidImage, "%s", msg)
	}
	kind := ImageKind(b)
	var info ImageInfo
	switch kind {
	case "":
		if f := PhoneFormat(b); f != "" {
			return ImageInfo{}, errcode.Errorf(errcode.UnsupportedMediaType, "%s is not accepted; send a JPEG, PNG or BMP", f)
		}
		return bad("the payload is not a JPEG, PNG or BMP image")
	case "jpeg", "png":
		// The headers are read by hand: image/jpeg and image/png would link
		// whole decoders (about 130 KB of every binary) to read two numbers.
		header := jpegHeader
		if kind == "png" {
			header = pngHeader
		}
		w, h, ok := header(b)
		if !ok {
			return bad("the " + kind + " header does not decode")
		}
		if w <= 0 || h <= 0 { // a JPEG may defer its height to a DNL marker: no photo does
			return bad("the " + kind + " dimensions are not valid")
		}
		info = ImageInfo{Format: kind, Width: w, Height: h}
	case "bmp":
		var err error
		if info, err = bmpInfo(b, whole); err != nil {
			return info, err
		}
	}
	if !whole {
		return info, nil
	}
	var ok bool
	switch kind {
	case "jpeg":
		ok = jpegComplete(b)
	case "png":
		ok = pngComplete(b)
	default:
		ok = true // bmpInfo checked the length
	}
	if !ok {
		return bad("the " + kind + " file is truncated")
	}
	return info, nil
}

// jpegHeader reads the frame header (SOF0, SOF1 or SOF2: the JPEG
// processes decoders support) after the segments before it, as image/jpeg's
// DecodeConfig does: 8-bit samples, 1, 3 or 4 components, a length that
// matches them, sampling factors 1 to 4, distinct component ids. It does
// not validate the tables before the frame (the upstream will).
func jpegHeader(b []byte) (w, h int, ok bool) {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return 0, 0, false
	}
	i := 2
	for {
		// As liberal as the decoders: bytes before a marker are skipped,
		// "\xff\x00" is extraneous data, 0xFF fill bytes precede markers.
		for i < len(b) && b[i] != 0xFF {
			i++
		}
		for i+1 < len(b) && b[i+1] == 0xFF {
			i++
		}
		if i+1 >= len(b) {
			return 0, 0, false
		}
		m := b[i+1]
		switch {
		case m == 0x00:
			i += 2
			continue
		case m >= 0xD0 && m <= 0xD7: // RSTn: no length
			i += 2
			continue
		case m == 0xD8 || m == 0xD9 || m == 0xDA: // SOI, EOI or SOS before a frame
			return 0, 0, false
		}
		if i+4 > len(b) {
			return 0, 0, false
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 0, 0, false
		}
		seg := b[i+4 : i+2+n]
		switch {
		case m == 0xC0 || m == 0xC1 || m == 0xC2:
			return sofDimensions(seg)
		case m >= 0xC3 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return 0, 0, false // lossless, hierarchical, arithmetic: not decodable
		}
		i += 2 + n
	}
}

func sofDimensions(seg []byte) (w, h int, ok bool) {
	if len(seg) < 6 || seg[0] != 8 {
		return 0, 0, false
	}
	h, w = int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:]))
	nc := int(seg[5])
	if nc != 1 && nc != 3 && nc != 4 || len(seg) != 6+3*nc {
		return 0, 0, false
	}
	var seen [256]bool
	for c := range nc {
		id, hv := seg[6+3*c], seg[7+3*c]
		hs, vs := hv>>4, hv&0x0F
		if seen[id] || hs < 1 || hs > 4 || vs < 1 || vs > 4 || seg[8+3*c] > 3 {
			return 0, 0, false
		}
		seen[id] = true
	}
	return w, h, true
}

// pngHeader reads IHDR, the first chunk, as image/png's DecodeConfig
// does: length 13, its CRC, a valid bit depth for the colour type,
// compression and filter method 0, interlace 0 or 1.
func pngHeader(b []byte) (w, h int, ok bool) {
	if len(b) < 8+8+13+4 || string(b[12:16]) != "IHDR" || binary.BigEndian.Uint32(b[8:]) != 13 {
		return 0, 0, false
	}
	d := b[16:29]
	if crc32.ChecksumIEEE(b[12:29]) != binary.BigEndian.Uint32(b[29:]) {
		return 0, 0, false
	}
	wu, hu := binary.BigEndian.Uint32(d[0:]), binary.BigEndian.Uint32(d[4:])
	if wu >= 1<<31 || hu >= 1<<31 {
		return 0, 0, false
	}
	depth, color := d[8], d[9]
	valid := map[byte]string{0: "\x01\x02\x04\x08\x10", 2: "\x08\x10", 3: "\x01\x02\x04\x08", 4: "\x08\x10", 6: "\x08\x10"}[color]
	if !containsByte(valid, depth) || d[10] != 0 || d[11] != 0 || d[12] > 1 {
		return 0, 0, false
	}
	return int(wu), int(hu), true
}

func containsByte(s string, c byte) bool {
	for i := range len(s) {
		if s[i] == c {
			return true
		}
	}
	return false
}

// jpegComplete walks the segments from SOI: each marker segment by its
// length, the entropy-coded data after SOS up to the next marker that is
// not a restart or a stuffed 0xFF, until EOI. Bytes after EOI (padding,
// appended data) are allowed.
func jpegComplete(b []byte) bool {
	i := 2 // after SOI
	for i+1 < len(b) {
		if b[i] != 0xFF {
			return false
		}
		m := b[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0xD9: // EOI
			return true
		case m == 0x01 || m >= 0xD0 && m <= 0xD7: // TEM, RSTn: no length
			i += 2
			continue
		}
		if i+3 >= len(b) {
			return false
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 {
			return false
		}
		i += 2 + n
		if m != 0xDA { // not SOS
			continue
		}
		// Entropy-coded data: scan to the next real marker.
		for i+1 < len(b) {
			if b[i] == 0xFF && b[i+1] != 0x00 && !(b[i+1] >= 0xD0 && b[i+1] <= 0xD7) {
				break
			}
			i++
		}
	}
	return false
}

// pngComplete walks the chunks after the signature to IEND.
func pngComplete(b []byte) bool {
	i := 8
	for i+8 <= len(b) {
		n := int64(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		end := int64(i) + 12 + n
		if end > int64(len(b)) {
			return false
		}
		if typ == "IEND" {
			return true
		}
		i = int(end)
	}
	return false
}

// bmpInfo reads BITMAPFILEHEADER and the DIB header's dimensions; with the
// whole file it checks that the pixel array fits in it.
func bmpInfo(b []byte, whole bool) (ImageInfo, error) {
	bad := func(msg string) (ImageInfo, error) {
		return ImageInfo{}, errcode.Errorf(errcode.InvalidImage, "%s", msg)
	}
	if len(b) < 26 {
		return bad("the bmp header is truncated")
	}
	offset := int64(binary.LittleEndian.Uint32(b[10:]))
	dib := binary.LittleEndian.Uint32(b[14:])
	var w, h int64
	var bpp int64
	switch {
	case dib == 12: // BITMAPCOREHEADER
		w, h = int64(binary.LittleEndian.Uint16(b[18:])), int64(binary.LittleEndian.Uint16(b[20:]))
		bpp = int64(binary.LittleEndian.Uint16(b[24:]))
	case dib >= 40 && len(b) >= 30:
		w, h = int64(int32(binary.LittleEndian.Uint32(b[18:]))), int64(int32(binary.LittleEndian.Uint32(b[22:])))
		bpp = int64(binary.LittleEndian.Uint16(b[28:]))
	default:
		return bad("the bmp header is not one this API reads")
	}
	if h < 0 {
		h = -h // top-down
	}
	if w <= 0 || h <= 0 || w > MaxImageSide*4 || h > MaxImageSide*4 {
		return bad("the bmp dimensions are not valid")
	}
	switch bpp {
	case 1, 4, 8, 16, 24, 32:
	default:
		return bad("the bmp bit depth is not valid")
	}
	if offset < 14+int64(dib) {
		return bad("the bmp pixel offset is not valid")
	}
	if whole {
		compression := uint32(0)
		if dib >= 40 && len(b) >= 34 {
			compression = binary.LittleEndian.Uint32(b[30:])
		}
		row := (w*bpp + 31) / 32 * 4
		if compression == 0 && offset+row*h > int64(len(b)) { // uncompressed: the size is known
			return bad("the bmp file is truncated")
		}
		if offset > int64(len(b)) {
			return bad("the bmp file is truncated")
		}
	}
	return ImageInfo{Format: "bmp", Width: int(w), Height: int(h)}, nil
}
