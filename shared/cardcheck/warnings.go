package cardcheck

import (
	"strconv"
	"strings"
)

// Warning is one entry of the API's "warnings" array. Code is stable
// snake_case; Message is short English for humans. Neither ever contains
// the value that was decoded.
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The warnings the providers report. ID card and bank card warnings with the
// same meaning share a code.
var (
	WarnBorderIncomplete = Warning{Code: "border_incomplete", Message: "card border incomplete"}
	WarnPhotocopy        = Warning{Code: "photocopy", Message: "card is a photocopy"}
	WarnInvalidDate      = Warning{Code: "invalid_date", Message: "date on the card is invalid"}
	WarnRecaptured       = Warning{Code: "recaptured", Message: "card recaptured from a screen or photo"}
	WarnTemporaryCard    = Warning{Code: "temporary_card", Message: "temporary ID card"}
	WarnOccluded         = Warning{Code: "occluded", Message: "card occluded inside the frame"}
	WarnReflection       = Warning{Code: "reflection", Message: "glare on the card"}
	WarnCardExpired      = Warning{Code: "card_expired", Message: "card expired"}
	WarnTampered         = Warning{Code: "tampered", Message: "card image edited (PS)"}
	// WarnUnrecognized stands for a warning value that could not be decoded.
	WarnUnrecognized = Warning{Code: "unrecognized_warning", Message: "provider warning not recognized"}
)

// idWarningBits are the positions of the WeBank ID card warning string,
// left to right.
var idWarningBits = [8]Warning{
	WarnBorderIncomplete,
	WarnPhotocopy,
	WarnInvalidDate,
	WarnRecaptured,
	WarnTemporaryCard,
	WarnOccluded,
	{Code: "warning_bit_6", Message: "unknown provider warning (position 6)"},
	{Code: "warning_bit_7", Message: "unknown provider warning (position 7)"},
}

// DecodeIDWarnings decodes a WeBank ID card warning string (`warning`,
// `multiWarning`, `frontMultiWarning`, `backMultiWarning`): eight '0'/'1'
// characters, position 0 first. "", "0" and "00000000" mean none (nil).
// Anything else that is not eight 0/1 characters yields the single entry
// WarnUnrecognized. Surrounding space is ignored.
func DecodeIDWarnings(s string) []Warning {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return nil
	}
	if len(s) != len(idWarningBits) {
		return []Warning{WarnUnrecognized}
	}
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '1':
			n++
		case '0':
		default:
			return []Warning{WarnUnrecognized}
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]Warning, 0, n)
	for i := 0; i < len(s); i++ {
		if s[i] == '1' {
			out = append(out, idWarningBits[i])
		}
	}
	return out
}

// MergeIDWarnings decodes several ID card warning strings (say, warning and
// multiWarning) and returns their union, first occurrence first.
func MergeIDWarnings(ss ...string) []Warning {
	var out []Warning
	for _, s := range ss {
		out = appendUnique(out, DecodeIDWarnings(s)...)
	}
	return out
}

// MergeBankWarnings does the same for bank card warning codes (warningCode,
// multiWarningCode, warnCode).
func MergeBankWarnings(ss ...string) []Warning {
	var out []Warning
	for _, s := range ss {
		out = appendUnique(out, DecodeBankWarnings(s)...)
	}
	return out
}

// MergeWarnings returns the union of the lists by Code, first occurrence
// first. It returns nil when there is nothing.
func MergeWarnings(lists ...[]Warning) []Warning {
	var out []Warning
	for _, l := range lists {
		out = appendUnique(out, l...)
	}
	return out
}

func appendUnique(out []Warning, ws ...Warning) []Warning {
next:
	for _, w := range ws {
		for _, o := range out {
			if o.Code == w.Code {
				continue next
			}
		}
		out = append(out, w)
	}
	return out
}

// maxBankWarningInput bounds what DecodeBankWarnings reads: real values are
// a few codes long.
const maxBankWarningInput = 256

func bankWarning(code int64) Warning {
	switch code {
	case -9110:
		return WarnInvalidDate
	case -9111:
		return WarnBorderIncomplete
	case -9112:
		return WarnReflection
	case -9113:
		return WarnPhotocopy
	case -9114:
		return WarnRecaptured
	case 66661009:
		return WarnCardExpired
	}
	c := strconv.FormatInt(code, 10)
	return Warning{Code: "bank_warning_" + c, Message: "unknown provider warning " + c}
}

func isBankSep(c byte) bool {
	switch c {
	case ',', ';', '|', ' ', '\t', '\r', '\n', '[', ']', '"', '\'':
		return true
	}
	return false
}

// DecodeBankWarnings decodes WeBank bank card warning codes: "0" or ""
// (none), one code ("-9110"), or a list ("[-9110,-9111,-9114]",
// "-9110,-9111", with or without spaces or quotes). Known codes map to the
// shared warnings (-9110 invalid_date, -9111 border_incomplete, -9112
// reflection, -9113 photocopy, -9114 recaptured, 66661009 card_expired);
// other integers to "bank_warning_<n>"; anything that is not an integer to
// one WarnUnrecognized. Duplicates are dropped.
func DecodeBankWarnings(s string) []Warning {
	if len(s) > maxBankWarningInput {
		return []Warning{WarnUnrecognized}
	}
	var out []Warning
	for i := 0; i < len(s); {
		if isBankSep(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && !isBankSep(s[j]) {
			j++
		}
		tok := s[i:j]
		i = j
		code, err := strconv.ParseInt(tok, 10, 64)
		switch {
		case err != nil || len(tok) > 12:
			out = appendUnique(out, WarnUnrecognized)
		case code == 0:
		default:
			out = appendUnique(out, bankWarning(code))
		}
	}
	return out
}
