package cardcheck

import (
	"strings"
	"time"
)

// IDCardFields are the OCR fields CheckIDCard looks at, as the provider sent
// them. Empty means "not on this side / not recognized".
type IDCardFields struct {
	IDNumber  string // front side
	Birth     string // front side: "19881001", "1988-10-01" or "1988年10月1日"
	Sex       string // front side: 男/女 or male/female
	ValidDate string // back side: "20190128-20390128", "2019.01.28-长期", …
}

// IDCardChecks is the "checks" object of the ID card API. A nil field means
// "not applicable" (the field it needs is absent, or cannot be compared) and
// is left out of the JSON.
type IDCardChecks struct {
	// IDNumberValid: present when an ID number was read.
	IDNumberValid *bool `json:"idNumberValid,omitempty"`
	// BirthDateMatches: present when the ID number is valid and a birth date
	// was read; false also when that date is not a date.
	BirthDateMatches *bool `json:"birthDateMatches,omitempty"`
	// SexMatches: present when the ID number is valid and a sex was read;
	// false also when the sex is not one we know.
	SexMatches *bool `json:"sexMatches,omitempty"`
	// Expired: present when the validity period was read and understood.
	Expired *bool `json:"expired,omitempty"`

	// Hints are soft findings that decide nothing: "id_region_unknown"
	// (province code not in use) and "validity_unrecognized" (a validity
	// period we cannot parse). The HTTP layer may add them to the response's
	// warnings. nil when there are none.
	Hints []Warning `json:"-"`
}

// Hint codes of IDCardChecks.Hints.
var (
	HintRegionUnknown        = Warning{Code: "id_region_unknown", Message: "ID number region code is not a known province"}
	HintValidityUnrecognized = Warning{Code: "validity_unrecognized", Message: "validity period not recognized"}
)

// NormalizeSex maps 男/女, male/female, m/f (any case, surrounding space
// ignored) to Male or Female.
func NormalizeSex(s string) (string, bool) {
	s = strings.TrimSpace(s)
	switch {
	case s == Male, strings.EqualFold(s, "male"), strings.EqualFold(s, "m"):
		return Male, true
	case s == Female, strings.EqualFold(s, "female"), strings.EqualFold(s, "f"):
		return Female, true
	}
	return "", false
}

// CheckIDCard runs every local check on the OCR fields of one or both sides
// of an ID card. now decides whether the birth date is in the future and
// whether the card has expired (China calendar).
func CheckIDCard(in IDCardFields, now time.Time) IDCardChecks {
	var c IDCardChecks
	// One allocation for all four answers.
	v := new([4]bool)
	if id := strings.TrimSpace(in.IDNumber); id != "" {
		birth, err := checkIDNumber(id, now)
		v[0] = err == nil
		c.IDNumberValid = &v[0]
		if err == nil {
			if p, _ := digits(id, 2); !provinces[p] {
				c.Hints = append(c.Hints, HintRegionUnknown)
			}
			if strings.TrimSpace(in.Birth) != "" {
				b, ok := parseDate(in.Birth)
				v[1] = ok && b == birth
				c.BirthDateMatches = &v[1]
			}
			if strings.TrimSpace(in.Sex) != "" {
				sex, ok := NormalizeSex(in.Sex)
				male := (id[16]-'0')%2 == 1
				v[2] = ok && (sex == Male) == male
				c.SexMatches = &v[2]
			}
		}
	}
	if strings.TrimSpace(in.ValidDate) != "" {
		from, to, ok := splitValidity(in.ValidDate)
		if ok && (to.y == 0 || !to.before(from)) {
			v[3] = to.y != 0 && to.before(dateIn(now))
			c.Expired = &v[3]
		} else {
			c.Hints = append(c.Hints, HintValidityUnrecognized)
		}
	}
	return c
}
