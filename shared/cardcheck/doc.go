// Package cardcheck checks and normalizes what card OCR returns: Chinese
// resident ID numbers (GB 11643-1999), ID card dates and validity periods,
// the WeBank warning strings and codes, bank card numbers (Luhn, with the
// UnionPay exemption) and valid-thru dates. It also masks ID numbers, card
// numbers and names for logs.
//
// Everything here is pure (no I/O, no globals that change), uses only the
// standard library and allocates little. Calendar decisions (is a card
// expired, is a birth date in the future) are made on the calendar of
// mainland China (UTC+8), whatever the time zone of the time.Time passed in:
// the dates printed on the cards are dates there.
//
// Error values and warning messages never contain the input: callers may log
// them.
package cardcheck
