package ocr

import (
	"encoding/json"
	"strings"
)

// What the archive keeps of a result: one normalized copy of every datum.
// The provider's raw answer (Upstream) repeats the name, the ID or card
// number, the address and the dates the card already holds; an archived
// copy keeps only the raw members that have no normalized home (codes,
// warnings, scores), so that a person's number is stored once.

// ForArchive returns a copy of r whose Upstream keeps only what the card
// does not already hold.
func (r *IDCardResult) ForArchive() *IDCardResult {
	c := *r
	c.Upstream = pruneUpstream(r.Upstream, r.Card.Name, r.Card.Sex, r.Card.Nation, r.Card.BirthDate, r.Card.IDNumber,
		r.Card.Address, r.Card.NativePlace, r.Card.Authority, r.Card.ValidFrom, r.Card.ValidTo, r.Card.ValidFrom+r.Card.ValidTo)
	return &c
}

// ForArchive returns a copy of r whose Upstream keeps only what the card
// does not already hold.
func (r *BankCardResult) ForArchive() *BankCardResult {
	c := *r
	c.Upstream = pruneUpstream(r.Upstream, r.Card.Number, r.Card.ValidThru)
	return &c
}

// pruneUpstream drops, at any depth, every string member whose value is one
// of the normalized values (compared without separators and case).
func pruneUpstream(raw json.RawMessage, normalized ...string) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	homes := map[string]bool{}
	for _, v := range normalized {
		if k := fold(v); len(k) >= 2 {
			homes[k] = true
		}
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil // unreadable: not kept (the card holds what was read)
	}
	v = prune(v, homes)
	b, err := json.Marshal(v)
	if err != nil || string(b) == "{}" || string(b) == "null" {
		return nil
	}
	return b
}

func prune(v any, homes map[string]bool) any {
	switch t := v.(type) {
	case map[string]any:
		for k, m := range t {
			if s, ok := m.(string); ok && homes[fold(s)] {
				delete(t, k)
				continue
			}
			t[k] = prune(m, homes)
		}
	case []any:
		for i := range t {
			t[i] = prune(t[i], homes)
		}
	}
	return v
}

// fold keeps letters and digits, lower-cased: "1949-12-31" and "19491231",
// "6222 0202 …" and "62220202…" fold alike.
func fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r == ' ' || r == '-' || r == '.' || r == '/' || r == '\t' {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
