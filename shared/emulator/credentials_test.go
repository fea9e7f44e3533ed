package emulator

import (
	"testing"
	"time"
)

// submitCode submits an ID card signed with tk and returns the answer code.
func (h *harness) submitCode(tk string) string {
	h.t.Helper()
	_, a := h.submitID(tk, front(1).JPEG(), "0")
	return a.code()
}

func TestTokenAndTicketLifetimes(t *testing.T) {
	const (
		tokenTTL  = 2 * time.Hour
		ticketTTL = time.Hour
		overlap   = time.Minute
	)
	t.Run("new token leaves the old one and its tickets Overlap more", func(t *testing.T) {
		c := newClock()
		h := newHarness(t, Config{Now: c.Now, TokenTTL: tokenTTL, TicketTTL: ticketTTL, Overlap: overlap})
		tok1 := h.token()
		tk1 := h.ticket(tok1)
		c.Advance(20 * time.Minute)
		tok2 := h.token()
		c.Advance(overlap - time.Second)
		if code := h.submitCode(tk1); code != "0" {
			t.Fatalf("old ticket inside the overlap: %s", code)
		}
		if a := h.ticketAnswer(tok1); a.code() != "0" {
			t.Fatalf("old token inside the overlap: %s", a.code())
		}
		c.Advance(2 * time.Second)
		h.e.ResetCounts()
		if code := h.submitCode(tk1); code != "400101" {
			t.Fatalf("old ticket after the overlap: %s", code)
		}
		if h.e.Count("rejected:stale_ticket") != 1 {
			t.Errorf("stale ticket not counted: %v", h.e.Counts())
		}
		if a := h.ticketAnswer(tok1); a.code() != "15" {
			t.Fatalf("old token after the overlap: %s", a.code())
		}
		tk2 := h.ticket(tok2)
		if code := h.submitCode(tk2); code != "0" {
			t.Fatalf("new ticket: %s", code)
		}
	})

	t.Run("new SIGN ticket leaves the previous one Overlap more", func(t *testing.T) {
		c := newClock()
		h := newHarness(t, Config{Now: c.Now, TokenTTL: tokenTTL, TicketTTL: ticketTTL, Overlap: overlap})
		tok := h.token()
		tk1 := h.ticket(tok)
		c.Advance(10 * time.Minute)
		tk2 := h.ticket(tok)
		if tk1 == tk2 {
			t.Fatal("same ticket twice")
		}
		c.Advance(overlap / 2)
		if h.submitCode(tk1) != "0" || h.submitCode(tk2) != "0" {
			t.Fatal("both tickets should work inside the overlap")
		}
		c.Advance(overlap)
		if code := h.submitCode(tk1); code != "400101" {
			t.Errorf("old ticket after the overlap: %s", code)
		}
		if code := h.submitCode(tk2); code != "0" {
			t.Errorf("new ticket: %s", code)
		}
	})

	t.Run("ticket expires after TicketTTL", func(t *testing.T) {
		c := newClock()
		h := newHarness(t, Config{Now: c.Now, TokenTTL: tokenTTL, TicketTTL: ticketTTL, Overlap: overlap})
		tk := h.credentials()
		c.Advance(ticketTTL - time.Second)
		if code := h.submitCode(tk); code != "0" {
			t.Fatalf("before TTL: %s", code)
		}
		c.Advance(time.Second)
		if code := h.submitCode(tk); code != "400101" {
			t.Fatalf("at TTL: %s", code)
		}
	})

	t.Run("ticket dies with its token", func(t *testing.T) {
		c := newClock()
		h := newHarness(t, Config{Now: c.Now, TokenTTL: tokenTTL, TicketTTL: ticketTTL, Overlap: overlap})
		tok := h.token()
		c.Advance(tokenTTL - 10*time.Minute)
		tk := h.ticket(tok) // would live an hour, the token only 10 minutes
		c.Advance(10*time.Minute - time.Second)
		if code := h.submitCode(tk); code != "0" {
			t.Fatalf("before the token dies: %s", code)
		}
		c.Advance(time.Second)
		if code := h.submitCode(tk); code != "400101" {
			t.Fatalf("after the token died: %s", code)
		}
		if a := h.ticketAnswer(tok); a.code() != "15" {
			t.Fatalf("expired token: %s", a.code())
		}
	})

	t.Run("refresh every 20 minutes never breaks", func(t *testing.T) {
		c := newClock()
		h := newHarness(t, Config{Now: c.Now, TokenTTL: tokenTTL, TicketTTL: ticketTTL, Overlap: overlap})
		tk := h.credentials()
		for i := 0; i < 12; i++ {
			c.Advance(20 * time.Minute)
			next := h.credentials()
			// A reader still holding the old pair has a minute.
			c.Advance(30 * time.Second)
			if code := h.submitCode(tk); code != "0" {
				t.Fatalf("round %d: old pair inside the overlap: %s", i, code)
			}
			tk = next
			if code := h.submitCode(tk); code != "0" {
				t.Fatalf("round %d: new pair: %s", i, code)
			}
		}
	})

	t.Run("no overlap", func(t *testing.T) {
		c := newClock()
		h := newHarness(t, Config{Now: c.Now, Overlap: -1})
		tk := h.credentials()
		h.credentials()
		if code := h.submitCode(tk); code != "400101" {
			t.Fatalf("superseded ticket without overlap: %s", code)
		}
	})
}

