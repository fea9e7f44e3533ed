package ocr

import (
	"bytes"

	"github.com/cardocr/cardocr/shared/domain"
)

// Size limits of the upstream APIs (PROTOCOL.md §4–§5, §7). The WeBank
// document gives 20 MB for the ID card image; we read that as 20 MiB of
// image (lenient: the field's length column says 20971520 characters of
// base64, but the text says image size).
const (
	MaxIDCardImage   = 20 << 20
	MaxBankCardImage = 3 << 20
	MaxWeChatImage   = 2<<20 - 1 // "小于2M": less than 2 MiB
)

// SniffLen is how many leading bytes CheckImage needs.
const SniffLen = 12

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

// CheckImage rejects what no upstream would accept, before any call.
func CheckImage(head []byte, size, limit int64) error {
	if size == 0 {
		return domain.Errorf(domain.InvalidImage, "the image is empty")
	}
	if size > limit {
		return domain.Errorf(domain.ImageTooLarge, "the image is %d bytes; at most %d are accepted", size, limit)
	}
	if ImageKind(head) == "" {
		return domain.Errorf(domain.InvalidImage, "the payload is not a JPEG, PNG or BMP image")
	}
	return nil
}
