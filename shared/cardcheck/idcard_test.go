package cardcheck_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
)

func TestCheckIDCard(t *testing.T) {
	now := at(2025, time.June, 1, 10, 0)
	male := synthID(t, "110105", "19881001", "001")   // 男, 1988-10-01
	female := synthID(t, "440305", "20000229", "002") // 女, 2000-02-29
	type want struct{ valid, birth, sex, expired *bool }
	tests := []struct {
		name  string
		in    cardcheck.IDCardFields
		want  want
		hints []string
	}{
		{"front, all match (compact birth)",
			cardcheck.IDCardFields{IDNumber: male, Birth: "19881001", Sex: "男"},
			want{bp(true), bp(true), bp(true), nil}, nil},
		{"front, dashed birth, english sex",
			cardcheck.IDCardFields{IDNumber: male, Birth: "1988-10-01", Sex: "Male"},
			want{bp(true), bp(true), bp(true), nil}, nil},
		{"front, chinese birth, leap day",
			cardcheck.IDCardFields{IDNumber: female, Birth: "2000年2月29日", Sex: "female"},
			want{bp(true), bp(true), bp(true), nil}, nil},
		{"front, birth mismatch",
			cardcheck.IDCardFields{IDNumber: male, Birth: "19881007", Sex: "男"},
			want{bp(true), bp(false), bp(true), nil}, nil},
		{"front, sex mismatch",
			cardcheck.IDCardFields{IDNumber: male, Birth: "19881001", Sex: "女"},
			want{bp(true), bp(true), bp(false), nil}, nil},
		{"front, unreadable birth and sex",
			cardcheck.IDCardFields{IDNumber: male, Birth: "1988?10", Sex: "unknown"},
			want{bp(true), bp(false), bp(false), nil}, nil},
		{"front, no birth, no sex",
			cardcheck.IDCardFields{IDNumber: male},
			want{bp(true), nil, nil, nil}, nil},
		{"front, invalid number: nothing to compare",
			cardcheck.IDCardFields{IDNumber: breakCheck(male), Birth: "19881001", Sex: "男"},
			want{bp(false), nil, nil, nil}, nil},
		{"front, padded number",
			cardcheck.IDCardFields{IDNumber: " " + male + "\n", Birth: "19881001", Sex: " 男 "},
			want{bp(true), bp(true), bp(true), nil}, nil},
		{"front, unknown province hint",
			cardcheck.IDCardFields{IDNumber: synthID(t, "990101", "19881001", "001"), Birth: "19881001", Sex: "男"},
			want{bp(true), bp(true), bp(true), nil}, []string{"id_region_unknown"}},
		{"back, valid",
			cardcheck.IDCardFields{ValidDate: "20190128-20390128"},
			want{nil, nil, nil, bp(false)}, nil},
		{"back, expired yesterday",
			cardcheck.IDCardFields{ValidDate: "2015.05.31-2025.05.31"},
			want{nil, nil, nil, bp(true)}, nil},
		{"back, ends today",
			cardcheck.IDCardFields{ValidDate: "20150601-20250601"},
			want{nil, nil, nil, bp(false)}, nil},
		{"back, long-term",
			cardcheck.IDCardFields{ValidDate: "2005.01.28-长期"},
			want{nil, nil, nil, bp(false)}, nil},
		{"back, unparseable",
			cardcheck.IDCardFields{ValidDate: "2019.01.28-"},
			want{nil, nil, nil, nil}, []string{"validity_unrecognized"}},
		{"back, reversed",
			cardcheck.IDCardFields{ValidDate: "20390128-20190128"},
			want{nil, nil, nil, nil}, []string{"validity_unrecognized"}},
		{"both sides",
			cardcheck.IDCardFields{IDNumber: male, Birth: "19881001", Sex: "男", ValidDate: "20190128-长期"},
			want{bp(true), bp(true), bp(true), bp(false)}, nil},
		{"nothing", cardcheck.IDCardFields{}, want{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cardcheck.CheckIDCard(tt.in, now)
			for _, f := range []struct {
				name      string
				got, want *bool
			}{
				{"idNumberValid", c.IDNumberValid, tt.want.valid},
				{"birthDateMatches", c.BirthDateMatches, tt.want.birth},
				{"sexMatches", c.SexMatches, tt.want.sex},
				{"expired", c.Expired, tt.want.expired},
			} {
				if !eqBoolPtr(f.got, f.want) {
					t.Errorf("%s = %s, want %s", f.name, fmtBoolPtr(f.got), fmtBoolPtr(f.want))
				}
			}
			if len(c.Hints) != len(tt.hints) {
				t.Fatalf("hints = %v, want %v", c.Hints, tt.hints)
			}
			for i, h := range tt.hints {
				if c.Hints[i].Code != h {
					t.Errorf("hint %d = %s, want %s", i, c.Hints[i].Code, h)
				}
			}
		})
	}
}

func TestIDCardChecksJSON(t *testing.T) {
	now := at(2025, time.June, 1, 10, 0)
	front := cardcheck.CheckIDCard(cardcheck.IDCardFields{
		IDNumber: synthID(t, "990101", "19881001", "001"), Birth: "19881001", Sex: "男",
	}, now)
	back := cardcheck.CheckIDCard(cardcheck.IDCardFields{ValidDate: "20190128-长期"}, now)
	for _, tt := range []struct {
		c    cardcheck.IDCardChecks
		want string
	}{
		{front, `{"idNumberValid":true,"birthDateMatches":true,"sexMatches":true}`},
		{back, `{"expired":false}`},
		{cardcheck.IDCardChecks{}, `{}`},
	} {
		b, err := json.Marshal(tt.c)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("json = %s, want %s", b, tt.want)
		}
	}
}

func TestNormalizeSex(t *testing.T) {
	for in, want := range map[string]string{
		"男": "男", "女": "女", "male": "男", "MALE": "男", "Female": "女", "m": "男", "F": "女", " 女 ": "女",
		"": "", "x": "", "男性": "", "unknown": "",
	} {
		got, ok := cardcheck.NormalizeSex(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeSex(%q) = %q, %v", in, got, ok)
		}
	}
}
