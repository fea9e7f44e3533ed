package cardcheck_test

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cardocr/cardocr/shared/cardcheck"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; f.Add covers the basics
// so each target also runs meaningfully without them.

var fuzzNow = time.Date(2025, time.June, 1, 12, 0, 0, 0, time.UTC)

func FuzzParseIDNumber(f *testing.F) {
	f.Add("11010519491231002X")
	f.Add("110105881001001")
	f.Fuzz(func(t *testing.T, s string) {
		info, err := cardcheck.ParseIDNumberAt(s, fuzzNow)
		valid := cardcheck.ValidIDNumber(s)
		if err != nil {
			if info != (cardcheck.IDNumberInfo{}) {
				t.Fatalf("non-zero info with error %v", err)
			}
			if strings.Contains(err.Error(), s) && len(s) > 3 {
				t.Fatalf("error echoes input: %v", err)
			}
			// ValidIDNumber uses the real clock, which is later than
			// fuzzNow: it can only accept more (births after fuzzNow).
			if valid && !errors.Is(err, cardcheck.ErrIDNumberBirthDate) {
				t.Fatalf("ValidIDNumber true but ParseIDNumberAt: %v", err)
			}
			return
		}
		if !valid {
			t.Fatal("ParseIDNumberAt ok but ValidIDNumber false")
		}
		if len(s) != 18 || info.Region != s[:6] {
			t.Fatalf("region %q of %q", info.Region, s)
		}
		if info.Sex != cardcheck.Male && info.Sex != cardcheck.Female {
			t.Fatalf("sex %q", info.Sex)
		}
		if info.Birth.Year() < cardcheck.MinBirthYear || info.Birth.After(fuzzNow.Add(24*time.Hour)) {
			t.Fatalf("birth %v out of range", info.Birth)
		}
		if info.BirthDate() != s[6:10]+"-"+s[10:12]+"-"+s[12:14] {
			t.Fatalf("birth %s vs number", info.BirthDate())
		}
		if c := cardcheck.IDCheckDigit(s); c != s[17] && !(c == 'X' && s[17] == 'x') {
			t.Fatalf("check digit %c vs %c", c, s[17])
		}
		checks := cardcheck.CheckIDCard(cardcheck.IDCardFields{IDNumber: s, Birth: s[6:14], Sex: info.Sex}, fuzzNow)
		if checks.IDNumberValid == nil || !*checks.IDNumberValid || !*checks.BirthDateMatches || !*checks.SexMatches {
			t.Fatalf("CheckIDCard disagrees: %+v", checks)
		}
		if m := cardcheck.MaskIDNumber(s); m == s || len(m) != 18 {
			t.Fatalf("mask %q", m)
		}
	})
}

func FuzzParseValidity(f *testing.F) {
	f.Add("20190128-20390128")
	f.Add("2019.01.28-长期")
	f.Fuzz(func(t *testing.T, s string) {
		v, err := cardcheck.ParseValidity(s)
		checks := cardcheck.CheckIDCard(cardcheck.IDCardFields{ValidDate: s}, fuzzNow)
		if err != nil {
			if v != (cardcheck.Validity{}) {
				t.Fatalf("non-zero validity with error: %+v", v)
			}
			if strings.TrimSpace(s) != "" && checks.Expired != nil {
				t.Fatalf("CheckIDCard has expired=%v for unparseable %q", *checks.Expired, s)
			}
			return
		}
		if _, ok := cardcheck.NormalizeDate(v.From); !ok || len(v.From) != 10 {
			t.Fatalf("From %q", v.From)
		}
		if v.To != cardcheck.LongTerm {
			if _, ok := cardcheck.NormalizeDate(v.To); !ok || v.To < v.From {
				t.Fatalf("To %q From %q", v.To, v.From)
			}
		}
		// The normalized form parses back to itself.
		to := v.To
		if to == cardcheck.LongTerm {
			to = "长期"
		}
		v2, err := cardcheck.ParseValidity(v.From + "-" + to)
		if err != nil || v2 != v {
			t.Fatalf("round trip %+v -> %+v, %v", v, v2, err)
		}
		if checks.Expired == nil || *checks.Expired != v.Expired(fuzzNow) {
			t.Fatalf("CheckIDCard expired %v, Validity.Expired %v", checks.Expired, v.Expired(fuzzNow))
		}
	})
}

