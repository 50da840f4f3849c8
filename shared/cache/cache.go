// Package cache is the only package that talks to Valkey. It is a read-through cache
// beside the store: reads fill it, writes invalidate it. Every value carries the version
// of the row it came from, and a script refuses to overwrite a newer version with an
// older one, so a slow reader can never put back data a concurrent write replaced.
//
// The cache is optional: a nil *Cache, an unset address or a Valkey that is down all make
// every read a miss and every write a no-op, and the callers go to PostgreSQL.
//
// Callers name resources, not keys: they read through ReadUser, ReadURLs, ReadRedirect and
// the like, and after a database write they call the one method of its kind (URLCreated,
// URLWritten, UserCreated, UserWritten, UserDeleted, UsersImporting, UsersImported, in
// writes.go), which decides every item, redirect and list key the write makes stale.
// Those methods return nothing: what does not land is the cache's to keep, replay and
// count (below), not the caller's.
//
// # A write wins even when its invalidation does not reach Valkey
//
// A Valkey that hangs (SIGSTOP, a stalled node: connections stay open, nothing answers)
// would otherwise keep the entry a write replaced, and every instance would read it back
// once Valkey answers again, until its TTL. So:
//
//   - Every cache call has a short deadline (100 ms for reads and fills, 250 ms for
//     invalidations; redirect look-ups share one, see findCtx). After a failure the
//     process leaves Valkey alone for a second, then one call probes it while the others
//     still go to PostgreSQL. A hung Valkey costs what a dead one does.
//   - An invalidation (or list bump) that did not land is kept by the process that wrote
//     and retried every 100 ms until it lands; so is a fill of a row the process read from
//     PostgreSQL while Valkey was away, which repairs the entry even if the writer is gone.
//     The process never fills a key with a version older than one it holds pending. A
//     pending write is dropped only once it landed, or when CACHE_TTL (plus 2 s) has passed
//     both since it was made and since this process last saw Valkey fail: by then every
//     older entry has expired, including one a stalled Valkey executed late. At most
//     65,536 are kept (fills only up to 8,192); beyond that new ones are dropped, counted.
//   - While a process holds pending writes, and for a second after Valkey first answered
//     it again after any failure (or after it lost a connection that carried its
//     client-side cache), it trusts nothing it could read from Valkey: reads are misses
//     answered by PostgreSQL, whose fills (version-guarded) repair stale entries. That
//     second is ten retry periods: the other writers' replays land before it ends.
//   - A local (client-side) copy is only as good as the connection that would carry its
//     invalidation. valkey-go pings a connection that received nothing for 250 ms and
//     closes it when the answer takes 250 ms, which drops its copies: within 750 ms of a
//     hang every instance has dropped them. A write whose invalidation of a redirect or
//     list version failed returns no earlier than 850 ms after its process first saw a
//     call time out (a refused connection drops the copies at once and needs no wait):
//     once it returned, no instance still holds a copy from before it. Writes in the
//     first second of a hang take up to about a second for it.
//
// What is left: an instance that saw no failure at all (started, or first used Valkey,
// after Valkey came back) may read an older entry until the writer's replay lands, at
// most a few hundred milliseconds after Valkey answers the writer again. If the writing
// process dies (SIGKILL, or SIGTERM while Valkey still hangs; Close replays for up to a
// second) before its invalidation landed, and no instance read the row from PostgreSQL
// while Valkey was away (whose fill would repair it), the older entry is served until
// its TTL ends: at most CACHE_TTL after the write (after Valkey runs again, if it hung:
// a fill sent into the hang runs then). A writer cut off from a Valkey that
// other instances still reach (a partition) has the same bound. Making this durable
// would take a record in PostgreSQL beside the write, replayed by whoever comes next;
// the TTL bounds it instead.
package cache

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
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

// Deadlines of one cache call, so a hung Valkey slows a request by at most this much.
// Valkey answers in well under a millisecond; these leave room for a loaded node and a
// garbage-collection pause, not for a stall.
const (
	readTimeout  = 100 * time.Millisecond // look-ups and fills
	writeTimeout = 250 * time.Millisecond // invalidations and list bumps
)

