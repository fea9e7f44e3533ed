// Package logging builds the JSON slog logger every function uses. Call
// sites log no personal data; as a second line of defence the handler
// redacts attributes whose key names a secret or personal field, and scrubs
// anything that looks like an ID or card number from string values.
package logging

import (
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
)

// sensitiveKeys are attribute keys whose values are never written.
var sensitiveKeys = map[string]bool{
	"token": true, "accesstoken": true, "access_token": true, "ticket": true, "signticket": true,
	"secret": true, "sign": true, "nonce": true, "authorization": true, "apikey": true, "api_key": true,
	"image": true, "idcardstr": true, "bankcardstr": true, "photo": true, "img": true,
	"name": true, "idnumber": true, "idcard": true, "address": true, "cardnumber": true, "number": true,
	"bankcardno": true, "password": true,
}

// digitRun matches ID numbers (17 digits + digit/X) and card numbers (13–19
// digits), possibly grouped by spaces or dashes.
// Compiled on first use (rare: hasLongDigitRun guards it), not at init,
// which every cold start pays.
var digitRun = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\d(?:[ -]?\d){12,18}[Xx]?`) })

// Scrub masks digit runs that may be ID or card numbers, keeping the first
// and last two characters.
func Scrub(s string) string {
	if !hasLongDigitRun(s) {
		return s
	}
	return digitRun().ReplaceAllStringFunc(s, func(m string) string {
		if len(m) <= 4 {
			return m
		}
		return m[:2] + strings.Repeat("*", len(m)-4) + m[len(m)-2:]
	})
}

// hasLongDigitRun is a cheap pre-check that keeps the regexp off the hot path.
func hasLongDigitRun(s string) bool {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			n++
			if n >= 13 {
				return true
			}
		case c == ' ' || c == '-':
		default:
			n = 0
		}
	}
	return false
}

func replace(_ []string, a slog.Attr) slog.Attr {
	if sensitiveKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, "[redacted]")
	}
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); hasLongDigitRun(s) {
			return slog.String(a.Key, Scrub(s))
		}
	case slog.KindAny:
		if err, ok := a.Value.Any().(error); ok {
			return slog.String(a.Key, Scrub(err.Error()))
		}
	}
	return a
}

// ParseLevel reads LOG_LEVEL (debug, info, warn, error); default info.
func ParseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// New returns a JSON logger writing to w.
func New(w io.Writer, level string) *slog.Logger {
	return NewFormat(w, level, "json")
}

// NewFormat is New with a format: "json", or "text" (key=value lines for
// a person reading a terminal). Both redact alike.
func NewFormat(w io.Writer, level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: ParseLevel(level), ReplaceAttr: replace}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
