package emulator

import (
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/sign"
)

// Ticket types of api_ticket.
const (
	ticketSign  = "SIGN"
	ticketNonce = "NONCE"
)

type token struct {
	value   string
	expires time.Time // valid while now is before expires
}

type ticket struct {
	value   string
	kind    string
	token   string
	userID  string
	expires time.Time
}

// issueToken makes a new access_token and cuts every older token (and so
// every ticket issued under it) to at most Overlap more. Caller holds e.mu.
func (e *Emulator) issueToken(now time.Time) *token {
	e.prune(now)
	cut := now.Add(e.cfg.Overlap)
	for _, t := range e.tokens {
		if t.expires.After(cut) {
			t.expires = cut
		}
	}
	t := &token{value: randomToken(64), expires: now.Add(e.cfg.TokenTTL)}
	e.tokens[t.value] = t
	return t
}

// tokenValid reports whether value is a live access_token. Caller holds e.mu.
func (e *Emulator) tokenValid(value string, now time.Time) bool {
	t, ok := e.tokens[value]
	return ok && now.Before(t.expires)
}

// issueTicket makes a ticket under a live token. A new SIGN ticket cuts
// every older SIGN ticket to at most Overlap more. Caller holds e.mu.
func (e *Emulator) issueTicket(tok, kind, userID string, now time.Time) *ticket {
	e.prune(now)
	ttl := e.cfg.TicketTTL
	if kind == ticketNonce {
		ttl = e.cfg.NonceTTL
	} else {
		cut := now.Add(e.cfg.Overlap)
		for _, t := range e.tickets {
			if t.kind == ticketSign && t.expires.After(cut) {
				t.expires = cut
			}
		}
	}
	t := &ticket{value: randomToken(64), kind: kind, token: tok, userID: userID, expires: now.Add(ttl)}
	e.tickets[t.value] = t
	return t
}

// ticketValid: a ticket lives until its own expiry and dies with its token.
// Caller holds e.mu.
func (e *Emulator) ticketValid(t *ticket, now time.Time) bool {
	return now.Before(t.expires) && e.tokenValid(t.token, now)
}

// verifySign checks got (case-insensitively) against Sign(values…, ticket)
// for every currently valid SIGN ticket. It returns the matching ticket, or
// a rejection reason: "stale_ticket" when got was made with a ticket the
// emulator issued but that is no longer valid, else "bad_sign".
func (e *Emulator) verifySign(got string, now time.Time, values ...string) (tk string, reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	vs := append(values[:len(values):len(values)], "")
	stale := false
	for _, t := range e.tickets {
		if t.kind != ticketSign {
			continue
		}
		vs[len(vs)-1] = t.value
		if !strings.EqualFold(got, sign.Sign(vs...)) {
			continue
		}
		if e.ticketValid(t, now) {
			return t.value, ""
		}
		stale = true
	}
	if stale {
		return "", "stale_ticket"
	}
	return "", "bad_sign"
}

// staleMemory is how long dead tokens and SIGN tickets are remembered, so
// that a stale signature can be told from a wrong one in the counters.
const staleMemory = 10 * time.Minute

// prune forgets tokens and tickets dead for longer than staleMemory (or
// their own lifetime, if shorter). Caller holds e.mu.
func (e *Emulator) prune(now time.Time) {
	for k, t := range e.tokens {
		if now.Sub(t.expires) > min(e.cfg.TokenTTL, staleMemory) {
			delete(e.tokens, k)
		}
	}
	for k, t := range e.tickets {
		if now.Sub(t.expires) > min(e.cfg.TicketTTL, staleMemory) || (t.kind == ticketNonce && now.After(t.expires)) {
			delete(e.tickets, k)
		}
	}
}

// ExpireTokens ends every access_token and ticket now, as if they had all
// run out; the credentials stay the same, so a client can fetch new ones.
func (e *Emulator) ExpireTokens() {
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, t := range e.tokens {
		if t.expires.After(now) {
			t.expires = now
		}
	}
	for _, t := range e.tickets {
		if t.expires.After(now) {
			t.expires = now
		}
	}
}

// RotateSecret replaces the app's secret. As upstream, "changing the
// secret invalidates all tokens and tickets" (docs/protocol.md §1): they end now,
// and access_token only answers the new secret.
func (e *Emulator) RotateSecret(newSecret string) {
	e.ExpireTokens()
	e.mu.Lock()
	e.secret = newSecret
	e.mu.Unlock()
}
