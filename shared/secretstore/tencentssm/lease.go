package tencentssm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	ssm "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/ssm/v20190923"

	"github.com/cardocr/cardocr/shared/secretstore"
)

// maxChain bounds how many expired leases on one slot are stepped over.
const maxChain = 8

// TryLease implements secretstore.Leaser with PutSecretValue of a VersionId
// derived from the slot: SSM creates a version once and answers
// ResourceInUse.VersionIdExists to everyone after, who then read the
// version and hold the lease only if it is their own (a retried call). An
// expired lease is stepped over to the next VersionId of the slot's chain;
// versions are never deleted and re-created for the same slot, so two
// callers can never both create one.
//
// A secret holds at most 10 versions: after winning, the holder deletes the
// expired lease versions of other slots (DeleteSecretVersion), and a
// LimitExceeded answer triggers the same clean-up and one more try.
func (s *Store) TryLease(ctx context.Context, slot string, ttl time.Duration) (bool, error) {
	if err := secretstore.CheckLease(slot, ttl); err != nil {
		return false, err
	}
	cleaned := false
	for i := 0; i < maxChain; i++ {
		vid := leaseVersion(slot, i)
		doc := secretstore.LeaseDoc{Slot: slot, Holder: s.holder, Expires: time.Now().Add(ttl)}
		err := s.putVersion(ctx, s.cfg.LeaseSecret, vid, doc.Marshal())
		switch {
		case err == nil:
			s.cleanup(ctx, slot)
			return true, nil
		case isLimitExceeded(err) && !cleaned:
			cleaned = true
			s.cleanup(ctx, slot)
			i-- // the same link again
			continue
		case !errors.Is(err, secretstore.ErrConflict):
			return false, err
		}
		held, expired, err := s.readLease(ctx, vid)
		if err != nil || held || !expired {
			return held, err
		}
	}
	return false, s.errorf("PutSecretValue", s.cfg.LeaseSecret, nil,
		"lease %q expired %d times in a row; refusing to step further", slot, maxChain)
}

// readLease reads lease version vid: held if it is ours and live, expired
// if its time is up.
func (s *Store) readLease(ctx context.Context, vid string) (held, expired bool, err error) {
	b, err := s.getVersion(ctx, s.cfg.LeaseSecret, vid)
	if err != nil {
		return false, false, err
	}
	d, err := secretstore.ParseLeaseDoc(b)
	if err != nil {
		return false, false, &secretstore.Error{Backend: "tencentssm", Op: "GetSecretValue", Secret: s.cfg.LeaseSecret,
			Kind: secretstore.ErrMalformed, Msg: "version " + vid + " does not hold a lease record", Err: err}
	}
	live := time.Now().Before(d.Expires)
	return live && d.Holder == s.holder, !live, nil
}

// cleanup deletes lease versions that can no longer matter: those of
// other slots whose lease has expired (read from the version, or implied
// by a creation time older than MaxLeaseTTL). The links of slot's own
// chain are kept: deleting one would let it be created twice. Failures are
// ignored: the next holder tries again.
func (s *Store) cleanup(ctx context.Context, slot string) {
	keep := map[string]bool{}
	if slot != "" {
		for i := range maxChain {
			keep[leaseVersion(slot, i)] = true
		}
	}
	var versions []*ssm.VersionInfo
	err := s.call(ctx, "ListSecretVersionIds", s.cfg.LeaseSecret, func(c *ssm.Client) (string, error) {
		req := ssm.NewListSecretVersionIdsRequest()
		req.SecretName = &s.cfg.LeaseSecret
		resp, err := c.ListSecretVersionIds(req)
		if err == nil && resp.Response == nil {
			return "", errNoResponse
		}
		if err == nil {
			versions = resp.Response.Versions
		}
		return "", err
	})
	if err != nil {
		return
	}
	now := time.Now()
	for _, v := range versions {
		if v == nil || v.VersionId == nil || !strings.HasPrefix(*v.VersionId, leasePrefix) || keep[*v.VersionId] {
			continue
		}
		vid := *v.VersionId
		old := v.CreateTime != nil && now.Sub(time.Unix(int64(*v.CreateTime), 0)) > secretstore.MaxLeaseTTL+time.Minute
		if !old {
			b, err := s.getVersion(ctx, s.cfg.LeaseSecret, vid)
			if err != nil {
				continue
			}
			if d, err := secretstore.ParseLeaseDoc(b); err == nil && now.Before(d.Expires) {
				continue // live
			}
		}
		_ = s.call(ctx, "DeleteSecretVersion", s.cfg.LeaseSecret, func(c *ssm.Client) (string, error) {
			req := ssm.NewDeleteSecretVersionRequest()
			req.SecretName, req.VersionId = &s.cfg.LeaseSecret, &vid
			_, err := c.DeleteSecretVersion(req)
			return "", err
		})
	}
}

// leaseVersion is the VersionId of link i of slot's chain (≤64 characters
// of [A-Za-z0-9-_.]).
func leaseVersion(slot string, i int) string {
	h := sha256.Sum256([]byte("cardocr-lease\x00" + slot + "\x00" + strconv.Itoa(i)))
	return leasePrefix + hex.EncodeToString(h[:16])
}
