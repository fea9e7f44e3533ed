package ocr

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/errcode"
)

func TestCheckImage(t *testing.T) {
	card := func(w, h int) emulator.CardSpec {
		return emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 1, Width: w, Height: h}
	}
	jpg, png, bmp := card(0, 0).JPEG(), card(0, 0).PNG(), card(0, 0).BMP()
	padded := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 1, MinSize: 1 << 20}.JPEG()
	whole := func(b []byte) ([]byte, int64) { return b, int64(len(b)) }
	head := func(b []byte, n int) ([]byte, int64) { return b[:n], int64(len(b)) } // an upload: only its first bytes
	tests := []struct {
		name  string
		head  []byte
		size  int64
		limit int64
		want  errcode.Code
	}{
		{"jpeg", nil, 0, 0, ""},
		{"png", nil, 0, 0, ""},
		{"bmp", nil, 0, 0, ""},
		{"jpeg padded after its end", nil, 0, 0, ""},
		{"jpeg, head of an upload", nil, 0, 0, ""},
		{"truncated jpeg", nil, 0, 0, errcode.InvalidImage},
		{"truncated png", nil, 0, 0, errcode.InvalidImage},
		{"truncated bmp", nil, 0, 0, errcode.InvalidImage},
		{"10x10 png", nil, 0, 0, errcode.InvalidImage},
		{"99 px high", nil, 0, 0, errcode.InvalidImage},
		{"too large", nil, 0, 100, errcode.ImageTooLarge},
		{"three bytes of jpeg magic", []byte{0xFF, 0xD8, 0xFF}, 3, 0, errcode.InvalidImage},
		{"BM and garbage", []byte("BM\x00\x00garbage garbage garbage garbage"), 36, 0, errcode.InvalidImage},
		{"empty", []byte{}, 0, 0, errcode.InvalidImage},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), 10, 0, errcode.UnsupportedMediaType},
		{"heic", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00"), 16, 0, errcode.UnsupportedMediaType},
		{"webp", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), 16, 0, errcode.UnsupportedMediaType},
		{"pdf", []byte("%PDF-1.4"), 8, 0, errcode.InvalidImage},
	}
	inputs := map[string]func() ([]byte, int64){
		"jpeg": func() ([]byte, int64) { return whole(jpg) }, "png": func() ([]byte, int64) { return whole(png) },
		"bmp": func() ([]byte, int64) { return whole(bmp) }, "jpeg padded after its end": func() ([]byte, int64) { return whole(padded) },
		"jpeg, head of an upload": func() ([]byte, int64) { return head(padded, 4096) },
		"truncated jpeg":          func() ([]byte, int64) { return whole(jpg[:len(jpg)/2]) },
		"truncated png":           func() ([]byte, int64) { return whole(png[:len(png)-20]) },
		"truncated bmp":           func() ([]byte, int64) { return whole(bmp[:len(bmp)/2]) },
		"10x10 png":               func() ([]byte, int64) { return whole(card(10, 10).PNG()) },
		"99 px high":              func() ([]byte, int64) { return whole(card(400, 99).JPEG()) },
		"too large":               func() ([]byte, int64) { return whole(jpg) },
	}
	for _, tt := range tests {
		if in, ok := inputs[tt.name]; ok {
			tt.head, tt.size = in()
		}
		if tt.limit == 0 {
			tt.limit = testMaxImage
		}
		if got := errcode.ErrorCode(CheckImage(tt.head, tt.size, tt.limit)); got != tt.want {
			t.Errorf("%s: %q, want %q (%v)", tt.name, got, tt.want, CheckImage(tt.head, tt.size, tt.limit))
		}
	}
}

func BenchmarkSubmitNormalize(b *testing.B) {
	read := &IDCardRead{Side: Front, Card: IDCard{Name: "某某", Sex: "男", Nation: "汉", IDNumber: "11010519491231002X", Address: "某省某市某区某路1号"},
		Fields: cardcheck.IDCardFields{IDNumber: "11010519491231002X", Birth: "19491231", Sex: "男"}, Warnings: []cardcheck.Warning{cardcheck.WarnPhotocopy}}
	p := &stub{name: "webank", limits: Limits{IDCardImage: testMaxImage}, idcard: func(string, IDCardCall) (*IDCardRead, error) { return read, nil }}
	s := &Service{Providers: ProvidersOf(p), Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }}
	img := emulator.CardSpec{Kind: emulator.KindIDCard, Side: emulator.SideFront, Seed: 1}.JPEG()
	req := IDCardRequest{Side: Front, Image: BytesImage(img), OrderNo: "o1"}
	b.ReportAllocs()
	for b.Loop() {
		r, err := s.SubmitIDCard(context.Background(), req)
		if err != nil || !*r.Checks.IDNumberValid || len(r.Warnings) != 1 {
			b.Fatal(err)
		}
	}
}

// A photo passes through as received: its base64 is a slice of the answer
// when the string has no escapes, decoded when it has ("\/" is legal JSON
// for "/"), and it marshals as the same JSON string.
func TestPhoto(t *testing.T) {
	raw := []byte(`"/9j/4AAQ"`)
	b, err := Photo(raw).Base64()
	if err != nil || string(b) != "/9j/4AAQ" || &b[0] != &raw[1] {
		t.Errorf("plain: %q %v (copied: %v)", b, err, err == nil && &b[0] != &raw[1])
	}
	if b, err := Photo(`"\/9j\/4AAQ"`).Base64(); err != nil || string(b) != "/9j/4AAQ" {
		t.Errorf("escaped: %q %v", b, err)
	}
	if _, err := Photo(`12`).Base64(); err == nil {
		t.Error("a number accepted as a photo")
	}
	out, err := json.Marshal(map[string]Photo{"frontPhoto": Photo(raw)})
	if err != nil || string(out) != `{"frontPhoto":"/9j/4AAQ"}` {
		t.Errorf("marshal: %s %v", out, err)
	}
	var back map[string]Photo
	if err := json.Unmarshal(out, &back); err != nil || string(back["frontPhoto"]) != string(raw) {
		t.Errorf("unmarshal: %q %v", back["frontPhoto"], err)
	}
}
