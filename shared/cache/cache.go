// Package cache is the only package that talks to Valkey. It is a read-through cache
// beside the store: reads fill it, writes invalidate it. Every value carries the version
// of the row it came from, and a script refuses to overwrite a newer version with an
// older one, so a slow reader can never put back data a concurrent write replaced.
//
// The cache is optional: a nil *Cache, an unset address or a Valkey that is down all make
// every read a miss and every write a no-op, and the callers go to PostgreSQL.
package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkey-io/valkey-go"
)

// Options configures New.
type Options struct {
	URL            string   // redis://[:password@]host:port/db
	SentinelAddrs  []string // when set, the primary is found through these sentinels
	SentinelMaster string
	Password       string
	KeyPrefix      string
	TTL            time.Duration
}

// ErrDisabled is returned by a cache that has no Valkey to talk to right now.
var ErrDisabled = errors.New("cache: unavailable")

// opTimeout bounds one cache call, so a hung Valkey slows a request by at most this much.
const opTimeout = 250 * time.Millisecond

// backoff is how long the cache stays out of the way after a failure before trying again.
const backoff = time.Second

// Cache is a Valkey-backed cache. Its zero value and nil are disabled caches.
type Cache struct {
	opt    valkey.ClientOption
	prefix string
	ttl    time.Duration

	mu        sync.Mutex
	client    atomic.Pointer[valkey.Client]
	downUntil atomic.Int64 // unix nanos; while in the future, calls skip Valkey
	closed    bool

	observe Observer

	// written holds keys this process changed recently: Valkey's invalidation of our own
	// client-side copy arrives after the write's reply, so until then reads go to Valkey.
	written sync.Map // key -> time.Time
	writes  atomic.Int64
}

// SettleWindow is how long reads of a key this process wrote bypass the local copy:
// far longer than the invalidation takes to arrive, short enough to cost little.
const SettleWindow = 2 * time.Second

// pruneEvery is how many writes pass between sweeps of expired written keys, so keys that
// are written but never read again do not pile up.
const pruneEvery = 1024

func (c *Cache) wrote(key string) {
	c.written.Store(key, time.Now())
	if c.writes.Add(1)%pruneEvery == 0 {
		c.written.Range(func(k, v any) bool {
			if time.Since(v.(time.Time)) > SettleWindow {
				c.written.CompareAndDelete(k, v)
			}
			return true
		})
	}
}

func (c *Cache) recentlyWritten(key string) bool {
	v, ok := c.written.Load(key)
	if !ok {
		return false
	}
	if time.Since(v.(time.Time)) > SettleWindow {
		c.written.CompareAndDelete(key, v)
		return false
	}
	return true
}

// New returns a cache for the given Valkey, or nil when no address is configured. It does
// not fail when Valkey is down: it connects on first use and again after failures.
func New(o Options) (*Cache, error) {
	if o.URL == "" && len(o.SentinelAddrs) == 0 {
		return nil, nil
	}
	var opt valkey.ClientOption
	if len(o.SentinelAddrs) > 0 {
		opt.InitAddress = o.SentinelAddrs
		opt.Sentinel = valkey.SentinelOption{MasterSet: o.SentinelMaster, Password: o.Password}
		opt.Password = o.Password
	} else {
		var err error
		if opt, err = valkey.ParseURL(o.URL); err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		if o.Password != "" {
			opt.Password = o.Password
		}
	}
	opt.Dialer.Timeout = time.Second
	opt.ConnWriteTimeout = 500 * time.Millisecond
	opt.DisableRetry = true // a retry would only delay the fallback to PostgreSQL
	ttl := o.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &Cache{opt: opt, prefix: o.KeyPrefix, ttl: ttl}, nil
}

// TTL is how long values live.
func (c *Cache) TTL() time.Duration {
	if c == nil {
		return 0
	}
	return c.ttl
}

// get returns a connected client, connecting when there is none yet.
func (c *Cache) get() (valkey.Client, error) {
	if c == nil {
		return nil, ErrDisabled
	}
	if p := c.client.Load(); p != nil {
		if c.down() {
			return nil, ErrDisabled
		}
		return *p, nil
	}
	if c.down() {
		return nil, ErrDisabled
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.client.Load(); p != nil {
		return *p, nil
	}
	if c.closed {
		return nil, ErrDisabled
	}
	cl, err := valkey.NewClient(c.opt)
	if err != nil {
		c.markDown()
		return nil, fmt.Errorf("%w: %v", ErrDisabled, err)
	}
	c.client.Store(&cl)
	return cl, nil
}

// failed records a failed call: transport errors keep the cache out of the way for a
// while; a plain miss is not a failure.
func (c *Cache) failed(err error) error {
	if err == nil || valkey.IsValkeyNil(err) {
		return err
	}
	c.markDown()
	return err
}

// down reports whether Valkey is being skipped; the clock is read only after a failure.
func (c *Cache) down() bool {
	d := c.downUntil.Load()
	if d == 0 {
		return false
	}
	if time.Now().UnixNano() < d {
		return true
	}
	c.downUntil.CompareAndSwap(d, 0) // over: back to the clock-free check
	return false
}

func (c *Cache) markDown() { c.downUntil.Store(time.Now().Add(backoff).UnixNano()) }

// Ping checks that Valkey answers. It ignores the back-off so readiness sees recovery.
func (c *Cache) Ping(ctx context.Context) error {
	if c == nil {
		return ErrDisabled
	}
	c.downUntil.Store(0)
	cl, err := c.get()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return c.failed(cl.Do(ctx, cl.B().Ping().Build()).Error())
}

// Close releases the connections.
func (c *Cache) Close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if p := c.client.Swap(nil); p != nil {
		(*p).Close()
	}
}

// setIfNewer writes "version|value" unless the key holds a newer version, or the same
// version with data (a fill never replaces an equal fill; only an invalidation marker of
// the same version, written by the write that produced this version, may be replaced).
var setIfNewer = valkey.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if cur then
  local sep = string.find(cur, '|', 1, true)
  local v = tonumber(string.sub(cur, 1, sep - 1))
  local nv = tonumber(ARGV[1])
  if v > nv then return 0 end
  if v == nv and ARGV[3] == 'fill' and string.sub(cur, sep + 1, sep + 1) ~= 'I' then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[4])
return 1`)

// Value kinds after the version: data, an invalidation marker, or "known not to exist".
const (
	kindData    = 'D'
	kindInvalid = 'I'
	kindMissing = 'N'
)

func (c *Cache) put(ctx context.Context, key string, version int64, value, mode string) error {
	cl, err := c.get()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	args := []string{strconv.FormatInt(version, 10), value, mode, strconv.FormatInt(c.ttl.Milliseconds(), 10)}
	if mode == "invalidate" {
		c.wrote(key) // a stale copy after a fill is only a miss; after an invalidation it is wrong data
	}
	return c.failed(setIfNewer.Exec(ctx, cl, []string{key}, args).Error())
}

// parse splits a stored "version|kind[payload]" value.
func parse(s string) (version int64, kind byte, payload string, ok bool) {
	v, rest, found := strings.Cut(s, "|")
	if !found || rest == "" {
		return 0, 0, "", false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, 0, "", false
	}
	return n, rest[0], rest[1:], true
}
