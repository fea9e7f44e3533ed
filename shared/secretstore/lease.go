package secretstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Leaser is implemented by stores that can arbitrate between processes: of
// all the callers that ask for the same slot while a lease on it is live,
// exactly one gets held=true. A lease is never renewed or released; it
// expires after ttl. The same Store value asking again for a slot it holds
// gets held=true again (so a retried call is harmless).
//
// A slot names what is being decided, e.g. "replace the pair fetched at
// T": callers that would do the same work ask for the same slot. The slot
// is not secret but is stored; keep it short (at most MaxSlotLen bytes).
//
// held=false with a nil error means another caller holds the slot. An
// error means nothing is known: the caller must not do the guarded work.
type Leaser interface {
	TryLease(ctx context.Context, slot string, ttl time.Duration) (held bool, err error)
}

const (
	// MaxLeaseTTL bounds a lease. Stores rely on it to clean up old
	// leases without reading them.
	MaxLeaseTTL = 24 * time.Hour
	// MaxSlotLen bounds a slot name.
	MaxSlotLen = 200
)

// ErrBadLease is returned for an empty or too long slot or a ttl outside
// (0, MaxLeaseTTL].
var ErrBadLease = errors.New("secretstore: bad lease request")

// CheckLease validates TryLease's arguments; backends call it first.
func CheckLease(slot string, ttl time.Duration) error {
	if slot == "" || len(slot) > MaxSlotLen {
		return fmt.Errorf("%w: slot must be 1..%d bytes", ErrBadLease, MaxSlotLen)
	}
	if ttl <= 0 || ttl > MaxLeaseTTL {
		return fmt.Errorf("%w: ttl %v outside (0, %v]", ErrBadLease, ttl, MaxLeaseTTL)
	}
	return nil
}

// NewHolderID returns a random identity for one Store value's leases.
func NewHolderID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b[:])
}

// LeaseDoc is the record a backend stores for a lease. It never holds
// secret material.
type LeaseDoc struct {
	Slot    string    `json:"lease"`
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
	// PID is the holding process on this machine (file leases only): a
	// lease whose process is gone is not inherited by the next one.
	PID int `json:"pid,omitempty"`
}

// Marshal encodes the record.
func (d LeaseDoc) Marshal() []byte {
	b, _ := json.Marshal(d) // cannot fail: strings and a time
	return b
}

// ParseLeaseDoc decodes a record; an error means the stored bytes are not
// a lease (the error does not include them).
func ParseLeaseDoc(b []byte) (LeaseDoc, error) {
	var d LeaseDoc
	if err := json.Unmarshal(b, &d); err != nil || d.Slot == "" || d.Holder == "" || d.Expires.IsZero() {
		return LeaseDoc{}, errors.New("secretstore: stored lease record is unreadable")
	}
	return d, nil
}
