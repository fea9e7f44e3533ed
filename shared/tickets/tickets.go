// Package tickets keeps the WeBank access token and SIGN ticket: one writer
// (Refresher, run only by the ticketrefresh function or the local stack's
// timer) and many readers (Reader, an in-memory cache in every function).
//
// A new WeBank token leaves the previous one, and every ticket issued under
// it, about one minute (PROTOCOL.md §1–§2). So nothing on the request path
// ever fetches a token: an empty store is tickets_unavailable.
package tickets

import (
	"encoding/json"
	"fmt"
	"time"
)

// Pair is a WeBank access token and the SIGN ticket fetched with it. They
// are stored, and replaced, together.
type Pair struct {
	AppID           string    `json:"appId"`
	AccessToken     string    `json:"accessToken"`
	TokenExpiresAt  time.Time `json:"tokenExpiresAt"`
	SignTicket      string    `json:"signTicket"`
	TicketExpiresAt time.Time `json:"ticketExpiresAt"`
	FetchedAt       time.Time `json:"fetchedAt"`
}

// Usable reports whether the pair can sign requests at now.
func (p *Pair) Usable(now time.Time) bool {
	return p != nil && p.SignTicket != "" && now.Before(p.TicketExpiresAt) && now.Before(p.TokenExpiresAt)
}

// Document is what the tickets secret holds. Other providers' tokens
// (WeChat) live next to the WeBank pair so that one writer keeps them all.
type Document struct {
	WeBank *Pair                      `json:"webank,omitempty"`
	Extra  map[string]json.RawMessage `json:"-"` // members written by others, kept on rewrite
}

// MarshalJSON writes WeBank plus any extra members.
func (d Document) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(d.Extra)+1)
	for k, v := range d.Extra {
		m[k] = v
	}
	if d.WeBank != nil {
		m["webank"] = d.WeBank
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads WeBank and keeps the rest in Extra.
func (d *Document) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	d.WeBank = nil
	if raw, ok := m["webank"]; ok {
		var p Pair
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("webank member: %w", err)
		}
		d.WeBank = &p
		delete(m, "webank")
	}
	d.Extra = m
	return nil
}

// ParseDocument decodes a stored tickets document. The error never
// includes the document's text.
func ParseDocument(b []byte) (Document, error) {
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return Document{}, fmt.Errorf("tickets: stored document is not valid JSON")
	}
	return d, nil
}
