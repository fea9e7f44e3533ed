package cardcheck

import (
	"errors"
	"strings"
	"time"
)

// ErrValidThruFormat is returned by ParseValidThru.
var ErrValidThruFormat = errors.New("cardcheck: unrecognized card valid-thru date")

// Warnings of CheckBankCard.
var (
	WarnLuhnFailedUnionPay = Warning{Code: "luhn_failed_unionpay", Message: "UnionPay card number fails the Luhn check (allowed for UnionPay)"}
	WarnLuhnFailed         = Warning{Code: "luhn_failed", Message: "card number fails the Luhn check"}
	WarnCardNumberInvalid  = Warning{Code: "card_number_invalid", Message: "card number is not 12 to 19 digits"}
	WarnValidThruInvalid   = Warning{Code: "valid_thru_unrecognized", Message: "card valid-thru date not recognized"}
)

// BankCardChecks is the "checks" object of the bank card API.
type BankCardChecks struct {
	// LuhnValid is false when the number cannot be a card number: not 12–19
	// digits, or a failed Luhn check on a card that is not UnionPay.
	// UnionPay (62…) numbers are exempt from Luhn: a failure there leaves
	// LuhnValid true and adds the warning luhn_failed_unionpay.
	LuhnValid bool `json:"luhnValid"`
	// Expired: nil (omitted) when no valid-thru date was read or understood.
	Expired *bool `json:"expired,omitempty"`
}

// Luhn reports whether number passes the Luhn (mod 10) check. Spaces and
// hyphens between digits are ignored; any other character, or fewer than
// two digits, fails.
func Luhn(number string) bool {
	sum, n := 0, 0
	for i := len(number) - 1; i >= 0; i-- {
		c := number[i]
		if c == ' ' || c == '-' {
			continue
		}
		if !isDigit(c) {
			return false
		}
		d := int(c - '0')
		if n%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		n++
	}
	return n >= 2 && sum%10 == 0
}

// NormalizeCardNumber removes spaces and hyphens and reports whether what is
// left is 12 to 19 digits.
func NormalizeCardNumber(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, " -") {
		s = strings.NewReplacer(" ", "", "-", "").Replace(s)
	}
	if len(s) < 12 || len(s) > 19 || !isAllDigits(s) {
		return s, false
	}
	return s, true
}

// CheckBankCard checks a bank card number and its valid-thru date (see
// ParseValidThru) as OCR read them. The warnings are about the number and
// the date only; provider warnings come from DecodeBankWarnings. An empty
// validThru leaves Expired nil.
func CheckBankCard(number, validThru string, now time.Time) (BankCardChecks, []Warning) {
	var c BankCardChecks
	var ws []Warning
	num, ok := NormalizeCardNumber(number)
	switch {
	case !ok:
		ws = append(ws, WarnCardNumberInvalid)
	case Luhn(num):
		c.LuhnValid = true
	case strings.HasPrefix(num, "62"):
		c.LuhnValid = true
		ws = append(ws, WarnLuhnFailedUnionPay)
	default:
		ws = append(ws, WarnLuhnFailed)
	}
	if strings.TrimSpace(validThru) != "" {
		if m, y, err := ParseValidThru(validThru); err == nil {
			e := ValidThruExpired(m, y, now)
			c.Expired = &e
		} else {
			ws = append(ws, WarnValidThruInvalid)
		}
	}
	return c, ws
}

// ParseValidThru parses a card's valid-thru date: "12/2024", "12/24",
// "2024/12", "2024-12", "12-2024" (also "." as separator, surrounding space
// ignored). Two-digit years are 20YY.
func ParseValidThru(s string) (month, year int, err error) {
	s = strings.TrimSpace(s)
	sep := strings.IndexAny(s, "/-.")
	if sep < 0 {
		return 0, 0, ErrValidThruFormat
	}
	a, b := s[:sep], s[sep+1:]
	switch {
	case len(a) == 4 && (len(b) == 1 || len(b) == 2): // YYYY/MM
		a, b = b, a
	case (len(a) == 1 || len(a) == 2) && (len(b) == 2 || len(b) == 4): // MM/YY, MM/YYYY
	default:
		return 0, 0, ErrValidThruFormat
	}
	m, ok1 := digits(a, len(a))
	y, ok2 := digits(b, len(b))
	if !ok1 || !ok2 || m < 1 || m > 12 {
		return 0, 0, ErrValidThruFormat
	}
	if len(b) == 2 {
		y += 2000
	}
	if y < 1950 {
		return 0, 0, ErrValidThruFormat
	}
	return m, y, nil
}

// FormatValidThru renders a valid-thru date as MM/YYYY.
func FormatValidThru(month, year int) string {
	var b [7]byte
	put2(b[0:2], month)
	b[2] = '/'
	put4(b[3:7], year)
	return string(b[:])
}

// NormalizeValidThru turns any form ParseValidThru accepts into MM/YYYY.
func NormalizeValidThru(s string) (string, bool) {
	m, y, err := ParseValidThru(s)
	if err != nil {
		return "", false
	}
	return FormatValidThru(m, y), true
}

// ValidThruExpired reports whether a card valid thru month/year has expired
// at now: it is valid through the last day of that month (China time).
func ValidThruExpired(month, year int, now time.Time) bool {
	t := dateIn(now)
	return t.y > year || (t.y == year && t.m > month)
}
