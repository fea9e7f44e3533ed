package ocr

import "bytes"

// ImageKind names the image format from its first bytes: "jpeg", "png",
// "bmp", or "" when it is none of the formats the upstreams take.
func ImageKind(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return "jpeg"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "png"
	case bytes.HasPrefix(head, []byte("BM")) && len(head) >= 6:
		return "bmp"
	}
	return ""
}
