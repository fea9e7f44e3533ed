package imagefit

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"sync"
	"testing"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
)

// bankLimit is WeBank's bank card limit: 3 MB of Base64 (2,359,296 raw).
const bankLimit = 2359296

var (
	phoneOnce sync.Once
	phone     []byte
)

// phonePhoto is a 12 MP bank card photo with sensor grain, 8 MB or more,
// as phones take them (made once: encoding 12 MP takes a while).
func phonePhoto(t testing.TB) []byte {
	phoneOnce.Do(func() {
		phone = emulator.CardSpec{Kind: emulator.KindBankCard, Seed: 7, Width: 4000, Height: 3000, Grain: 60, MinSize: 8 << 20}.JPEG()
	})
	return phone
}

// withOrientation inserts an EXIF APP1 segment with the orientation tag
// after SOI.
func withOrientation(jpg []byte, o uint16, order binary.AppendByteOrder) []byte {
	var t []byte
	if order.String() == "LittleEndian" {
		t = append(t, "II"...)
	} else {
		t = append(t, "MM"...)
	}
	t = order.AppendUint16(t, 42)
	t = order.AppendUint32(t, 8)
	t = order.AppendUint16(t, 1) // one entry
	t = order.AppendUint16(t, 0x0112)
	t = order.AppendUint16(t, 3)
	t = order.AppendUint32(t, 1)
	t = order.AppendUint16(t, o)
	t = order.AppendUint16(t, 0)
	t = order.AppendUint32(t, 0) // no next IFD
	seg := append([]byte("Exif\x00\x00"), t...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// halves is a w×h image, left half red, right half blue.
func halves(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{220, 20, 20, 255}
			if x >= w/2 {
				c = color.RGBA{20, 20, 220, 255}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func encodeJPEG(t *testing.T, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lumaQ0 is the first entry of a JPEG's first quantization table: 3 at
// quality 90 and 5 at 85 with the standard tables (libjpeg's scaling,
// which image/jpeg follows), so ≤ 5 means a quality of at least 85.
func lumaQ0(t *testing.T, jpg []byte) int {
	t.Helper()
	i := bytes.Index(jpg, []byte{0xFF, 0xDB})
	if i < 0 || i+5 >= len(jpg) {
		t.Fatal("no DQT segment")
	}
	return int(jpg[i+5])
}

func TestFitPhone(t *testing.T) {
	src := phonePhoto(t)
	if len(src) < 8<<20 {
		t.Fatalf("the test photo is %d bytes, want 8 MB", len(src))
	}
	out, fitted, err := New().Fit(context.Background(), src, bankLimit)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) > bankLimit || fitted.To.Bytes != int64(len(out)) {
		t.Fatalf("fitted to %d bytes (said %d), limit %d", len(out), fitted.To.Bytes, bankLimit)
	}
	if fitted.From.Width != 4000 || fitted.From.Height != 3000 || fitted.From.Bytes != int64(len(src)) {
		t.Fatalf("from = %+v", fitted.From)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
	if err != nil || cfg.Width != fitted.To.Width || cfg.Height != fitted.To.Height {
		t.Fatalf("fitted image %v %+v, said %+v", err, cfg, fitted.To)
	}
	if cfg.Width > LongSide || cfg.Width*3 != cfg.Height*4 && abs(cfg.Width*3-cfg.Height*4) > 4 {
		t.Fatalf("fitted to %d×%d: not within %d or not 4:3", cfg.Width, cfg.Height, LongSide)
	}
	if q := lumaQ0(t, out); q > 5 {
		t.Fatalf("quantization %d: quality under 85", q)
	}
	if !bytes.Contains(out, []byte(emulator.MarkerPrefix)) {
		t.Fatal("the comment was not carried over")
	}
}

func abs(x int) int { return max(x, -x) }

func TestFitOrientation(t *testing.T) {
	plain := encodeJPEG(t, halves(400, 200), 95)
	for _, tc := range []struct {
		o          uint16
		order      binary.AppendByteOrder
		w, h       int
		redAt      image.Point // where the red half is after turning
		blueAt     image.Point
		orientRead int
	}{
		{1, binary.BigEndian, 400, 200, image.Pt(50, 100), image.Pt(350, 100), 1},
		{3, binary.LittleEndian, 400, 200, image.Pt(350, 100), image.Pt(50, 100), 3},
		{6, binary.BigEndian, 200, 400, image.Pt(100, 50), image.Pt(100, 350), 6},
		{6, binary.LittleEndian, 200, 400, image.Pt(100, 50), image.Pt(100, 350), 6},
		{8, binary.LittleEndian, 200, 400, image.Pt(100, 350), image.Pt(100, 50), 8},
		{2, binary.BigEndian, 400, 200, image.Pt(350, 100), image.Pt(50, 100), 2},
	} {
		src := withOrientation(plain, tc.o, tc.order)
		if got := Orientation(src); got != tc.orientRead {
			t.Fatalf("Orientation = %d, want %d", got, tc.orientRead)
		}
		out, fitted, err := New().Fit(context.Background(), src, int64(len(src)-1))
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h || fitted.From.Width != tc.w || fitted.From.Height != tc.h {
			t.Fatalf("orientation %d: %v, from %+v; want %d×%d", tc.o, b, fitted.From, tc.w, tc.h)
		}
		r, _, bl, _ := img.At(tc.redAt.X, tc.redAt.Y).RGBA()
		if r>>8 < 150 || bl>>8 > 100 {
			t.Fatalf("orientation %d: not red at %v", tc.o, tc.redAt)
		}
		r, _, bl, _ = img.At(tc.blueAt.X, tc.blueAt.Y).RGBA()
		if bl>>8 < 150 || r>>8 > 100 {
			t.Fatalf("orientation %d: not blue at %v", tc.o, tc.blueAt)
		}
		if bytes.Contains(out, []byte("Exif\x00\x00")) {
			t.Fatal("EXIF carried over")
		}
	}
}

func TestFitPNG(t *testing.T) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, emulatorRender(t)); err != nil {
		t.Fatal(err)
	}
	src := buf.Bytes()
	out, fitted, err := New().Fit(context.Background(), src, int64(len(src)/4))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(out)); err != nil || fitted.To.Bytes > int64(len(src)/4) {
		t.Fatalf("PNG not fitted as a JPEG: %v %+v", err, fitted)
	}
}

// emulatorRender decodes a grainy card PNG made by the emulator.
func emulatorRender(t *testing.T) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(emulator.CardSpec{Kind: emulator.KindBankCard, Width: 1200, Height: 760, Grain: 30}.PNG()))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestFitRefusals(t *testing.T) {
	heic := append([]byte("\x00\x00\x00\x18ftypheic"), make([]byte, 64)...)
	webp := append([]byte("RIFF\x00\x00\x00\x00WEBPVP8 "), make([]byte, 64)...)
	small := encodeJPEG(t, halves(400, 200), 95)
	for _, tc := range []struct {
		name string
		img  []byte
		max  int64
		code errcode.Code
		says string
	}{
		{"heic", heic, 10, errcode.UnsupportedMediaType, "HEIC"},
		{"webp", webp, 10, errcode.UnsupportedMediaType, "WebP"},
		{"garbage", []byte("not an image at all"), 10, errcode.UnsupportedMediaType, "JPEG or PNG"},
		{"truncated", small[:len(small)/2], 10, errcode.InvalidImage, "truncated"},
		{"cannot fit", small, 50, errcode.ImageTooLarge, "even at"},
		{"too few pixels", encodeJPEG(t, halves(90, 60), 90), 10, errcode.InvalidImage, "plausible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := New().Fit(context.Background(), tc.img, tc.max)
			if errcode.ErrorCode(err) != tc.code || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want %s saying %q", err, tc.code, tc.says)
			}
		})
	}
}