// The same with the real clock and scaled lifetimes.
func TestOverlapRealClock(t *testing.T) {
	const overlap = 300 * time.Millisecond
	h := newHarness(t, Config{Overlap: overlap, TokenTTL: 10 * time.Second, TicketTTL: 5 * time.Second})
	tok1 := h.token()
	tk1 := h.ticket(tok1)
	h.credentials() // supersedes both
	if code := h.submitCode(tk1); code != "0" {
		t.Fatalf("right after the refresh: %s", code)
	}
	time.Sleep(overlap + 400*time.Millisecond)
	if code := h.submitCode(tk1); code != "400101" {
		t.Fatalf("after the overlap: %s", code)
	}
	if a := h.ticketAnswer(tok1); a.code() != "15" {
		t.Fatalf("old token after the overlap: %s", a.code())
	}
}

func TestRotateSecretAndExpireTokens(t *testing.T) {
	h := newHarness(t, Config{})
	tok := h.token()
	tk := h.ticket(tok)
	h.e.RotateSecret("NewSecret")
	if code := h.submitCode(tk); code != "400101" {
		t.Errorf("ticket after rotation: %s", code)
	}
	if a := h.ticketAnswer(tok); a.code() != "15" {
		t.Errorf("token after rotation: %s", a.code())
	}
	if a := h.get("/api/oauth2/access_token", tokenQuery(DefaultAppID, DefaultSecret)); a.code() != "400101" {
		t.Errorf("old secret: %s", a.code())
	}
	a := h.get("/api/oauth2/access_token", tokenQuery(DefaultAppID, "NewSecret"))
	if a.code() != "0" {
		t.Fatalf("new secret: %v", a)
	}
	tk = h.ticket(a.str("access_token"))
	if code := h.submitCode(tk); code != "0" {
		t.Fatalf("new pair: %s", code)
	}

	h.e.ExpireTokens()
	if code := h.submitCode(tk); code != "400101" {
		t.Errorf("after ExpireTokens: %s", code)
	}
	a = h.get("/api/oauth2/access_token", tokenQuery(DefaultAppID, "NewSecret"))
	if code := h.submitCode(h.ticket(a.str("access_token"))); code != "0" {
		t.Errorf("fresh pair after ExpireTokens: %s", code)
	}
	q := h.queryValues(tk, "abc")
	if a := h.get("/api/server/getOcrResult", q); a.code() != "400101" {
		t.Errorf("query with dead ticket: %v", a.code())
	}
}
