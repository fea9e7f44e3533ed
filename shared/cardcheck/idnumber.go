package cardcheck

import (
	"errors"
	"time"
)

// Errors of ParseIDNumber. They never contain the number.
var (
	ErrIDNumberLength    = errors.New("cardcheck: ID number is not 18 characters")
	ErrIDNumberLegacy    = errors.New("cardcheck: 15-digit legacy ID numbers are not accepted")
	ErrIDNumberFormat    = errors.New("cardcheck: ID number must be 17 digits and a digit or X")
	ErrIDNumberChecksum  = errors.New("cardcheck: ID number check digit mismatch")
	ErrIDNumberBirthDate = errors.New("cardcheck: ID number birth date invalid")
)

// Sex values, as printed on the card.
const (
	Male   = "男"
	Female = "女"
)

// MinBirthYear is the earliest birth year accepted in an ID number.
const MinBirthYear = 1850

// IDNumberInfo is what an 18-character ID number says about its holder.
type IDNumberInfo struct {
	// Region is the six-digit address code (positions 1–6). It is not
	// checked against any list of codes: codes are retired and reassigned,
	// and strict checks reject valid numbers.
	Region string `json:"region"`
	// ProvinceKnown is a hint: whether the first two digits are a province
	// level code in use (11–82, plus 83 and 91 for residence and permanent
	// residence permits). False does not make the number invalid.
	ProvinceKnown bool      `json:"provinceKnown"`
	Birth         time.Time `json:"birth"` // midnight UTC of the birth date
	Sex           string    `json:"sex"`   // Male or Female, from the 17th digit (odd = male)
}

// BirthDate returns Birth as YYYY-MM-DD.
func (i IDNumberInfo) BirthDate() string {
	if i.Birth.IsZero() {
		return ""
	}
	y, m, d := i.Birth.Date()
	return civil{y, int(m), d}.format()
}

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheckChars = "10X98765432"

// IDCheckDigit returns the GB 11643-1999 check character ('0'–'9' or 'X')
// of the first 17 digits of s, or 0 if s does not start with 17 digits.
func IDCheckDigit(s string) byte {
	if len(s) < 17 {
		return 0
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := s[i]
		if !isDigit(c) {
			return 0
		}
		sum += int(c-'0') * idWeights[i]
	}
	return idCheckChars[sum%11]
}

// provinces marks the province-level codes in use (first two digits).
var provinces = func() (p [100]bool) {
	for _, c := range []int{
		11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37,
		41, 42, 43, 44, 45, 46, 50, 51, 52, 53, 54, 61, 62, 63, 64, 65,
		71, 81, 82, 83, 91,
	} {
		p[c] = true
	}
	return p
}()

// idBirth checks s and returns its birth date, without allocating.
func checkIDNumber(s string, now time.Time) (civil, error) {
	switch {
	case len(s) == 15 && isAllDigits(s):
		return civil{}, ErrIDNumberLegacy
	case len(s) != 18:
		return civil{}, ErrIDNumberLength
	}
	want := IDCheckDigit(s)
	if want == 0 {
		return civil{}, ErrIDNumberFormat
	}
	last := s[17]
	if last == 'x' {
		last = 'X'
	}
	if !isDigit(last) && last != 'X' {
		return civil{}, ErrIDNumberFormat
	}
	if last != want {
		return civil{}, ErrIDNumberChecksum
	}
	y, _ := digits(s[6:], 4)
	m, _ := digits(s[10:], 2)
	d, _ := digits(s[12:], 2)
	b := civil{y, m, d}
	if y < MinBirthYear || !validCivil(b) || dateIn(now).before(b) {
		return civil{}, ErrIDNumberBirthDate
	}
	return b, nil
}

func isAllDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// ValidIDNumber reports whether s is a valid 18-character resident ID
// number: 17 digits and a digit or X/x, the mod 11-2 check digit right, and
// a birth date (positions 7–14) that exists, is not before 1850 and not in
// the future. The region code is not checked. 15-digit legacy numbers are
// reported invalid.
func ValidIDNumber(s string) bool {
	_, err := checkIDNumber(s, time.Now())
	return err == nil
}

// ParseIDNumber checks s like ValidIDNumber and returns what it encodes.
func ParseIDNumber(s string) (IDNumberInfo, error) {
	return ParseIDNumberAt(s, time.Now())
}

// ParseIDNumberAt is ParseIDNumber with "today" taken from now.
func ParseIDNumberAt(s string, now time.Time) (IDNumberInfo, error) {
	b, err := checkIDNumber(s, now)
	if err != nil {
		return IDNumberInfo{}, err
	}
	sex := Female
	if (s[16]-'0')%2 == 1 {
		sex = Male
	}
	p, _ := digits(s, 2)
	return IDNumberInfo{
		Region:        s[:6],
		ProvinceKnown: provinces[p],
		Birth:         time.Date(b.y, time.Month(b.m), b.d, 0, 0, 0, 0, time.UTC),
		Sex:           sex,
	}, nil
}
