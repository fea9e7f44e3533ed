package ocr

import (
	"bytes"
	stdimage "image"
	"image/jpeg"
	"image/png"
	"io"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
)

// FuzzInspectImage: any bytes, whole or as a head, give a coded answer and
// never a panic; an accepted image has plausible dimensions.
func FuzzInspectImage(f *testing.F) {
	spec := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 3}
	for _, b := range [][]byte{spec.JPEG(), spec.PNG(), spec.BMP(), {0xFF, 0xD8, 0xFF, 0xDA, 0, 2, 0xFF, 0xD9}, []byte("BM"), []byte("\x89PNG\r\n\x1a\n")} {
		f.Add(b, true)
		f.Add(b[:len(b)/2], false)
	}
	f.Fuzz(func(t *testing.T, b []byte, whole bool) {
		// The reference: what the standard decoders read from the header.
		// The hand parsers never refuse a header they read, and read the
		// same dimensions (they may accept more: tables before the frame
		// are not validated).
		var ref func(r io.Reader) (stdimage.Config, error)
		switch ImageKind(b) {
		case "jpeg":
			ref = jpeg.DecodeConfig
		case "png":
			ref = png.DecodeConfig
		}
		if ref != nil {
			if cfg, err := ref(bytes.NewReader(b)); err == nil && cfg.Width > 0 && cfg.Height > 0 {
				info, err := InspectImage(b, false)
				if err != nil || info.Width != cfg.Width || info.Height != cfg.Height {
					t.Fatalf("the decoder reads %dx%d, InspectImage: %+v %v", cfg.Width, cfg.Height, info, err)
				}
			}
		}
		info, err := InspectImage(b, whole)
		if err != nil {
			if errcode.ErrorCode(err) != errcode.InvalidImage {
				t.Fatalf("uncoded error %v", err)
			}
			return
		}
		if info.Width <= 0 || info.Height <= 0 || info.Format == "" {
			t.Fatalf("accepted with %+v", info)
		}
		size := int64(len(b))
		if !whole {
			size++
		}
		_ = CheckImage(b, size, testMaxImage)
	})
}
