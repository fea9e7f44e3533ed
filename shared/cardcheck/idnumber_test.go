package cardcheck_test

import (
	"errors"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/cardcheck"
)

func TestSynthIDHelperMatchesStandardExample(t *testing.T) {
	// The worked example printed in GB 11643-1999 itself (a fictitious
	// number): guards the independent check-digit helper.
	if got := synthID(t, "110105", "19491231", "002"); got != "11010519491231002X" {
		t.Fatalf("synthID = %s", got)
	}
}

func findXCheck(t *testing.T, region, birth string) string {
	t.Helper()
	for s := 0; s < 1000; s++ {
		seq := string([]byte{byte('0' + s/100), byte('0' + s/10%10), byte('0' + s%10)})
		if id := synthID(t, region, birth, seq); id[17] == 'X' {
			return id
		}
	}
	t.Fatal("no X check digit found")
	return ""
}

func TestParseIDNumber(t *testing.T) {
	now := at(2025, time.June, 1, 9, 0)
	xID := findXCheck(t, "320102", "19760315")
	lowerX := xID[:17] + "x"
	type want struct {
		err      error
		birth    string
		sex      string
		province bool
	}
	tests := []struct {
		name string
		id   string
		want want
	}{
		{"october birth", synthID(t, "110105", "19881001", "001"), want{nil, "1988-10-01", "男", true}},
		{"october 31", synthID(t, "440305", "19901031", "002"), want{nil, "1990-10-31", "女", true}},
		{"2000s birth", synthID(t, "510104", "20050615", "124"), want{nil, "2005-06-15", "女", true}},
		{"2010s birth", synthID(t, "650102", "20191209", "457"), want{nil, "2019-12-09", "男", true}},
		{"X check digit", xID, want{nil, "1976-03-15", "", true}},
		{"lower x check digit", lowerX, want{nil, "1976-03-15", "", true}},
		{"leap day 2000", synthID(t, "310101", "20000229", "011"), want{nil, "2000-02-29", "男", true}},
		{"leap day 1996", synthID(t, "310101", "19960229", "018"), want{nil, "1996-02-29", "女", true}},
		{"1900 not leap", synthID(t, "310101", "19000229", "011"), want{err: cardcheck.ErrIDNumberBirthDate}},
		{"2001 not leap", synthID(t, "310101", "20010229", "011"), want{err: cardcheck.ErrIDNumberBirthDate}},
		{"month 13", synthID(t, "310101", "19881301", "011"), want{err: cardcheck.ErrIDNumberBirthDate}},
		{"month 00", synthID(t, "310101", "19880001", "011"), want{err: cardcheck.ErrIDNumberBirthDate}},
		{"day 00", synthID(t, "310101", "19880100", "011"), want{err: cardcheck.ErrIDNumberBirthDate}},
		{"april 31", synthID(t, "310101", "19880431", "011"), want{err: cardcheck.ErrIDNumberBirthDate}},
		{"1850 ok", synthID(t, "310101", "18500101", "011"), want{nil, "1850-01-01", "男", true}},
		{"before 1850", synthID(t, "310101", "18491231", "011"), want{err: cardcheck.ErrIDNumberBirthDate}},
		{"born today (China)", synthID(t, "310101", "20250601", "011"), want{nil, "2025-06-01", "男", true}},
		{"born tomorrow", synthID(t, "310101", "20250602", "011"), want{err: cardcheck.ErrIDNumberBirthDate}},
		{"unknown province accepted", synthID(t, "990101", "19881001", "001"), want{nil, "1988-10-01", "男", false}},
		{"retired county code accepted", synthID(t, "110103", "19700101", "004"), want{nil, "1970-01-01", "女", true}},
		{"permit 83", synthID(t, "830000", "19950505", "005"), want{nil, "1995-05-05", "男", true}},
		{"wrong check digit", breakCheck(synthID(t, "110105", "19881001", "001")), want{err: cardcheck.ErrIDNumberChecksum}},
		{"1-7 confusion", "110105" + "19881001" + "007" + synthID(t, "110105", "19881001", "001")[17:], want{err: cardcheck.ErrIDNumberChecksum}},
		{"legacy 15 digits", "110105881001001", want{err: cardcheck.ErrIDNumberLegacy}},
		{"empty", "", want{err: cardcheck.ErrIDNumberLength}},
		{"17 digits", "11010519881001001", want{err: cardcheck.ErrIDNumberLength}},
		{"19 digits", "1101051988100100111", want{err: cardcheck.ErrIDNumberLength}},
		{"letter inside", "11010519881O01001X", want{err: cardcheck.ErrIDNumberFormat}},
		{"bad last char", "11010519881001001Y", want{err: cardcheck.ErrIDNumberFormat}},
		{"X inside", "1101051988100100X1", want{err: cardcheck.ErrIDNumberFormat}},
		{"multibyte", "１１０１０５１９８８", want{err: cardcheck.ErrIDNumberLength}},
		{"space padded", " " + synthID(t, "110105", "19881001", "001")[1:], want{err: cardcheck.ErrIDNumberFormat}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := cardcheck.ParseIDNumberAt(tt.id, now)
			if !errors.Is(err, tt.want.err) {
				t.Fatalf("err = %v, want %v", err, tt.want.err)
			}
			if err != nil {
				if info != (cardcheck.IDNumberInfo{}) {
					t.Errorf("info not zero on error: %+v", info)
				}
				return
			}
			if got := info.BirthDate(); got != tt.want.birth {
				t.Errorf("birth = %s, want %s", got, tt.want.birth)
			}
			if info.Birth.Location() != time.UTC || info.Birth.Hour() != 0 {
				t.Errorf("birth not midnight UTC: %v", info.Birth)
			}
			if tt.want.sex != "" && info.Sex != tt.want.sex {
				t.Errorf("sex = %s, want %s", info.Sex, tt.want.sex)
			}
			if info.Region != tt.id[:6] {
				t.Errorf("region = %s", info.Region)
			}
			if info.ProvinceKnown != tt.want.province {
				t.Errorf("provinceKnown = %v", info.ProvinceKnown)
			}
		})
	}
}

