package imagefit

import "encoding/binary"

// Orientation reads the EXIF orientation (TIFF tag 0x0112) of a JPEG: 1
// (as stored) when there is none or it cannot be read. Phones store the
// sensor's pixels and say in this tag how to turn them; an upstream that
// ignores it reads a card lying on its side.
// https://www.cipa.jp/std/documents/download_e.html?DC-008-Translation-2023-E
func Orientation(jpg []byte) int {
	i := 2
	for i+4 <= len(jpg) && jpg[0] == 0xFF && jpg[1] == 0xD8 {
		if jpg[i] != 0xFF {
			return 1
		}
		m := jpg[i+1]
		if m == 0xFF {
			i++
			continue
		}
		if m == 0xDA || m == 0xD9 {
			return 1
		}
		n := int(binary.BigEndian.Uint16(jpg[i+2:]))
		if n < 2 || i+2+n > len(jpg) {
			return 1
		}
		seg := jpg[i+4 : i+2+n]
		if m == 0xE1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			if o := tiffOrientation(seg[6:]); o != 0 {
				return o
			}
			return 1
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF structure; 0 when
// absent or malformed.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:]) != 42 {
		return 0
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 0
	}
	n := int64(bo.Uint16(t[off:]))
	for k := int64(0); k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > int64(len(t)) {
			return 0
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		if bo.Uint16(t[e+2:]) != 3 || bo.Uint32(t[e+4:]) != 1 { // one SHORT
			return 0
		}
		if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return 0
	}
	return 0
}

// comments returns a JPEG's COM segments before its first scan (at most
// 64 KiB in all). They are carried over to a fitted image: a comment is
// what a JPEG has for notes, and the test upstream marks its cards in one.
// EXIF (a GPS position, a camera's serial) is not carried over.
func comments(jpg []byte) [][]byte {
	var out [][]byte
	total := 0
	i := 2
	for i+4 <= len(jpg) {
		if jpg[i] != 0xFF {
			break
		}
		m := jpg[i+1]
		if m == 0xFF {
			i++
			continue
		}
		if m == 0xDA || m == 0xD9 {
			break
		}
		n := int(binary.BigEndian.Uint16(jpg[i+2:]))
		if n < 2 || i+2+n > len(jpg) {
			break
		}
		if m == 0xFE && total+n <= 64<<10 {
			out = append(out, jpg[i+4:i+2+n])
			total += n
		}
		i += 2 + n
	}
	return out
}

// pngComments returns the text of a PNG's tEXt chunks with the keyword
// "Comment" before its image data, as JPEG comments.
func pngComments(p []byte) [][]byte {
	var out [][]byte
	i := 8
	for i+12 <= len(p) {
		n := int(binary.BigEndian.Uint32(p[i:]))
		if n < 0 || n > len(p)-i-12 {
			break
		}
		typ := string(p[i+4 : i+8])
		if typ == "IDAT" || typ == "IEND" {
			break
		}
		if typ == "tEXt" && n <= 65533 {
			d := p[i+8 : i+8+n]
			if len(d) > 8 && string(d[:8]) == "Comment\x00" {
				out = append(out, d[8:])
			}
		}
		i += 12 + n
	}
	return out
}
