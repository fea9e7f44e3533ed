package emulator

import (
	"bytes"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestIDCheckDigit(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"11010519491231002X", true}, // the GB 11643 example
		{"110105194912310021", false},
		{"440524188001010014", true},
		{"11010519491231002x", false}, // upper-case X only
		{"110105194902300022", false}, // 30 February
		{"1101051949123100", false},
	}
	for _, tt := range tests {
		if got := validIDNumber(tt.id); got != tt.want {
			t.Errorf("validIDNumber(%s) = %v, want %v", tt.id, got, tt.want)
		}
	}
	if IDCheckDigit("11010519491231002") != 'X' {
		t.Errorf("check digit of the GB 11643 example")
	}
}

func TestPersonIsConsistent(t *testing.T) {
	sexes := map[string]int{}
	xs := 0
	for seed := int64(-50); seed < 3000; seed++ {
		p := Person(seed)
		if p != Person(seed) {
			t.Fatalf("seed %d: not deterministic", seed)
		}
		id := p.IDNumber
		if !validIDNumber(id) {
			t.Fatalf("seed %d: invalid ID %s", seed, id)
		}
		if id[17] == 'X' {
			xs++
		}
		if _, ok := regionByCode(id[:6]); !ok {
			t.Fatalf("seed %d: unknown region %s", seed, id[:6])
		}
		if id[6:14] != p.Birth {
			t.Fatalf("seed %d: birth %s vs ID %s", seed, p.Birth, id)
		}
		if _, err := time.Parse("20060102", p.Birth); err != nil {
			t.Fatalf("seed %d: birth %s", seed, p.Birth)
		}
		male := (id[16]-'0')%2 == 1
		if (p.Sex == "男") != male || (p.Sex != "男" && p.Sex != "女") {
			t.Fatalf("seed %d: sex %s vs ID %s", seed, p.Sex, id)
		}
		sexes[p.Sex]++
		if utf8.RuneCountInString(p.Name) < 2 || p.Nation == "" || p.Authority == "" || !strings.HasPrefix(p.Address, p.NativePlace) {
			t.Fatalf("seed %d: %+v", seed, p)
		}
		from, err := time.Parse("20060102", p.ValidFrom)
		if err != nil {
			t.Fatalf("seed %d: ValidFrom %s", seed, p.ValidFrom)
		}
		if p.ValidTo != LongTerm {
			to, err := time.Parse("20060102", p.ValidTo)
			if err != nil || to.Year() < 2030 || !to.After(from) {
				t.Fatalf("seed %d: ValidTo %s", seed, p.ValidTo)
			}
		}
	}
	if sexes["男"] < 1000 || sexes["女"] < 1000 || xs == 0 {
		t.Errorf("distribution: %v, %d with X", sexes, xs)
	}
}

func TestBankCardNumbers(t *testing.T) {
	lengths := map[int]int{}
	unionPay := 0
	for seed := int64(0); seed < 2000; seed++ {
		d := BankCard(seed)
		if d != BankCard(seed) {
			t.Fatalf("seed %d: not deterministic", seed)
		}
		if !LuhnValid(d.Number) || len(d.Number) < 16 || len(d.Number) > 19 {
			t.Fatalf("seed %d: %s", seed, d.Number)
		}
		if LuhnValid(breakLuhn(d.Number)) {
			t.Fatalf("seed %d: breakLuhn", seed)
		}
		if _, err := time.Parse("01/2006", d.ValidThru); err != nil {
			t.Fatalf("seed %d: ValidThru %s", seed, d.ValidThru)
		}
		lengths[len(d.Number)]++
		if strings.HasPrefix(d.Number, "62") {
			unionPay++
		}
	}
	for l := 16; l <= 19; l++ {
		if lengths[l] == 0 {
			t.Errorf("no %d-digit numbers: %v", l, lengths)
		}
	}
	if unionPay < 500 {
		t.Errorf("only %d numbers start with 62", unionPay)
	}
	if !LuhnValid("4111111111111111") || !LuhnValid("79927398713") || LuhnValid("79927398710") || LuhnValid("7992739871a") {
		t.Errorf("Luhn reference vector")
	}
}

func TestTestImages(t *testing.T) {
	spec := CardSpec{Kind: KindIDCard, Side: SideBack, Seed: -7, Warning: "00000100", ValidFrom: "20200101", ValidTo: LongTerm,
		Clarity: 33, Unreadable: true, Name: "张三", Sex: "女", Birth: "19900101", IDNumber: "11010519491231002X", Code: "-9014",
		Width: 80, Height: 50}
	for name, img := range map[string][]byte{"jpeg": spec.JPEG(), "png": spec.PNG(), "bmp": spec.BMP()} {
		t.Run(name, func(t *testing.T) {
			format, ok, got, has := inspectImage(img)
			if format != name || !ok || !has {
				t.Fatalf("inspect: %q %v %v", format, ok, has)
			}
			want := spec
			want.Width, want.Height = 0, 0
			if got != want {
				t.Errorf("marker round trip:\n got %+v\nwant %+v", got, want)
			}
			if name == "bmp" {
				return
			}
			cfg, f, err := image.DecodeConfig(bytes.NewReader(img))
			if err != nil || f != name || cfg.Width != 80 || cfg.Height != 50 {
				t.Errorf("standard decoder: %v %s %+v", err, f, cfg)
			}
			if _, _, err := image.Decode(bytes.NewReader(img)); err != nil {
				t.Errorf("decode: %v", err)
			}
		})
	}
	if !bytes.Equal(front(1).JPEG(), front(1).JPEG()) {
		t.Error("JPEG not deterministic")
	}
	if n := len(CardSpec{Kind: KindBankCard, Seed: 1, MinSize: 100000}.JPEG()); n != 100000 {
		t.Errorf("MinSize: %d", n)
	}
	padded := CardSpec{Kind: KindBankCard, Seed: 1, MinSize: 5000}
	for _, img := range [][]byte{padded.JPEG(), padded.PNG(), padded.BMP()} {
		if _, ok, _, has := inspectImage(img); !ok || !has {
			t.Errorf("padded image not recognized")
		}
	}
	bad := []struct {
		name string
		spec CardSpec
	}{
		{"unknown kind", CardSpec{Kind: "passport"}},
		{"ID without side", CardSpec{Kind: KindIDCard}},
		{"bad warning", CardSpec{Kind: KindIDCard, Side: SideFront, Warning: "0101"}},
		{"bank side back", CardSpec{Kind: KindBankCard, Side: SideBack}},
		{"bank warning not a code", CardSpec{Kind: KindBankCard, Warning: "x"}},
	}
	for _, b := range bad {
		if _, ok, _, has := inspectImage(b.spec.JPEG()); !ok || has {
			t.Errorf("%s: marker accepted", b.name)
		}
	}
}
