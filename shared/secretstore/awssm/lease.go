package awssm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
)

// maxChain bounds how many expired leases on one slot are stepped over.
const maxChain = 8

// TryLease implements secretstore.Leaser with conditional writes to the
// lease secret: PutSecretValue with a ClientRequestToken derived from the
// slot (and a chain index). Secrets Manager accepts only one content per
// token: the first writer creates the version and holds the lease; anyone
// else gets ResourceExistsException, reads that version, and holds it only
// if it is its own (a retried call). If the lease found has expired, the
// next chain index is tried, so a crashed holder does not block the slot
// forever. No version is deleted or relabelled by hand: each lease is one
// version that Secrets Manager prunes later.
//
// Leases live in a secret of their own because Secrets Manager advises at
// most one PutSecretValue per 10 minutes per secret: a refresher every 20
// minutes plus a lease every 20 minutes in the same secret would be at that
// limit.
func (s *LeasingStore) TryLease(ctx context.Context, slot string, ttl time.Duration) (bool, error) {
	if err := secretstore.CheckLease(slot, ttl); err != nil {
		return false, err
	}
	for i := range maxChain {
		token := leaseToken(slot, i)
		doc := secretstore.LeaseDoc{Slot: slot, Holder: s.holder, Expires: time.Now().Add(ttl)}
		err := s.putLease(ctx, token, doc)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, secretstore.ErrConflict) {
			return false, err
		}
		held, expired, err := s.readLease(ctx, token)
		if err != nil || held || !expired {
			return held, err
		}
	}
	return false, &secretstore.Error{Backend: "awssm", Op: "PutSecretValue", Secret: s.leaseID,
		Msg: fmt.Sprintf("lease %q expired %d times in a row; refusing to step further", slot, maxChain)}
}

func (s *LeasingStore) putLease(ctx context.Context, token string, doc secretstore.LeaseDoc) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return s.client.call(ctx, "PutSecretValue", s.leaseID, putInput(s.leaseID, doc.Marshal(), token), nil)
}

// readLease reads the lease version token: held if it is ours and live,
// expired if its time is up (ours or not: a later link may be someone
// else's).
func (s *LeasingStore) readLease(ctx context.Context, token string) (held, expired bool, err error) {
	const op = "GetSecretValue"
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var out secretValue
	if err := s.client.call(ctx, op, s.leaseID, map[string]string{"SecretId": s.leaseID, "VersionId": token}, &out); err != nil {
		return false, false, err
	}
	var b []byte
	if out.SecretString != nil {
		b = []byte(*out.SecretString)
	} else {
		b = out.SecretBinary
	}
	d, perr := secretstore.ParseLeaseDoc(b)
	if perr != nil {
		return false, false, &secretstore.Error{Backend: "awssm", Op: op, Secret: s.leaseID, Kind: secretstore.ErrMalformed,
			Msg: "the lease version does not hold a lease record", Err: perr}
	}
	live := time.Now().Before(d.Expires)
	return live && d.Holder == s.holder, !live, nil
}

// leaseToken derives the ClientRequestToken (the VersionId, 32–64
// characters, scoped to the lease secret) for link i of slot's chain,
// shaped like a UUID. It depends on nothing but slot and i, so processes
// that name the lease secret differently (name or ARN) still agree.
func leaseToken(slot string, i int) string {
	h := sha256.Sum256([]byte("cardocr-lease\x00" + slot + "\x00" + strconv.Itoa(i)))
	x := hex.EncodeToString(h[:16])
	return x[0:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:32]
}
