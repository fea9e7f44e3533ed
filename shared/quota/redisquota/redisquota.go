// Package redisquota is the Redis backend of the quota store (TencentDB
// for Redis on SCF). Importing it registers redis://[:password@]host:port[/db]
// (rediss:// for TLS). One day's counts are one hash,
// cardocr:quota:<day> {t_<tenant>, total}, changed by one Lua script: the
// check against both limits and both increments are atomic, in one round
// trip. The hash expires two days after it was last written.
package redisquota

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/quota"
)

func init() {
	quota.Register("redis", open)
	quota.Register("rediss", open)
}

// Store is a quota.Store on Redis.
type Store struct{ c *client }

func open(_ context.Context, u *url.URL) (quota.Store, error) {
	o, err := parseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("quota: redis: bad URL: %w", err)
	}
	return &Store{c: newClient(o)}, nil
}

const ttlSeconds = 2 * 24 * 3600

// reserve: KEYS[1] the day's hash; ARGV: tenant field, tenant limit, total
// limit, ttl. 1 when counted, 0 when a limit is reached.
var reserve = newScript(`
local t = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local n = tonumber(redis.call('HGET', KEYS[1], 'total') or '0')
local tl, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
if (tl > 0 and t >= tl) or (cap > 0 and n >= cap) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HINCRBY', KEYS[1], 'total', 1)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
`)

// release takes one back, never below zero.
var release = newScript(`
for _, f in ipairs({ARGV[1], 'total'}) do
  if tonumber(redis.call('HGET', KEYS[1], f) or '0') > 0 then redis.call('HINCRBY', KEYS[1], f, -1) end
end
return 1
`)

func key(day string) string { return "cardocr:quota:" + day }

func (s *Store) Reserve(ctx context.Context, day string, c quota.Counters) (bool, error) {
	r, err := reserve.run(ctx, s.c, []string{key(day)}, "t_"+c.Tenant, strconv.FormatInt(c.TenantLimit, 10),
		strconv.FormatInt(c.TotalLimit, 10), strconv.Itoa(ttlSeconds))
	if err != nil {
		return false, fmt.Errorf("quota: %w", err)
	}
	return r.n == 1, nil
}

func (s *Store) Release(ctx context.Context, day string, c quota.Counters) error {
	if _, err := release.run(ctx, s.c, []string{key(day)}, "t_"+c.Tenant); err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	return nil
}

func (s *Store) Counts(ctx context.Context, day string) (map[string]int64, error) {
	rs, err := s.c.do(ctx, []string{"HGETALL", key(day)})
	if err == nil {
		err = rs[0].err
	}
	if err != nil {
		return nil, fmt.Errorf("quota: %w", err)
	}
	out := map[string]int64{}
	for i := 0; i+1 < len(rs[0].arr); i += 2 {
		k, v := rs[0].arr[i].str, rs[0].arr[i+1].str
		n, _ := strconv.ParseInt(v, 10, 64)
		if k == "total" {
			out[""] = n
		} else {
			out[strings.TrimPrefix(k, "t_")] = n
		}
	}
	return out, nil
}

func suspendKey(provider string) string { return "cardocr:suspended:" + provider }

// Suspend sets the provider's flag, expiring at until.
func (s *Store) Suspend(ctx context.Context, provider, reason string, until time.Time) error {
	ms := time.Until(until).Milliseconds()
	if ms <= 0 {
		return nil // already over
	}
	rs, err := s.c.do(ctx, []string{"SET", suspendKey(provider), reason, "PX", strconv.FormatInt(ms, 10)})
	if err == nil {
		err = rs[0].err
	}
	if err != nil {
		return fmt.Errorf("quota: %w", err)
	}
	return nil
}

// Suspension reads the provider's flag and when it expires.
func (s *Store) Suspension(ctx context.Context, provider string) (string, time.Time, error) {
	rs, err := s.c.do(ctx, []string{"GET", suspendKey(provider)}, []string{"PTTL", suspendKey(provider)})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("quota: %w", err)
	}
	if errors.Is(rs[0].err, errNil) || rs[1].n <= 0 {
		return "", time.Time{}, nil
	}
	for _, r := range rs {
		if r.err != nil {
			return "", time.Time{}, fmt.Errorf("quota: %w", r.err)
		}
	}
	return rs[0].str, time.Now().Add(time.Duration(rs[1].n) * time.Millisecond), nil
}