func TestFitCancelled(t *testing.T) {
	f := &Fitter{slots: make(chan struct{}, 1)}
	f.slots <- struct{}{} // every slot taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := f.Fit(ctx, encodeJPEG(t, halves(400, 200), 95), 100)
	if errcode.ErrorCode(err) != errcode.RequestTimeout {
		t.Fatalf("err = %v, want request_timeout", err)
	}
}

func FuzzOrientation(f *testing.F) {
	f.Add(withOrientation([]byte{0xFF, 0xD8, 0xFF, 0xD9}, 6, binary.LittleEndian))
	f.Add(withOrientation([]byte{0xFF, 0xD8, 0xFF, 0xD9}, 3, binary.BigEndian))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := Orientation(b); o < 1 || o > 8 {
			t.Fatalf("Orientation = %d", o)
		}
		for _, c := range comments(b) {
			if len(c) > 64<<10 {
				t.Fatal("comment too long")
			}
		}
		pngComments(b)
	})
}

// BenchmarkFitPhone fits the 12 MP, 8 MB photo for a bank card; time per
// photo is the ns/op (make bench quotes it).
func BenchmarkFitPhone(b *testing.B) {
	src := phonePhoto(b)
	f := New()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		if _, _, err := f.Fit(context.Background(), src, bankLimit); err != nil {
			b.Fatal(err)
		}
	}
}
