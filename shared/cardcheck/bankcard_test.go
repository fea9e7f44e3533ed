package cardcheck_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
)

func TestLuhn(t *testing.T) {
	union := luhnComplete("621700000000123456") // 19 digits, UnionPay-style
	tests := []struct {
		in   string
		want bool
	}{
		{"79927398713", true},
		{"79927398710", false},
		{"4111111111111111", true},
		{"4111 1111 1111 1111", true},
		{"4111-1111-1111-1111", true},
		{"4111111111111112", false},
		{union, true},
		{"00", true},
		{"0", false},
		{"", false},
		{"4111a11111111111", false},
		{"４１１１", false},
	}
	for _, tt := range tests {
		if got := cardcheck.Luhn(tt.in); got != tt.want {
			t.Errorf("Luhn(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func flipLast(s string) string {
	c := s[len(s)-1]
	if c == '9' {
		c = '0'
	} else {
		c++
	}
	return s[:len(s)-1] + string(c)
}

func TestCheckBankCard(t *testing.T) {
	now := at(2025, time.June, 15, 12, 0)
	union := luhnComplete("621700000000123456")
	unionBad := flipLast(union)
	visa := luhnComplete("411111111111111")
	visaBad := flipLast(visa)
	tests := []struct {
		name      string
		number    string
		validThru string
		luhn      bool
		expired   *bool
		warnings  []string
	}{
		{"good unionpay", union, "12/2030", true, bp(false), nil},
		{"unionpay luhn exemption", unionBad, "12/2030", true, bp(false), []string{"luhn_failed_unionpay"}},
		{"unionpay with spaces", "6217 0000 0000 1234 56" + union[18:], "", true, nil, nil},
		{"good other", visa, "06/25", true, bp(false), nil},
		{"other luhn failure", visaBad, "05/2025", false, bp(true), []string{"luhn_failed"}},
		{"too short", "62170000", "", false, nil, []string{"card_number_invalid"}},
		{"letters", "6217000000001234O", "", false, nil, []string{"card_number_invalid"}},
		{"empty", "", "", false, nil, []string{"card_number_invalid"}},
		{"unparseable date", union, "soon", true, nil, []string{"valid_thru_unrecognized"}},
		{"both bad", visaBad, "13/2030", false, nil, []string{"luhn_failed", "valid_thru_unrecognized"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ws := cardcheck.CheckBankCard(tt.number, tt.validThru, now)
			if c.LuhnValid != tt.luhn {
				t.Errorf("LuhnValid = %v, want %v", c.LuhnValid, tt.luhn)
			}
			if !eqBoolPtr(c.Expired, tt.expired) {
				t.Errorf("Expired = %s, want %s", fmtBoolPtr(c.Expired), fmtBoolPtr(tt.expired))
			}
			if !reflect.DeepEqual(codes(ws), tt.warnings) {
				t.Errorf("warnings = %v, want %v", codes(ws), tt.warnings)
			}
		})
	}
}

func TestParseValidThru(t *testing.T) {
	tests := []struct {
		in          string
		month, year int
		norm        string
	}{
		{"12/2024", 12, 2024, "12/2024"},
		{"12/24", 12, 2024, "12/2024"},
		{"2024/12", 12, 2024, "12/2024"},
		{"2024-12", 12, 2024, "12/2024"},
		{"12-2024", 12, 2024, "12/2024"},
		{"01/30", 1, 2030, "01/2030"},
		{"1/30", 1, 2030, "01/2030"},
		{"2030/1", 1, 2030, "01/2030"},
		{" 09/2027 ", 9, 2027, "09/2027"},
		{"2027.09", 9, 2027, "09/2027"},
		{"13/2024", 0, 0, ""},
		{"00/2024", 0, 0, ""},
		{"12/204", 0, 0, ""},
		{"122024", 0, 0, ""},
		{"12/2024/01", 0, 0, ""},
		{"ab/cd", 0, 0, ""},
		{"12/1900", 0, 0, ""},
		{"", 0, 0, ""},
		{"/", 0, 0, ""},
	}
	for _, tt := range tests {
		m, y, err := cardcheck.ParseValidThru(tt.in)
		if (err == nil) != (tt.norm != "") || m != tt.month || y != tt.year {
			t.Errorf("ParseValidThru(%q) = %d, %d, %v; want %d, %d", tt.in, m, y, err, tt.month, tt.year)
		}
		if n, ok := cardcheck.NormalizeValidThru(tt.in); n != tt.norm || ok != (tt.norm != "") {
			t.Errorf("NormalizeValidThru(%q) = %q, %v", tt.in, n, ok)
		}
	}
}

func TestValidThruExpiredBoundary(t *testing.T) {
	tests := []struct {
		now  time.Time
		want bool
	}{
		{at(2024, time.December, 1, 0, 0), false},
		{time.Date(2024, time.December, 31, 23, 59, 59, 999999999, cst), false},
		{at(2025, time.January, 1, 0, 0), true},
		{time.Date(2024, time.December, 31, 16, 0, 0, 0, time.UTC), true}, // already 2025-01-01 in China
		{time.Date(2024, time.December, 31, 15, 59, 0, 0, time.UTC), false},
		{at(2023, time.December, 31, 0, 0), false},
		{at(2025, time.June, 1, 0, 0), true},
	}
	for _, tt := range tests {
		if got := cardcheck.ValidThruExpired(12, 2024, tt.now); got != tt.want {
			t.Errorf("ValidThruExpired(12/2024, %v) = %v, want %v", tt.now, got, tt.want)
		}
		c, _ := cardcheck.CheckBankCard(luhnComplete("621700000000123456"), "12/24", tt.now)
		if c.Expired == nil || *c.Expired != tt.want {
			t.Errorf("CheckBankCard expired at %v = %s, want %v", tt.now, fmtBoolPtr(c.Expired), tt.want)
		}
	}
}
