package cardcheck

import (
	"strings"
	"unicode/utf8"
)

// maskKeep keeps head runes and tail runes of s and stars the rest. When s
// is too short for that to hide anything much (fewer than head+tail+4
// runes), it keeps only the first rune, and for one or two runes nothing.
// It never returns a non-empty s unchanged unless s is all stars.
func maskKeep(s string, head, tail int) string {
	n := utf8.RuneCountInString(s)
	if n == 0 {
		return ""
	}
	if n < head+tail+4 {
		head, tail = 1, 0
		if n <= 2 {
			head = 0
		}
	}
	var b strings.Builder
	b.Grow(len(s))
	i := 0
	for _, r := range s {
		if i < head || i >= n-tail {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
		i++
	}
	return b.String()
}

// MaskIDNumber keeps the first two and last two characters of an ID number
// for logs: "11**************1X". Short or odd input is starred more.
func MaskIDNumber(s string) string {
	return maskKeep(strings.TrimSpace(s), 2, 2)
}

// MaskCardNumber keeps the first four and last four digits of a card number
// (spaces and hyphens dropped): "6222***********1234".
func MaskCardNumber(s string) string {
	if strings.ContainsAny(s, " -") {
		s = strings.NewReplacer(" ", "", "-", "").Replace(s)
	}
	return maskKeep(s, 4, 4)
}

// MaskName keeps the first rune of a name and replaces the rest by one star,
// whatever its length: "张*". A one-rune name becomes "*".
func MaskName(s string) string {
	s = strings.TrimSpace(s)
	r, size := utf8.DecodeRuneInString(s)
	switch {
	case size == 0:
		return ""
	case size == len(s):
		return "*"
	}
	if r == utf8.RuneError {
		return "*"
	}
	return s[:size] + "*"
}
