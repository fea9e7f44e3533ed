package webank

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
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
// JSON object.
func ParseFields(body []byte) (*Fields, error) {
	f := &Fields{}
	if err := json.Unmarshal(body, &f.top); err != nil || f.top == nil {
		return nil, errMalformed
	}
	if raw, ok := f.top["result"]; ok {
		trimmed := bytes.TrimSpace(raw)
		if len(trimmed) > 0 && trimmed[0] == '{' {
			if err := json.Unmarshal(trimmed, &f.result); err != nil {
				return nil, errMalformed
			}
			// Its members are copies now: the raw object (megabytes of
			// photos in a query's answer) need not stay alive.
			f.top["result"] = json.RawMessage("{}")
		}
	}
	return f, nil
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
