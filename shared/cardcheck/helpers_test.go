package cardcheck_test

import (
	"testing"
	"time"
)

// synthID builds a synthetic 18-character ID number from a region code, a
// birth date (YYYYMMDD) and a three-digit sequence, computing the check
// digit independently of the package (weights 2^(17-i) mod 11).
func synthID(t testing.TB, region, birth, seq string) string {
	t.Helper()
	body := region + birth + seq
	if len(body) != 17 {
		t.Fatalf("synthID: body %q is not 17 digits", body)
	}
	sum := 0
	w := 1
	for i := 16; i >= 0; i-- {
		w = w * 2 % 11
		sum += int(body[i]-'0') * w
	}
	return body + string("10X98765432"[sum%11])
}

// breakCheck returns id with a different (wrong) check character.
func breakCheck(id string) string {
	c := id[17]
	switch c {
	case '9':
		c = 'X'
	case 'X':
		c = '0'
	default:
		c++
	}
	return id[:17] + string(c)
}

// luhnComplete appends the Luhn check digit to a digit string.
func luhnComplete(body string) string {
	sum := 0
	for i := 0; i < len(body); i++ {
		d := int(body[len(body)-1-i] - '0')
		if i%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return body + string(rune('0'+(10-sum%10)%10))
}

// cst is China time for building "now" values.
var cst = time.FixedZone("CST", 8*3600)

func at(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, cst)
}

func bp(b bool) *bool { return &b }

func eqBoolPtr(a, b *bool) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func fmtBoolPtr(p *bool) string {
	if p == nil {
		return "nil"
	}
	if *p {
		return "true"
	}
	return "false"
}
