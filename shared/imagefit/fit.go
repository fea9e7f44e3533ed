// Package imagefit brings a phone photo within an upstream's limits before
// it is sent: decoded, turned as its EXIF orientation says, scaled down
// until it fits, and encoded again as a JPEG of quality 90. Nothing in a
// card needs more than about 1 MP to be read, and the upstreams refuse
// what phones take (WeBank's bank card OCR takes 2,359,296 bytes).
//
// It is a package of its own so that only the functions that submit
// images link the image decoders.
package imagefit

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"runtime"

	"github.com/cardocr/cardocr/shared/errcode"
	"github.com/cardocr/cardocr/shared/ocr"
)

// Quality is the JPEG quality of a fitted image (the least allowed is 85).
const Quality = 90

// LongSide is the longest side a fitted image starts from: a card filling
// a quarter of a 2560-pixel-wide photo is still 640 pixels wide, more than
// the upstreams need.
const LongSide = 2560

// Fitter fits images (ocr.Fitter). The zero value fits without bound;
// New's fits at most GOMAXPROCS images at once, each of which holds its
// decoded pixels (12 MP: 18 MB).
type Fitter struct {
	slots chan struct{}
}

// New returns a Fitter.
func New() *Fitter {
	return &Fitter{slots: make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))}
}

// Fit re-encodes img within maxBytes. It answers 415 for a format it
// cannot decode (HEIC, WebP, GIF, …), invalid_image for a file that does
// not decode, and image_too_large when even the smallest readable size
// (ocr.MinImageSide on the short side) does not fit.
func (f *Fitter) Fit(ctx context.Context, img []byte, maxBytes int64) ([]byte, *ocr.ImageFitted, error) {
	kind := ocr.ImageKind(img)
	if kind != "jpeg" && kind != "png" {
		return nil, nil, Unsupported(img)
	}
	info, err := ocr.InspectImage(img, true)
	if err != nil {
		return nil, nil, err
	}
	if err := ocr.CheckImage(img, int64(len(img)), int64(len(img))); err != nil {
		return nil, nil, err // implausible dimensions: not decoded
	}
	if f.slots != nil {
		select {
		case f.slots <- struct{}{}:
			defer func() { <-f.slots }()
		case <-ctx.Done():
			return nil, nil, errcode.Wrap(errcode.RequestTimeout, ctx.Err(), "the image could not be fitted in time")
		}
	}
	var src image.Image
	var notes [][]byte
	orient := 1
	if kind == "jpeg" {
		src, err = jpeg.Decode(bytes.NewReader(img))
		notes, orient = comments(img), Orientation(img)
	} else {
		src, err = png.Decode(bytes.NewReader(img))
		notes = pngComments(img)
	}
	if err != nil {
		return nil, nil, errcode.Wrap(errcode.InvalidImage, err, "the "+kind+" image does not decode")
	}
	from := ocr.ImageSize{Width: info.Width, Height: info.Height, Bytes: int64(len(img))}
	if orient >= 5 { // turned by a quarter: the image as seen is the other way round
		from.Width, from.Height = from.Height, from.Width
	}
	b := src.Bounds()
	scale := min(1, float64(LongSide)/float64(max(b.Dx(), b.Dy())))
	for {
		w, h := max(1, int(float64(b.Dx())*scale+0.5)), max(1, int(float64(b.Dy())*scale+0.5))
		if min(w, h) < ocr.MinImageSide {
			return nil, nil, errcode.Errorf(errcode.ImageTooLarge,
				"the image does not fit in %d bytes even at %d pixels on its short side", maxBytes, ocr.MinImageSide)
		}
		if err := ctx.Err(); err != nil {
			return nil, nil, errcode.Wrap(errcode.RequestTimeout, err, "the image could not be fitted in time")
		}
		out := orientate(downscale(src, w, h), orient)
		enc, err := encode(out, notes)
		if err != nil {
			return nil, nil, fmt.Errorf("imagefit: %w", err)
		}
		if int64(len(enc)) <= maxBytes {
			ob := out.Bounds()
			return enc, &ocr.ImageFitted{From: from, To: ocr.ImageSize{Width: ob.Dx(), Height: ob.Dy(), Bytes: int64(len(enc))}}, nil
		}
		scale *= 0.75
	}
}