// backoff is how long the cache stays out of the way after a failure before one call
// probes Valkey again.
const backoff = time.Second

// How valkey-go notices a hung connection: it pings a connection that received nothing
// for pingGap and closes it when an answer takes connTimeout; closing drops the
// connection's client-side copies. A connection that did receive something in the last
// gap is pinged one gap later, so a hang is noticed within 2*pingGap + connTimeout.
const (
	pingGap     = 250 * time.Millisecond
	connTimeout = 250 * time.Millisecond
	// noticeWindow is how long after a hang every instance has dropped its local
	// copies, with a margin for timers on a loaded machine.
	noticeWindow = 2*pingGap + connTimeout + 100*time.Millisecond
)

// Cache is a Valkey-backed cache. Its zero value and nil are disabled caches.
type Cache struct {
	opt    valkey.ClientOption
	prefix string
	ttl    time.Duration

	mu        sync.Mutex
	client    atomic.Pointer[valkey.Client]
	downUntil atomic.Int64 // unix nanos; while in the future, calls skip Valkey
	closed    bool

	// hungAt is when this process first saw a call time out in the current outage (unix
	// nanos, 0 once Valkey answers): a hang, unlike a refused connection, leaves other
	// instances holding local copies until they notice. lastFailure is when it last saw
	// a call fail.
	hungAt, lastFailure atomic.Int64
	// trustAfter is when data read from Valkey may be used again (unix nanos): 0 when it
	// may, distrustForever until Valkey answered after a failure.
	trustAfter atomic.Int64
	lastProbe  atomic.Int64 // unix nanos

	pending pendingSet

	deadline atomic.Pointer[sharedDeadline]

	observe    Observer
	localHit   func() // a redirect look-up answered from this process's memory
	invObserve InvalidationObserver

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
	opt.Dialer.KeepAlive = pingGap
	opt.ConnWriteTimeout = connTimeout
	opt.DisableRetry = true // a retry would only delay the fallback to PostgreSQL
	ttl := o.TTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	c := &Cache{opt: opt, prefix: o.KeyPrefix, ttl: ttl}
	// valkey-go reports a lost connection (and a server-side flush) as an invalidation of
	// everything: the local copies are gone, and so is the channel that would have told
	// us about writes meanwhile.
	c.opt.OnInvalidations = func(keys []valkey.ValkeyMessage) {
		if keys == nil {
			c.distrust()
		}
	}
	return c, nil
}

// TTL is how long values live.
func (c *Cache) TTL() time.Duration {
	if c == nil {
		return 0
	}
	return c.ttl
}

// get returns a connected client, connecting when there is none yet, unless Valkey is
// being left alone after a failure.
func (c *Cache) get() (valkey.Client, error) {
	if c == nil {
		return nil, ErrDisabled
	}
	if c.down() {
		return nil, ErrDisabled
	}
	return c.conn()
}

// conn returns a connected client whether or not Valkey is being left alone.
func (c *Cache) conn() (valkey.Client, error) {
	if p := c.client.Load(); p != nil {
		return *p, nil
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
		return nil, c.failed(fmt.Errorf("%w: %w", ErrDisabled, err))
	}
	c.client.Store(&cl)
	return cl, nil
}

// failed records the outcome of a call: transport errors keep the cache out of the way
// for a while and make what Valkey holds suspect; an answer, even a miss or a refusal,
// shows Valkey is back. A call the caller gave up on says nothing about Valkey.
func (c *Cache) failed(err error) error {
	if err == nil || valkey.IsValkeyNil(err) {
		c.answered()
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if _, ok := valkey.IsValkeyErr(err); ok {
		c.answered()
		return err
	}
	if timedOut(err) {
		c.hungAt.CompareAndSwap(0, time.Now().UnixNano())
	}
	c.markDown()
	return err
}

// timedOut reports whether a call failed by waiting out a deadline rather than being
// refused.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout()
}

// answered records that Valkey answered: the back-off ends, and trust returns after the
// grace period (see trusted). Three atomic loads when nothing was wrong.
func (c *Cache) answered() {
	if c.downUntil.Load() != 0 {
		c.downUntil.Store(0)
	}
	if c.hungAt.Load() != 0 {
		c.hungAt.Store(0)
	}
	if c.trustAfter.Load() == distrustForever {
		c.trustAfter.CompareAndSwap(distrustForever, time.Now().Add(trustGrace).UnixNano())
	}
}

