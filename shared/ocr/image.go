package ocr

import "bytes"

// Size limits of the upstream APIs, in raw image bytes (docs/protocol.md).
// WeBank limits the Base64 string, not the image: idcardStr "图片的
// Base64，大小不超过20MB" (length 20971520) and bankcardStr "Base64 String
// … 大小不超过3MB". Base64 is 4 characters per 3 bytes, so the images may
// be at most 3/4 of that. WeChat limits the file: "小于2M".
const (
	MaxIDCardBase64   = 20971520
	MaxBankCardBase64 = 3 << 20
	MaxIDCardImage    = MaxIDCardBase64 / 4 * 3   // 15728640
	MaxBankCardImage  = MaxBankCardBase64 / 4 * 3 // 2359296
	MaxWeChatImage    = 2<<20 - 1                 // less than 2 MiB
)

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
