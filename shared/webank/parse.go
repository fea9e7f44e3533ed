package webank

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Fields is a WeBank answer flattened for lenient reading: the documented
// tables list fields at the top level while the examples nest them under
// "result"; we read both, "result" winning. Values may be strings, numbers
// or booleans on the wire; String returns them as text either way.
type Fields struct {
	top    map[string]json.RawMessage
	result map[string]json.RawMessage
}

var errMalformed = errors.New("malformed JSON answer")

// ParseFields decodes an answer body. It fails only on bodies that are not a
// JSON object. The members are slices of body, not copies: a result query
// with photos is megabytes, and the photos pass through to the archive
// without another copy.
func ParseFields(body []byte) (*Fields, error) {
	if !json.Valid(body) {
		return nil, errMalformed
	}
	f := &Fields{}
	var ok bool
	if f.top, ok = members(body); !ok {
		return nil, errMalformed
	}
	if raw, ok := f.top["result"]; ok {
		if trimmed := bytes.TrimSpace(raw); len(trimmed) > 0 && trimmed[0] == '{' {
			f.result, _ = members(trimmed)
		}
	}
	return f, nil
}

// members returns the members of the JSON object b as slices of b (b is
// valid JSON: json.Valid said so). A repeated name keeps its last value, as
// encoding/json does. ok is false when b is not an object.
func members(b []byte) (m map[string]json.RawMessage, ok bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, false
	}
	m = map[string]json.RawMessage{}
	i = skipSpace(b, i+1)
	if b[i] == '}' {
		return m, true
	}
	for {
		kEnd := skipString(b, i)
		key := b[i+1 : kEnd-1]
		name := string(key)
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) { // as encoding/json decodes names
			if json.Unmarshal(b[i:kEnd], &name) != nil {
				return nil, false
			}
		}
		i = skipSpace(b, kEnd) // the colon
		i = skipSpace(b, i+1)  // the value
		end := skipValue(b, i)
		m[name] = b[i:end:end] // capacity capped: nothing appends into the body
		i = skipSpace(b, end)
		if b[i] == '}' {
			return m, true
		}
		i = skipSpace(b, i+1) // after the comma
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i].
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value that starts at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = skipString(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}

func (f *Fields) raw(key string) (json.RawMessage, bool) {
	if v, ok := f.result[key]; ok && !isNull(v) {
		return v, true
	}
	v, ok := f.top[key]
	return v, ok && !isNull(v)
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// String returns the first of keys present, as text.
func (f *Fields) String(keys ...string) string {
	for _, k := range keys {
		if v, ok := f.raw(k); ok {
			return rawText(v)
		}
	}
	return ""
}

// TopString reads a top-level field only (code and msg live there; a
// "result" object may carry its own unrelated "code" in some answers).
func (f *Fields) TopString(key string) string {
	if v, ok := f.top[key]; ok && !isNull(v) {
		return rawText(v)
	}
	return ""
}

// Has reports whether any of keys is present and not null.
func (f *Fields) Has(keys ...string) bool {
	for _, k := range keys {
		if _, ok := f.raw(k); ok {
			return true
		}
	}
	return false
}

// Raw returns a field's raw JSON (top level or result).
func (f *Fields) Raw(key string) json.RawMessage {
	v, _ := f.raw(key)
	return v
}

func rawText(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) > 0 && v[0] == '"' {
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
		return ""
	}
	if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
		return ""
	}
	return string(v) // number, true, false
}

// Seconds parses an expire_in value: a JSON number or a numeric string.
func Seconds(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		return time.Duration(n) * time.Second, true
	}
	if fl, err := strconv.ParseFloat(s, 64); err == nil && fl > 0 {
		return time.Duration(fl * float64(time.Second)), true
	}
	return 0, false
}

// ResultWithout returns the result object (or the whole answer) without
// the named members, re-encoded from the members already parsed: photos
// are megabytes, and decoding the object again would copy them once more.
func (f *Fields) ResultWithout(keys ...string) json.RawMessage {
	m := f.result
	if m == nil {
		m = f.top
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[k] = v
	}
	for _, k := range keys {
		delete(out, k)
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil
	}
	return b
}
