package cardcheck

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// chinaTime is the zone of the dates printed on Chinese cards (no DST, so a
// fixed zone avoids depending on tzdata in minimal containers).
var chinaTime = time.FixedZone("UTC+8", 8*60*60)

// LongTerm is Validity.To for cards valid without an end date (长期).
const LongTerm = "long-term"

// Errors of ParseValidity.
var (
	ErrValidityFormat = errors.New("cardcheck: unrecognized validity period")
	ErrValidityOrder  = errors.New("cardcheck: validity period ends before it starts")
)

// civil is a calendar date.
type civil struct{ y, m, d int }

func (c civil) before(o civil) bool {
	if c.y != o.y {
		return c.y < o.y
	}
	if c.m != o.m {
		return c.m < o.m
	}
	return c.d < o.d
}

// dateIn returns the calendar date of t in China.
func dateIn(t time.Time) civil {
	y, m, d := t.In(chinaTime).Date()
	return civil{y, int(m), d}
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func validCivil(c civil) bool {
	return c.y >= 1000 && c.y <= 9999 && c.m >= 1 && c.m <= 12 && c.d >= 1 && c.d <= daysIn(c.y, c.m)
}

// format renders c as YYYY-MM-DD.
func (c civil) format() string {
	var b [10]byte
	put4(b[0:4], c.y)
	b[4] = '-'
	put2(b[5:7], c.m)
	b[7] = '-'
	put2(b[8:10], c.d)
	return string(b[:])
}

func put4(b []byte, v int) {
	b[0] = byte('0' + v/1000%10)
	b[1] = byte('0' + v/100%10)
	b[2] = byte('0' + v/10%10)
	b[3] = byte('0' + v%10)
}

func put2(b []byte, v int) {
	b[0] = byte('0' + v/10%10)
	b[1] = byte('0' + v%10)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits reads n ASCII digits at the start of s.
func digits(s string, n int) (int, bool) {
	if len(s) < n {
		return 0, false
	}
	v := 0
	for i := 0; i < n; i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

// digits12 reads one or two ASCII digits at the start of s and returns the
// value and how many bytes it used.
func digits12(s string) (int, int) {
	if len(s) == 0 || !isDigit(s[0]) {
		return 0, 0
	}
	if len(s) >= 2 && isDigit(s[1]) {
		return int(s[0]-'0')*10 + int(s[1]-'0'), 2
	}
	return int(s[0] - '0'), 1
}

// parseDate reads a whole date: "19881001", "1988-10-01", "1988.10.01",
// "1988/10/01", "1988-1-1", "1988年10月1日" (日 optional). Surrounding space
// is ignored.
func parseDate(s string) (civil, bool) {
	s = strings.TrimSpace(s)
	y, ok := digits(s, 4)
	if !ok {
		return civil{}, false
	}
	var c civil
	if len(s) == 8 && isDigit(s[4]) {
		m, ok1 := digits(s[4:], 2)
		d, ok2 := digits(s[6:], 2)
		if !ok1 || !ok2 {
			return civil{}, false
		}
		c = civil{y, m, d}
	} else {
		rest := s[4:]
		var sep1, sep2 string
		switch {
		case strings.HasPrefix(rest, "年"):
			sep1, sep2 = "年", "月"
		case len(rest) > 0 && (rest[0] == '-' || rest[0] == '.' || rest[0] == '/'):
			sep1 = rest[:1]
			sep2 = sep1
		default:
			return civil{}, false
		}
		rest = rest[len(sep1):]
		m, n := digits12(rest)
		if n == 0 || !strings.HasPrefix(rest[n:], sep2) {
			return civil{}, false
		}
		rest = rest[n+len(sep2):]
		d, n := digits12(rest)
		if n == 0 {
			return civil{}, false
		}
		rest = rest[n:]
		if sep1 == "年" {
			rest = strings.TrimPrefix(rest, "日")
		}
		if rest != "" {
			return civil{}, false
		}
		c = civil{y, m, d}
	}
	if !validCivil(c) {
		return civil{}, false
	}
	return c, true
}

// NormalizeDate turns a date as OCR sends it ("19881001", "1988-10-01",
// "1988.10.01", "1988/10/01", "1988年10月1日") into "YYYY-MM-DD". It reports
// false for anything else, including dates that do not exist (1900-02-29).
func NormalizeDate(s string) (string, bool) {
	c, ok := parseDate(s)
	if !ok {
		return "", false
	}
	if t := strings.TrimSpace(s); len(t) == 10 && t[4] == '-' && t[7] == '-' {
		return t, true // already canonical: no allocation
	}
	return c.format(), true
}

// Validity is the validity period printed on the back of an ID card.
// From is YYYY-MM-DD; To is YYYY-MM-DD or LongTerm.
type Validity struct {
	From string `json:"validFrom"`
	To   string `json:"validTo"`
}

// isLongTerm reports whether s is the "no end date" sentinel.
func isLongTerm(s string) bool {
	switch strings.TrimSpace(s) {
	case "长期", "长期有效", LongTerm:
		return true
	}
	return false
}

// splitValidity finds the separator between the two dates of a validity
// period and parses both sides. to.y == 0 means long-term.
func splitValidity(s string) (from, to civil, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) > 64 {
		return civil{}, civil{}, false
	}
	for i := 0; i < len(s); i++ {
		var w int
		switch {
		case s[i] == '-' || s[i] == '~':
			w = 1
		case strings.HasPrefix(s[i:], "至"), strings.HasPrefix(s[i:], "～"),
			strings.HasPrefix(s[i:], "—"), strings.HasPrefix(s[i:], "–"):
			_, w = utf8.DecodeRuneInString(s[i:])
		default:
			continue
		}
		f, okf := parseDate(s[:i])
		if !okf {
			continue
		}
		right := s[i+w:]
		if isLongTerm(right) {
			return f, civil{}, true
		}
		if t, okt := parseDate(right); okt {
			return f, t, true
		}
	}
	return civil{}, civil{}, false
}

// ParseValidity parses a validity period as the providers send it:
// "20190128-20390128", "2019.01.28-2039.01.28", "20190128-长期",
// "2019.01.28-长期" (also "-", "~", "至" separators and dashed dates).
func ParseValidity(s string) (Validity, error) {
	from, to, ok := splitValidity(s)
	if !ok {
		return Validity{}, ErrValidityFormat
	}
	if to.y == 0 {
		return Validity{From: from.format(), To: LongTerm}, nil
	}
	if to.before(from) {
		return Validity{}, ErrValidityOrder
	}
	return Validity{From: from.format(), To: to.format()}, nil
}

// Expired reports whether the period is over at now. A card is valid through
// the whole of its end date (China time); a long-term card never expires. A
// Validity whose To is not a date reports false.
func (v Validity) Expired(now time.Time) bool {
	if isLongTerm(v.To) {
		return false
	}
	to, ok := parseDate(v.To)
	if !ok {
		return false
	}
	return to.before(dateIn(now))
}