func FuzzNormalizeDate(f *testing.F) {
	f.Add("19881001")
	f.Add("1988年10月1日")
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := cardcheck.NormalizeDate(s)
		if !ok {
			return
		}
		d2, ok2 := cardcheck.NormalizeDate(d)
		if !ok2 || d2 != d || len(d) != 10 {
			t.Fatalf("%q -> %q -> %q", s, d, d2)
		}
		if _, err := time.Parse("2006-01-02", d); err != nil {
			t.Fatalf("%q: %v", d, err)
		}
	})
}

func checkWarnings(t *testing.T, ws []cardcheck.Warning) {
	t.Helper()
	seen := map[string]bool{}
	for _, w := range ws {
		if w.Code == "" || w.Message == "" {
			t.Fatalf("empty warning %+v", w)
		}
		if seen[w.Code] {
			t.Fatalf("duplicate %s", w.Code)
		}
		seen[w.Code] = true
		if !utf8.ValidString(w.Code) || !utf8.ValidString(w.Message) {
			t.Fatalf("invalid UTF-8 in %+v", w)
		}
	}
	// The only entry built from an undecodable input is the fixed one: the
	// input is never echoed.
	for _, w := range ws {
		if w.Code == cardcheck.WarnUnrecognized.Code && w != cardcheck.WarnUnrecognized {
			t.Fatalf("unrecognized entry is not the fixed one: %+v", w)
		}
	}
}

var idCodes = map[string]bool{
	"border_incomplete": true, "photocopy": true, "invalid_date": true, "recaptured": true,
	"temporary_card": true, "occluded": true, "warning_bit_6": true, "warning_bit_7": true,
	"unrecognized_warning": true,
}

func FuzzDecodeIDWarnings(f *testing.F) {
	f.Add("10010100")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		ws := cardcheck.DecodeIDWarnings(s)
		checkWarnings(t, ws)
		if len(ws) > 8 {
			t.Fatalf("%d warnings", len(ws))
		}
		for _, w := range ws {
			if w.Code == "unrecognized_warning" && len(ws) != 1 {
				t.Fatal("unrecognized_warning not alone")
			}
			if !idCodes[w.Code] {
				t.Fatalf("unexpected code %q", w.Code)
			}
		}
		if m := cardcheck.MergeIDWarnings(s, s); len(m) != len(ws) {
			t.Fatalf("merge of duplicates: %d vs %d", len(m), len(ws))
		}
	})
}

func FuzzDecodeBankWarnings(f *testing.F) {
	f.Add("[-9110,-9111,-9114]")
	f.Add("0")
	f.Fuzz(func(t *testing.T, s string) {
		ws := cardcheck.DecodeBankWarnings(s)
		checkWarnings(t, ws)
		for _, w := range ws {
			if !strings.HasPrefix(w.Code, "bank_warning_") && !idCodes[w.Code] && w.Code != "reflection" && w.Code != "card_expired" {
				t.Fatalf("unexpected code %q", w.Code)
			}
			if strings.HasPrefix(w.Code, "bank_warning_") && len(w.Code) > len("bank_warning_")+21 {
				t.Fatalf("code too long: %s", w.Code)
			}
		}
	})
}

func FuzzParseValidThru(f *testing.F) {
	f.Add("12/2024")
	f.Add("2024-12")
	f.Fuzz(func(t *testing.T, s string) {
		m, y, err := cardcheck.ParseValidThru(s)
		if err != nil {
			if m != 0 || y != 0 {
				t.Fatalf("non-zero with error: %d %d", m, y)
			}
			return
		}
		if m < 1 || m > 12 || y < 1950 || y > 9999 {
			t.Fatalf("out of range %d/%d", m, y)
		}
		norm := cardcheck.FormatValidThru(m, y)
		m2, y2, err := cardcheck.ParseValidThru(norm)
		if err != nil || m2 != m || y2 != y {
			t.Fatalf("round trip %s: %d/%d %v", norm, m2, y2, err)
		}
	})
}