func TestParseIDNumberSexParity(t *testing.T) {
	for d := 0; d <= 9; d++ {
		id := synthID(t, "110105", "19881001", "01"+string(rune('0'+d)))
		info, err := cardcheck.ParseIDNumber(id)
		if err != nil {
			t.Fatal(err)
		}
		want := "女"
		if d%2 == 1 {
			want = "男"
		}
		if info.Sex != want {
			t.Errorf("17th digit %d: sex %s, want %s", d, info.Sex, want)
		}
	}
}

func TestValidIDNumberUsesToday(t *testing.T) {
	if !cardcheck.ValidIDNumber(synthID(t, "110105", "19881001", "001")) {
		t.Error("valid number rejected")
	}
	if cardcheck.ValidIDNumber(synthID(t, "110105", "29990101", "001")) {
		t.Error("birth in 2999 accepted")
	}
	if cardcheck.ValidIDNumber("110105881001001") {
		t.Error("15-digit number accepted")
	}
}

func TestIDCheckDigit(t *testing.T) {
	if got := cardcheck.IDCheckDigit("11010519491231002"); got != 'X' {
		t.Errorf("got %c", got)
	}
	for _, s := range []string{"", "1101051949123100", "1101051949123100a"} {
		if got := cardcheck.IDCheckDigit(s); got != 0 {
			t.Errorf("IDCheckDigit(%q) = %c, want 0", s, got)
		}
	}
}

func TestIDNumberErrorsDoNotEchoInput(t *testing.T) {
	id := breakCheck(synthID(t, "110105", "19881001", "001"))
	_, err := cardcheck.ParseIDNumber(id)
	if err == nil {
		t.Fatal("no error")
	}
	for _, part := range []string{id, id[:6], id[6:14]} {
		if contains(err.Error(), part) {
			t.Errorf("error %q contains %q", err, part)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
