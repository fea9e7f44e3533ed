// Package ticketstest has the doubles the tickets tests and those of the
// providers that keep tokens in the tickets document share: an in-memory
// store, a settable clock and a WeBank token and ticket fetcher.
package ticketstest

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/upstream"
)

// MemStore is an in-memory secretstore.Store with failures on demand and
// call counts. Set its fields before it is shared.
type MemStore struct {
	mu      sync.Mutex
	Value   []byte        // nil: nothing stored (Get answers ErrNotFound)
	Fail    error         // every call fails with it
	PutFail error         // writes fail with it
	Delay   time.Duration // added to every Get
	Gets    atomic.Int32
	Puts    atomic.Int32
}

func (m *MemStore) Get(ctx context.Context) ([]byte, error) {
	m.Gets.Add(1)
	if m.Delay > 0 {
		time.Sleep(m.Delay)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return nil, m.Fail
	}
	if m.Value == nil {
		return nil, secretstore.ErrNotFound
	}
	return append([]byte(nil), m.Value...), nil
}

func (m *MemStore) Put(ctx context.Context, v []byte) error {
	m.Puts.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	if m.PutFail != nil {
		return m.PutFail
	}
	m.Value = append([]byte(nil), v...)
	return nil
}

// Clock is a settable clock, safe for concurrent use once shared.
type Clock struct {
	mu sync.Mutex
	T  time.Time
}

func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.T }

// Add moves the clock.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.T = c.T.Add(d)
	c.mu.Unlock()
}

// Fetcher hands out WeBank tokens "tok1", "tok2" … (two hours) and their
// tickets "ticket-tokN" (one hour), counting the calls; the errors, when
// set, are returned instead.
type Fetcher struct {
	Tokens, Tickets     atomic.Int32
	TokenErr, TicketErr error
}

func (f *Fetcher) AppID() string { return "IDAXXXXX" }

func (f *Fetcher) AccessToken(ctx context.Context) (upstream.Credential, error) {
	n := f.Tokens.Add(1)
	if f.TokenErr != nil {
		return upstream.Credential{}, f.TokenErr
	}
	return upstream.Credential{Value: "tok" + strconv.Itoa(int(n)), ExpiresIn: 2 * time.Hour}, nil
}

func (f *Fetcher) SignTicket(ctx context.Context, tok string) (upstream.Credential, error) {
	f.Tickets.Add(1)
	if f.TicketErr != nil {
		return upstream.Credential{}, f.TicketErr
	}
	return upstream.Credential{Value: "ticket-" + tok, ExpiresIn: time.Hour}, nil
}
