package ocr

import (
	"bytes"
	"encoding/binary"
	"image/jpeg"
	"image/png"

	"github.com/cardocr/cardocr/shared/domain"
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
		return domain.Errorf(domain.InvalidImage, "the image is empty")
	}
	if size > limit {
		return domain.Errorf(domain.ImageTooLarge, "the image is %d bytes; this provider accepts at most %d", size, limit)
	}
	info, err := InspectImage(head, int64(len(head)) >= size)
	if err != nil {
		return err
	}
	short, long := min(info.Width, info.Height), max(info.Width, info.Height)
	if short < MinImageSide || long > MaxImageSide || info.Width*info.Height > MaxImagePixels {
		return domain.Errorf(domain.InvalidImage, "the image is %d×%d pixels: not a plausible card photo (each side %d to %d pixels, at most %d megapixels)",
			info.Width, info.Height, MinImageSide, MaxImageSide, MaxImagePixels/1_000_000)
	}
	return nil
}

// InspectImage reads the format and dimensions from the header; whole
// says b is the complete file, and then its structure is walked to the end.
func InspectImage(b []byte, whole bool) (ImageInfo, error) {
	bad := func(msg string) (ImageInfo, error) {
		return ImageInfo{}, domain.Errorf(domain.InvalidImage, "%s", msg)
	}
	kind := ImageKind(b)
	var info ImageInfo
	switch kind {
	case "":
		return bad("the payload is not a JPEG, PNG or BMP image")
	case "jpeg", "png":
		decode := jpeg.DecodeConfig
		if kind == "png" {
			decode = png.DecodeConfig
		}
		cfg, err := decode(bytes.NewReader(b))
		if err != nil {
			return bad("the " + kind + " header does not decode")
		}
		if cfg.Width <= 0 || cfg.Height <= 0 { // a JPEG may defer its height to a DNL marker: no photo does
			return bad("the " + kind + " dimensions are not valid")
		}
		info = ImageInfo{Format: kind, Width: cfg.Width, Height: cfg.Height}
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
		return ImageInfo{}, domain.Errorf(domain.InvalidImage, "%s", msg)
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
