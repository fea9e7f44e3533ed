package tickets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"time"
)

// Members: other providers' credentials (the WeChat access token) live in
// the tickets document next to the WeBank pair, written by the same one
// writer, so that a refresh never writes back a member another refresher has
// just replaced. The policy of each member lives with its provider's client;
// this file is the mechanics.

// A Member keeps one provider's credential in the document.
type Member interface {
	// Renew is asked on every refresh run with the stored document: it
	// renews its member in doc when needed and reports whether doc changed.
	// A failure is its own to log; it never stops the WeBank refresh.
	Renew(ctx context.Context, doc *Document) bool
}

// Member decodes the member name into v; false when there is none.
func (d Document) Member(name string, v any) (bool, error) {
	raw, ok := d.Extra[name]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("tickets: stored member %q is not valid", name)
	}
	return true, nil
}

// SetMember stores v under name.
func (d *Document) SetMember(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("tickets: encode member %q: %w", name, err)
	}
	if d.Extra == nil {
		d.Extra = map[string]json.RawMessage{}
	}
	d.Extra[name] = b
	return nil
}

// clone copies d deeply enough for a member to change the copy.
func (d Document) clone() Document {
	d.Extra = maps.Clone(d.Extra)
	return d
}

// renewMembers lets every member renew itself in doc (the WeBank refresh
// then writes all in one write). It reports whether doc changed.
func (r *Refresher) renewMembers(ctx context.Context, doc *Document) bool {
	changed := false
	for _, m := range r.Members {
		if m.Renew(ctx, doc) {
			changed = true
		}
	}
	return changed
}

// membersOnly runs when the WeBank pair is fresh: it writes only if a
// member changed, under the same lease as a WeBank refresh (so that it never
// writes back a pair a concurrent refresher has just replaced). Caller
// holds r.mu.
func (r *Refresher) membersOnly(ctx context.Context, doc Document) (Outcome, error) {
	if len(r.Members) == 0 {
		return Skipped, nil
	}
	probe := doc.clone()
	if !r.renewMembers(ctx, &probe) {
		return Skipped, nil
	}
	// The WeBank refresh's slot for this pair: a refresher replacing the
	// pair and this write exclude each other. The lease only has to cover
	// the load and write below.
	sl, _, _ := slot(doc, false)
	err := r.update(ctx, sl, min(r.Interval/2, time.Minute), func(doc *Document) error {
		if !r.renewMembers(ctx, doc) {
			return errUnchanged
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrLeaseHeld):
		return Leased, nil
	case errors.Is(err, errUnchanged):
		return Skipped, nil
	case err != nil:
		return "", err
	}
	return Refreshed, nil
}

var errUnchanged = errors.New("unchanged")

// ErrLeaseHeld: another refresher holds the lease Update asked for.
var ErrLeaseHeld = errors.New("tickets: another refresher holds the lease")

// Update changes the stored document as the one writer: under this
// refresher's lock and, when the store leases, under the named lease (held
// for ttl; ErrLeaseHeld when another holder has it), it loads the document,
// runs change and writes the result back unless change fails.
func (r *Refresher) Update(ctx context.Context, lease string, ttl time.Duration, change func(doc *Document) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.update(ctx, lease, ttl, change)
}

// Load returns the stored document (an empty one when nothing is stored).
func (r *Refresher) Load(ctx context.Context) (Document, error) { return r.load(ctx) }

func (r *Refresher) update(ctx context.Context, lease string, ttl time.Duration, change func(doc *Document) error) error {
	if l, ok := r.Store.(Leaser); ok && ttl > 0 {
		held, err := l.TryLease(ctx, lease, ttl)
		if err != nil {
			return fmt.Errorf("tickets: lease: %w", err)
		}
		if !held {
			return ErrLeaseHeld
		}
	}
	doc, err := r.load(ctx) // after the lease: another writer may have written meanwhile
	if err != nil {
		return err
	}
	if err := change(&doc); err != nil {
		return err
	}
	return r.put(ctx, doc)
}

func (r *Refresher) put(ctx context.Context, doc Document) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("tickets: encode: %w", err)
	}
	if err := r.Store.Put(ctx, b); err != nil {
		r.logger().ErrorContext(ctx, "storing the tickets document failed", "err", err)
		return fmt.Errorf("tickets: store: %w", err)
	}
	return nil
}
