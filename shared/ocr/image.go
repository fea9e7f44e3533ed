package ocr

import (
	"bytes"
	"context"
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

// PhoneFormat names an image format phones produce that no upstream takes
// (HEIC, AVIF, WebP, GIF, TIFF) from its first bytes; "" for any other.
func PhoneFormat(img []byte) string {
	switch {
	case len(img) >= 12 && string(img[4:8]) == "ftyp" && (bytes.HasPrefix(img[8:12], []byte("hei")) || bytes.HasPrefix(img[8:12], []byte("mif1")) || bytes.HasPrefix(img[8:12], []byte("hev")) || bytes.HasPrefix(img[8:12], []byte("msf1"))):
		return "HEIC/HEIF"
	case len(img) >= 12 && string(img[4:8]) == "ftyp" && string(img[8:12]) == "avif":
		return "AVIF"
	case len(img) >= 12 && string(img[:4]) == "RIFF" && string(img[8:12]) == "WEBP":
		return "WebP"
	case bytes.HasPrefix(img, []byte("GIF8")):
		return "GIF"
	case bytes.HasPrefix(img, []byte("II*\x00")) || bytes.HasPrefix(img, []byte("MM\x00*")):
		return "TIFF"
	}
	return ""
}

// ImageSize is an image's dimensions and length.
type ImageSize struct {
	Width  int   `json:"width"`
	Height int   `json:"height"`
	Bytes  int64 `json:"bytes"`
}

// ImageFitted says that the image sent upstream is not the one received:
// it was fitted to the provider's limits (the answer's imageFitted).
type ImageFitted struct {
	From ImageSize `json:"from"`
	To   ImageSize `json:"to"`
}

// Fitter brings an image within a provider's byte limit (package
// imagefit): decoded, turned upright, scaled down, encoded as JPEG.
type Fitter interface {
	Fit(ctx context.Context, img []byte, maxBytes int64) ([]byte, *ImageFitted, error)
}
