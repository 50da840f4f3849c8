package cache

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/valkey-io/valkey-go"
)

// RateResult is the outcome of one RateLimit call.
type RateResult struct {
	Allowed   bool
	Remaining int // requests still allowed at once after this one
	// RetryAfter is, for a refused request, how long until one more would pass.
	RetryAfter time.Duration
	// ResetAfter is how long until the whole limit is available again.
	ResetAfter time.Duration
}

// ErrBadRate is returned by RateLimit for a limit or period that is not positive.
var ErrBadRate = errors.New("cache: rate limit and period must be positive")

// rateTimeout bounds one rate-limit call: a limit is checked on the way into a request,
// so a hung Valkey must cost it no more than a look-up does before the caller counts in
// its own memory instead.
const rateTimeout = readTimeout

func (c *Cache) rateKey(key string) string { return c.prefix + "rate:" + key }

// gcra is the generic cell rate algorithm (as github.com/go-redis/redis_rate runs it) in
// one script, so that every instance shares one limit per key and no two can both take
// the last request. It keeps one number per key, the theoretical arrival time (TAT, in
// microseconds of the server's clock, so instances with skewed clocks still agree), which
// expires when it is no longer ahead of now: an absent key is a full allowance.
//
// GCRA rather than a fixed window: a fixed window lets a client send its whole limit at
// the end of one window and again at the start of the next (twice the limit within
// moments), and its count needs a second key or command for the expiry. GCRA allows at
// most the limit in any burst, refills one request every period/limit, and tells a refused
// client exactly when the next request would pass.
//
// ARGV[1] is the emission interval (period / limit) and ARGV[2] the period, both in
// microseconds. It returns {allowed, remaining, retry after µs, reset after µs}. Numbers
// stay below 2^53, so Lua's doubles hold them exactly; the TAT is written with %.0f
// because Lua's default number format would round it to 14 digits. Redis 5 and later
// (and every Valkey) replicate a script's effects, so calling TIME before a write is
// allowed.
var gcra = valkey.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '') or now
if tat < now then tat = now end
local new = tat + interval
local diff = now - (new - period)
if diff < 0 then
  return {0, 0, -diff, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', new), 'PX', math.ceil((new - now) / 1000))
return {1, math.floor(diff / interval), 0, new - now}`)

// RateLimit counts one request of key against limit requests per period, shared with
// every instance that uses the same Valkey and key prefix. It returns ErrDisabled (or
// the call's error) when Valkey cannot answer right now; the caller then counts in its
// own memory, so a request is never refused because Valkey is down. A nil *Cache is
// always disabled.
func (c *Cache) RateLimit(ctx context.Context, key string, limit int, period time.Duration) (RateResult, error) {
	if limit <= 0 || period <= 0 {
		return RateResult{}, ErrBadRate
	}
	cl, err := c.get()
	if err != nil {
		return RateResult{}, err
	}
	interval := max(period.Microseconds()/int64(limit), 1)
	ctx, cancel := context.WithTimeout(ctx, rateTimeout)
	defer cancel()
	args := []string{strconv.FormatInt(interval, 10), strconv.FormatInt(period.Microseconds(), 10)}
	v, err := gcra.Exec(ctx, cl, []string{c.rateKey(key)}, args).AsIntSlice()
	if err = c.failed(err); err != nil {
		return RateResult{}, err
	}
	if len(v) != 4 {
		return RateResult{}, errors.New("cache: rate limit script answered " + strconv.Itoa(len(v)) + " values")
	}
	return RateResult{
		Allowed:    v[0] == 1,
		Remaining:  int(v[1]),
		RetryAfter: time.Duration(v[2]) * time.Microsecond,
		ResetAfter: time.Duration(v[3]) * time.Microsecond,
	}, nil
}
