// Package tickets keeps the WeBank access token and SIGN ticket: one writer
// (Refresher, run only by the ticketrefresh function or the local stack's
// timer) and many readers (Reader, an in-memory cache in every function).
//
// A new WeBank token leaves the previous one, and every ticket issued under
// it, about one minute (docs/protocol.md). So nothing on the request path
// ever fetches a token: an empty store is tickets_unavailable.
//
// The states of the stored document and how the refresher leaves each of
// them are described in docs/architecture.md ("Tickets").
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
	// TicketMissing: the token was fetched but its SIGN ticket could not
	// be (SignTicket is empty). The old pair died with the new token, so
	// the token is kept: the next run fetches only a ticket with it, and a
	// ticket fetched with a live token kills nothing.
	TicketMissing bool `json:"ticketMissing,omitempty"`
}

// Attempt records a refresh: written before any token is fetched (the
// write proves the store takes writes, and tells every other refresher
// that the stored pair may be superseded), cleared when the new pair is
// stored, and marked Failed when the run ends without one.
type Attempt struct {
	Slot      string    `json:"slot"` // LeaseSlot of the pair being replaced
	N         int       `json:"n"`    // failed attempts at that slot before this one
	Holder    string    `json:"holder"`
	StartedAt time.Time `json:"startedAt"`
	Failed    bool      `json:"failed,omitempty"`
	Reason    string    `json:"reason,omitempty"` // what failed, without any secret
}

// Usable reports whether the pair can sign requests at now.
func (p *Pair) Usable(now time.Time) bool {
	return p != nil && p.SignTicket != "" && now.Before(p.TicketExpiresAt) && now.Before(p.TokenExpiresAt)
}

// Document is what the tickets secret holds. Other providers' tokens
// (WeChat) live next to the WeBank pair so that one writer keeps them all.
type Document struct {
	WeBank  *Pair                      `json:"webank,omitempty"`
	Refresh *Attempt                   `json:"refresh,omitempty"`
	Extra   map[string]json.RawMessage `json:"-"` // members written by others, kept on rewrite
}

// MarshalJSON writes WeBank and Refresh plus any extra members.
func (d Document) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(d.Extra)+2)
	for k, v := range d.Extra {
		m[k] = v
	}
	if d.WeBank != nil {
		m["webank"] = d.WeBank
	}
	if d.Refresh != nil {
		m["refresh"] = d.Refresh
	}
	return json.Marshal(m)
}

// Degraded reports a stored state that a refresh attempt left unfinished:
// a token without its ticket, or a failed attempt.
func (d Document) Degraded() bool {
	return d.WeBank != nil && d.WeBank.TicketMissing || d.Refresh != nil && d.Refresh.Failed
}

// UnmarshalJSON reads WeBank and keeps the rest in Extra.
func (d *Document) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	d.WeBank, d.Refresh = nil, nil
	if raw, ok := m["refresh"]; ok {
		var a Attempt
		if json.Unmarshal(raw, &a) == nil {
			d.Refresh = &a
		}
		delete(m, "refresh")
	}
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
