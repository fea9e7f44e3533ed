package cardcheck_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
)

func TestNormalizeDate(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" = not ok
	}{
		{"19881001", "1988-10-01"},
		{"1988-10-01", "1988-10-01"},
		{" 1988-10-01 ", "1988-10-01"},
		{"1988年10月1日", "1988-10-01"},
		{"1988年10月01日", "1988-10-01"},
		{"1988年1月1", "1988-01-01"},
		{"1988.10.01", "1988-10-01"},
		{"1988/10/01", "1988-10-01"},
		{"1988-1-1", "1988-01-01"},
		{"20000229", "2000-02-29"},
		{"2000年2月29日", "2000-02-29"},
		{"19000229", ""},
		{"1900-02-29", ""},
		{"19881301", ""},
		{"19881000", ""},
		{"19880431", ""},
		{"1988-10/01", ""},
		{"1988年10-01", ""},
		{"1988-10-01日", ""},
		{"1988-100-1", ""},
		{"1988101", ""},
		{"198810011", ""},
		{"0000-01-01", ""},
		{"", ""},
		{"长期", ""},
		{"1988-10-", ""},
		{"1988--10-01", ""},
	}
	for _, tt := range tests {
		got, ok := cardcheck.NormalizeDate(tt.in)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("NormalizeDate(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestParseValidity(t *testing.T) {
	tests := []struct {
		in       string
		from, to string
		err      error
	}{
		{"20190128-20390128", "2019-01-28", "2039-01-28", nil},
		{"2019.01.28-2039.01.28", "2019-01-28", "2039-01-28", nil},
		{"20190128-长期", "2019-01-28", cardcheck.LongTerm, nil},
		{"2019.01.28-长期", "2019-01-28", cardcheck.LongTerm, nil},
		{"2019.01.28 - 长期", "2019-01-28", cardcheck.LongTerm, nil},
		{"2019.01.28-长期有效", "2019-01-28", cardcheck.LongTerm, nil},
		{"2019-01-28-2039-01-28", "2019-01-28", "2039-01-28", nil},
		{"2019-01-28~2039-01-28", "2019-01-28", "2039-01-28", nil},
		{"2019.01.28至2039.01.28", "2019-01-28", "2039-01-28", nil},
		{"2019.01.28—2039.01.28", "2019-01-28", "2039-01-28", nil},
		{" 20160725-20260725 ", "2016-07-25", "2026-07-25", nil},
		{"20190128-20190128", "2019-01-28", "2019-01-28", nil},
		{"20390128-20190128", "", "", cardcheck.ErrValidityOrder},
		{"20190128-", "", "", cardcheck.ErrValidityFormat},
		{"-20390128", "", "", cardcheck.ErrValidityFormat},
		{"长期", "", "", cardcheck.ErrValidityFormat},
		{"20190128", "", "", cardcheck.ErrValidityFormat},
		{"20190229-20390229", "", "", cardcheck.ErrValidityFormat},
		{"20190128_20390128", "", "", cardcheck.ErrValidityFormat},
		{"", "", "", cardcheck.ErrValidityFormat},
	}
	for _, tt := range tests {
		v, err := cardcheck.ParseValidity(tt.in)
		if !errors.Is(err, tt.err) {
			t.Errorf("ParseValidity(%q) err = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if v.From != tt.from || v.To != tt.to {
			t.Errorf("ParseValidity(%q) = %+v, want %s..%s", tt.in, v, tt.from, tt.to)
		}
	}
}

func TestValidityExpired(t *testing.T) {
	v := cardcheck.Validity{From: "2019-01-28", To: "2039-01-28"}
	lt := cardcheck.Validity{From: "2019-01-28", To: cardcheck.LongTerm}
	tests := []struct {
		name string
		v    cardcheck.Validity
		now  time.Time
		want bool
	}{
		{"day before end", v, at(2039, time.January, 27, 12, 0), false},
		{"start of end day", v, at(2039, time.January, 28, 0, 0), false},
		{"last minute of end day", v, time.Date(2039, time.January, 28, 23, 59, 59, 999999999, cst), false},
		{"first instant after end day", v, at(2039, time.January, 29, 0, 0), true},
		{"end day in China while still 27th in UTC", v, time.Date(2039, time.January, 27, 20, 0, 0, 0, time.UTC), false},
		{"29th in China while 28th in UTC", v, time.Date(2039, time.January, 28, 16, 0, 0, 0, time.UTC), true},
		{"years later", v, at(2050, time.January, 1, 0, 0), true},
		{"long-term now", lt, at(2025, time.June, 1, 0, 0), false},
		{"long-term far future", lt, at(9999, time.December, 31, 23, 59), false},
		{"garbage To", cardcheck.Validity{To: "soon"}, at(2025, time.June, 1, 0, 0), false},
	}
	for _, tt := range tests {
		if got := tt.v.Expired(tt.now); got != tt.want {
			t.Errorf("%s: Expired = %v, want %v", tt.name, got, tt.want)
		}
	}
}
