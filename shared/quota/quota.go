// Package quota counts billable upstream calls in a store every instance
// shares (QUOTA_STORE_URL), per tenant and per China calendar day, against
// the tenant's daily quota and the deployment's DAILY_SPEND_CAP. A call is
// counted before it is made, by one atomic conditional increment of both
// counters: a call that would pass either limit is refused (429
// quota_exceeded) and never made; a call that then did not reach the
// provider (not billed) is given back.
//
//	file://path                 built in (flock; the local stack)
//	redis://host:port[/db]      package quota/redisquota (TencentDB for Redis; one Lua script)
//	dynamodb://TABLE[?region=…&endpoint=…]  package quota/dynamoquota (UpdateItem ADD with a condition)
package quota

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// Counters are what one reservation counts: a tenant's calls and the
// deployment's, each with its limit (0: counted, not limited).
type Counters struct {
	Tenant      string
	TenantLimit int64
	TotalLimit  int64
}

// Store counts atomically.
type Store interface {
	// Reserve adds one call to the tenant's and the deployment's counts
	// of day, unless either would pass its limit (then ok is false and
	// nothing changes).
	Reserve(ctx context.Context, day string, c Counters) (ok bool, err error)
	// Release takes one call back (it was not billed).
	Release(ctx context.Context, day string, c Counters) error
	// Counts returns day's counts: per tenant, and "" for the deployment.
	Counts(ctx context.Context, day string) (map[string]int64, error)
}

// Opener builds a Store from its URL.
type Opener func(ctx context.Context, u *url.URL) (Store, error)

var (
	mu      sync.RWMutex
	openers = map[string]Opener{"file": openFile}
)

// Register makes a scheme available to Open.
func Register(scheme string, o Opener) {
	mu.Lock()
	defer mu.Unlock()
	openers[scheme] = o
}

// Open returns the Store a URL names. It makes no network call.
func Open(ctx context.Context, raw string) (Store, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("quota: bad QUOTA_STORE_URL: %w", err)
	}
	mu.RLock()
	o, ok := openers[u.Scheme]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("quota: unsupported scheme %q (is its backend linked in?)", u.Scheme)
	}
	return o(ctx, u)
}

// cst: days are China calendar days.
var cst = time.FixedZone("CST", 8*3600)

// Day is the China date of t, "2006-01-02".
func Day(t time.Time) string { return t.In(cst).Format("2006-01-02") }

// UntilTomorrow is how long until the next China day starts (Retry-After).
func UntilTomorrow(t time.Time) time.Duration {
	c := t.In(cst)
	next := time.Date(c.Year(), c.Month(), c.Day()+1, 0, 0, 0, 0, cst)
	return next.Sub(t)
}

// Field names of one day's document (file, Redis hash, DynamoDB item).
func tenantField(id string) string { return "t_" + id }

const totalField = "total"