// down reports whether Valkey is being skipped; the clock is read only after a failure.
// When the back-off is over, exactly one caller probes Valkey: the others keep going to
// PostgreSQL until it answers, instead of all waiting out a deadline together.
func (c *Cache) down() bool {
	d := c.downUntil.Load()
	if d == 0 {
		return false
	}
	now := time.Now().UnixNano()
	if now < d {
		return true
	}
	return !c.downUntil.CompareAndSwap(d, now+int64(backoff))
}

// isDown reports whether Valkey is being left alone, without probing it.
func (c *Cache) isDown() bool {
	d := c.downUntil.Load()
	return d != 0 && time.Now().UnixNano() < d
}

func (c *Cache) markDown() {
	now := time.Now()
	c.downUntil.Store(now.Add(backoff).UnixNano())
	c.lastFailure.Store(now.UnixNano())
	c.distrust()
}

// Ping checks that Valkey answers. It ignores the back-off so readiness sees recovery.
func (c *Cache) Ping(ctx context.Context) error {
	if c == nil {
		return ErrDisabled
	}
	cl, err := c.conn()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	return c.failed(cl.Do(ctx, cl.B().Ping().Build()).Error())
}

// Close replays what is still pending (for at most a second: a process scaled down
// should not leave its invalidations behind) and releases the connections.
func (c *Cache) Close() {
	if c == nil {
		return
	}
	c.pending.flush(c, time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if p := c.client.Swap(nil); p != nil {
		(*p).Close()
	}
	if d := c.deadline.Swap(nil); d != nil {
		d.cancel()
	}
}

// sharedDeadline is a deadline shared by the redirect look-ups of a moment: a timer per
// redirect would cost more than a client-side hit, so one context serves every look-up
// for half its lifetime, and each gets between half and all of findTimeout.
type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
	renew  int64 // unix nanos
}

// findTimeout bounds a redirect look-up that leaves the process.
const findTimeout = readTimeout

// findCtx returns a context whose deadline is at most findTimeout away. It does not
// follow the request's cancellation: the look-up is bounded anyway.
func (c *Cache) findCtx() context.Context {
	now := time.Now().UnixNano()
	if d := c.deadline.Load(); d != nil && now < d.renew {
		return d.ctx
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, now+int64(findTimeout)))
	c.deadline.Store(&sharedDeadline{ctx: ctx, cancel: cancel, renew: now + int64(findTimeout/2)})
	return ctx
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

// put writes a versioned value. One that does not land is kept and replayed (see the
// package doc): an invalidation always, a fill when it carries a row, which repairs what
// Valkey may still hold from before the outage. tracked says whether instances keep local
// copies of key, so that a failed invalidation also waits until they dropped them.
func (c *Cache) put(ctx context.Context, key string, version int64, value, mode string, tracked bool) error {
	if mode == modeFill {
		if pv, ok := c.pendingVersion(key); ok && version < pv {
			return nil // older than what this process already knows: never written back
		}
	} else {
		c.wrote(key) // a stale copy after a fill is only a miss; after an invalidation it is wrong data
	}
	cl, err := c.get()
	if err == nil {
		timeout := readTimeout
		if mode == modeInvalidate {
			timeout = writeTimeout
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		args := []string{strconv.FormatInt(version, 10), value, mode, strconv.FormatInt(c.ttl.Milliseconds(), 10)}
		err = c.failed(setIfNewer.Exec(wctx, cl, []string{key}, args).Error())
		cancel()
	}
	if err == nil {
		c.landed(key, version, 0, false)
		return nil
	}
	if len(c.opt.InitAddress) == 0 {
		return err // a zero Cache has no Valkey to replay to
	}
	if mode == modeInvalidate || version > 0 {
		c.keep(key, pendingWrite{mode: mode, version: version, value: value, at: time.Now()})
	}
	if mode == modeInvalidate {
		c.invObserved("failed", 1, int(c.pending.n.Load()))
		if tracked {
			c.awaitNotice(ctx)
		}
	}
	return err
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
