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

	"github.com/redis/go-redis/v9"

	"github.com/cardocr/cardocr/shared/quota"
)

func init() {
	quota.Register("redis", open)
	quota.Register("rediss", open)
}

// Store is a quota.Store on Redis.
type Store struct{ c *redis.Client }

func open(_ context.Context, u *url.URL) (quota.Store, error) {
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("quota: redis: bad URL: %w", err)
	}
	opt.MaxRetries = 2
	return &Store{c: redis.NewClient(opt)}, nil
}

// New returns a Store on a client.
func New(c *redis.Client) *Store { return &Store{c: c} }

const ttlSeconds = 2 * 24 * 3600

// reserve: KEYS[1] the day's hash; ARGV: tenant field, tenant limit, total
// limit, ttl. 1 when counted, 0 when a limit is reached.
var reserve = redis.NewScript(`
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
var release = redis.NewScript(`
for _, f in ipairs({ARGV[1], 'total'}) do
  if tonumber(redis.call('HGET', KEYS[1], f) or '0') > 0 then redis.call('HINCRBY', KEYS[1], f, -1) end
end
return 1
`)

func key(day string) string { return "cardocr:quota:" + day }

func (s *Store) Reserve(ctx context.Context, day string, c quota.Counters) (bool, error) {
	n, err := reserve.Run(ctx, s.c, []string{key(day)}, "t_"+c.Tenant, c.TenantLimit, c.TotalLimit, ttlSeconds).Int()
	if err != nil {
		return false, fmt.Errorf("quota: redis: %w", scrub(err))
	}
	return n == 1, nil
}

func (s *Store) Release(ctx context.Context, day string, c quota.Counters) error {
	if err := release.Run(ctx, s.c, []string{key(day)}, "t_"+c.Tenant).Err(); err != nil {
		return fmt.Errorf("quota: redis: %w", scrub(err))
	}
	return nil
}

func (s *Store) Counts(ctx context.Context, day string) (map[string]int64, error) {
	m, err := s.c.HGetAll(ctx, key(day)).Result()
	if err != nil {
		return nil, fmt.Errorf("quota: redis: %w", scrub(err))
	}
	out := map[string]int64{}
	for k, v := range m {
		n, _ := strconv.ParseInt(v, 10, 64)
		if k == "total" {
			out[""] = n
		} else {
			out[strings.TrimPrefix(k, "t_")] = n
		}
	}
	return out, nil
}

// scrub keeps a Redis error's text short of a password (go-redis does not
// echo it, but a dial error names the address only).
func scrub(err error) error { return err }

func suspendKey(provider string) string { return "cardocr:suspended:" + provider }

// Suspend sets the provider's flag, expiring at until.
func (s *Store) Suspend(ctx context.Context, provider, reason string, until time.Time) error {
	if err := s.c.Set(ctx, suspendKey(provider), reason, time.Until(until)).Err(); err != nil {
		return fmt.Errorf("quota: redis: %w", err)
	}
	return nil
}

// Suspension reads the provider's flag and when it expires.
func (s *Store) Suspension(ctx context.Context, provider string) (string, time.Time, error) {
	pipe := s.c.Pipeline()
	get := pipe.Get(ctx, suspendKey(provider))
	ttl := pipe.PTTL(ctx, suspendKey(provider))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return "", time.Time{}, fmt.Errorf("quota: redis: %w", err)
	}
	reason, err := get.Result()
	if errors.Is(err, redis.Nil) || ttl.Val() <= 0 {
		return "", time.Time{}, nil
	}
	return reason, time.Now().Add(ttl.Val()), nil
}