// Unsupported is the 415 for an image in a format no upstream takes,
// naming it when it is one phones produce.
func Unsupported(img []byte) error {
	name := ocr.PhoneFormat(img)
	if name == "" {
		name = "this format"
		if ocr.ImageKind(img) == "bmp" {
			name = "a BMP larger than the provider takes"
		}
	}
	return errcode.Errorf(errcode.UnsupportedMediaType, "%s is not accepted; send a JPEG or PNG (or a BMP within the provider's limit). An iPhone sends JPEG when its camera is set to Most Compatible, and a mini-program's chooseMedia returns JPEG", name)
}

// encode writes img as a JPEG with notes as COM segments after SOI.
func encode(img image.Image, notes [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: Quality}); err != nil {
		return nil, err
	}
	plain := buf.Bytes()
	if len(notes) == 0 {
		return plain, nil
	}
	out := make([]byte, 0, len(plain)+64)
	out = append(out, plain[:2]...)
	for _, n := range notes {
		out = append(out, 0xFF, 0xFE)
		out = binary.BigEndian.AppendUint16(out, uint16(len(n)+2))
		out = append(out, n...)
	}
	return append(out, plain[2:]...), nil
}

// downscale averages the source pixels under each destination pixel (a
// box filter: every source pixel counts once, so nothing aliases at the
// large factors a 12 MP photo needs). A destination as large as the source
// copies it.
func downscale(src image.Image, w, h int) *image.RGBA {
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	sw, sh := b.Dx(), b.Dy()
	// Column spans: destination x covers source columns [x0[x], x0[x+1]).
	x0 := make([]int, w+1)
	for x := range x0 {
		x0[x] = x * sw / w
	}
	acc := make([]uint32, 3*w)
	cnt := make([]uint32, w)
	ycc, isYCC := src.(*image.YCbCr)
	for y := 0; y < h; y++ {
		ya, yb := y*sh/h, (y+1)*sh/h
		if yb == ya {
			yb = ya + 1
		}
		clear(acc)
		clear(cnt)
		for sy := ya; sy < yb; sy++ {
			for x := 0; x < w; x++ {
				xa, xb := x0[x], x0[x+1]
				if xb == xa {
					xb = xa + 1
				}
				var r, g, bl uint32
				for sx := xa; sx < xb; sx++ {
					var cr, cg, cb uint8
					if isYCC {
						yi := ycc.YOffset(b.Min.X+sx, b.Min.Y+sy)
						ci := ycc.COffset(b.Min.X+sx, b.Min.Y+sy)
						cr, cg, cb = color.YCbCrToRGB(ycc.Y[yi], ycc.Cb[ci], ycc.Cr[ci])
					} else {
						R, G, B, _ := src.At(b.Min.X+sx, b.Min.Y+sy).RGBA()
						cr, cg, cb = uint8(R>>8), uint8(G>>8), uint8(B>>8)
					}
					r += uint32(cr)
					g += uint32(cg)
					bl += uint32(cb)
				}
				acc[3*x] += r
				acc[3*x+1] += g
				acc[3*x+2] += bl
				cnt[x] += uint32(xb - xa)
			}
		}
		row := dst.Pix[y*dst.Stride:]
		for x := 0; x < w; x++ {
			n := cnt[x]
			row[4*x] = uint8((acc[3*x] + n/2) / n)
			row[4*x+1] = uint8((acc[3*x+1] + n/2) / n)
			row[4*x+2] = uint8((acc[3*x+2] + n/2) / n)
			row[4*x+3] = 0xFF
		}
	}
	return dst
}

// orientate turns img as EXIF orientation o says (1: as it is).
func orientate(img *image.RGBA, o int) *image.RGBA {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // turned 180°
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored vertically
				dx, dy = x, h-1-y
			case 5: // transposed
				dx, dy = y, x
			case 6: // turned 90° clockwise to view
				dx, dy = h-1-y, x
			case 7: // transversed
				dx, dy = h-1-y, w-1-x
			case 8: // turned 90° counter-clockwise to view
				dx, dy = y, w-1-x
			}
			si, di := y*img.Stride+4*x, dy*dst.Stride+4*dx
			copy(dst.Pix[di:di+4], img.Pix[si:si+4])
		}
	}
	return dst
}
