package cache

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valkey-io/valkey-go"
)

// InvalidationObserver is told what happens to writes that did not reach Valkey at once:
// event is "kept" (a write that did not land is now pending: an invalidation, a list
// bump or a fill), "failed" (the kept write was an invalidation or list bump, whose write
// had just been made), "replayed" (a pending write landed later), "dropped" (one was not
// kept: too many were pending) or "expired" (one was given up after the TTL, when every
// older entry had expired anyway); pending is how many this process holds afterwards.
type InvalidationObserver func(event string, pending int)

// SetInvalidationObserver installs the observer; metrics use it.
func (c *Cache) SetInvalidationObserver(o InvalidationObserver) {
	if c != nil {
		c.invObserve = o
	}
}

func (c *Cache) invObserved(event string, n, pending int) {
	if c.invObserve != nil {
		for range n {
			c.invObserve(event, pending)
		}
	}
}

// Replay timing: a pending write is retried every retryEvery; a process that saw Valkey
// fail trusts what it reads there again only trustGrace after Valkey answered it, so the
// replays of every other process (retried as often) have landed first.
const (
	retryEvery = 100 * time.Millisecond
	trustGrace = 10 * retryEvery
	// replayBatch is how many pending writes one round sends in a pipeline.
	replayBatch = 256
	// maxPending bounds the memory of a long outage; fills (repairs, which correctness
	// does not rest on) are kept only while fewer than maxPendingFills are pending.
	maxPending      = 65536
	maxPendingFills = 8192
	// expirySlack covers a command a stalled Valkey executes late, after this process
	// saw the last failure: it is executed as soon as Valkey runs again.
	expirySlack = 2 * time.Second
)

// distrustForever marks trustAfter until Valkey has answered after a failure.
const distrustForever = math.MaxInt64

// distrust makes what Valkey holds suspect until it answered and the grace period passed.
func (c *Cache) distrust() { c.trustAfter.Store(distrustForever) }

// trusted reports whether data read from Valkey may be used: not while this process has
// writes that did not land, nor before trustGrace has passed since Valkey answered after
// a failure. Two atomic loads when nothing was wrong.
func (c *Cache) trusted() bool {
	if c.trustAfter.Load() == 0 && c.pending.n.Load() == 0 {
		return true
	}
	if c.pending.n.Load() != 0 {
		return false
	}
	t := c.trustAfter.Load()
	if t == 0 {
		return true
	}
	if t == distrustForever {
		c.probe()
		return false
	}
	if time.Now().UnixNano() < t {
		return false
	}
	c.trustAfter.CompareAndSwap(t, 0)
	return true
}

// probe pings Valkey in the background, one probe at a time and at most every
// retryEvery, so that a process whose reads all skip Valkey while it is not trusted
// (lists, say) still learns that it answers again. It ignores the back-off: the reads
// that would otherwise probe after it do not ask Valkey while it is not trusted.
func (c *Cache) probe() {
	now := time.Now().UnixNano()
	last := c.lastProbe.Load()
	if now-last < int64(retryEvery) || !c.lastProbe.CompareAndSwap(last, now) {
		return
	}
	go func() { _ = c.Ping(context.Background()) }()
}

// Kinds of pending write.
const (
	modeFill       = "fill"
	modeInvalidate = "invalidate"
	modeBump       = "bump" // a list family's version, incremented
)

// pendingWrite is a write that did not reach Valkey: an invalidation or list bump after a
// database write, or a fill of what this process read from the database meanwhile.
type pendingWrite struct {
	mode    string
	version int64  // the row version (not for bumps)
	value   string // what goes after "version|" (not for bumps)
	seq     uint64 // identifies this entry, so a replay removes only what it sent
	at      time.Time
}

// pendingSet holds the pending writes of one process by key.
type pendingSet struct {
	mu        sync.Mutex
	m         map[string]pendingWrite
	seq       uint64
	replaying bool
	n         atomic.Int64 // len(m), read without the lock on the hot path
}

// keep records a write that did not land and starts the replays. A newer version
// replaces an older one (the script would refuse the older anyway); for the same version
// an invalidation marker gives way to data, which is as new and answers reads.
func (c *Cache) keep(key string, w pendingWrite) {
	p := &c.pending
	p.mu.Lock()
	if p.m == nil {
		p.m = map[string]pendingWrite{}
	}
	cur, ok := p.m[key]
	switch {
	case ok && w.mode != modeBump && (w.version < cur.version || w.version == cur.version && w.mode != modeFill):
		p.mu.Unlock()
		return
	case !ok && (len(p.m) >= maxPending || w.mode == modeFill && len(p.m) >= maxPendingFills):
		n := len(p.m)
		p.mu.Unlock()
		c.invObserved("dropped", 1, n)
		return
	}
	p.seq++
	w.seq = p.seq
	p.m[key] = w
	p.n.Store(int64(len(p.m)))
	start := !p.replaying
	p.replaying = true
	n := len(p.m)
	p.mu.Unlock()
	c.invObserved("kept", 1, n)
	if start {
		go c.replayLoop()
	}
}

// pendingVersion returns the version of a pending write of key.
func (c *Cache) pendingVersion(key string) (int64, bool) {
	if c.pending.n.Load() == 0 {
		return 0, false
	}
	c.pending.mu.Lock()
	defer c.pending.mu.Unlock()
	w, ok := c.pending.m[key]
	return w.version, ok
}

// pendingSeq returns the sequence number of a pending write of key, or 0.
func (c *Cache) pendingSeq(key string) uint64 {
	if c.pending.n.Load() == 0 {
		return 0
	}
	c.pending.mu.Lock()
	defer c.pending.mu.Unlock()
	return c.pending.m[key].seq
}

// landed removes what a successful write made unnecessary: a versioned write leaves
// Valkey holding that version or a newer one, which covers every pending write of that
// version or older; a bump covers the pending bump that existed when it was sent (seq).
func (c *Cache) landed(key string, version int64, seq uint64, bump bool) {
	if c.pending.n.Load() == 0 {
		return
	}
	p := &c.pending
	p.mu.Lock()
	w, ok := p.m[key]
	if ok && (bump && w.seq == seq || !bump && w.mode != modeBump && w.version <= version) {
		delete(p.m, key)
		p.n.Store(int64(len(p.m)))
	} else {
		ok = false
	}
	n := len(p.m)
	p.mu.Unlock()
	if ok {
		c.invObserved("replayed", 1, n)
	}
}

// replayLoop retries the pending writes every retryEvery until none is left. It ignores
// the back-off: it is this process's probe of a Valkey that failed.
func (c *Cache) replayLoop() {
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		<-t.C
		c.replay(context.Background())
		p := &c.pending
		p.mu.Lock()
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if len(p.m) == 0 || closed {
			p.replaying = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
}

// replay sends one batch of pending writes and returns whether Valkey answered.
func (c *Cache) replay(ctx context.Context) bool {
	type item struct {
		key string
		w   pendingWrite
	}
	p := &c.pending
	p.mu.Lock()
	var expired []string
	batch := make([]item, 0, min(len(p.m), replayBatch))
	sinceFailure := time.Since(time.Unix(0, c.lastFailure.Load()))
	for k, w := range p.m {
		// Every entry older than this write has expired by now, including one a stalled
		// Valkey executed late (it runs as soon as Valkey does, and this process sees
		// failures until then): giving up loses nothing.
		if time.Since(w.at) > c.ttl+expirySlack && sinceFailure > c.ttl+expirySlack {
			expired = append(expired, k)
			continue
		}
		if len(batch) < replayBatch {
			batch = append(batch, item{k, w})
		}
	}
	for _, k := range expired {
		delete(p.m, k)
	}
	p.n.Store(int64(len(p.m)))
	n := len(p.m)
	p.mu.Unlock()
	c.invObserved("expired", len(expired), n)
	if len(batch) == 0 {
		return true
	}

	cl, err := c.conn()
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	var execs []valkey.LuaExec
	var bumps valkey.Commands
	ttl := strconv.FormatInt(c.ttl.Milliseconds(), 10)
	for _, it := range batch {
		if it.w.mode == modeBump {
			bumps = append(bumps, cl.B().Incr().Key(it.key).Build())
			continue
		}
		execs = append(execs, valkey.LuaExec{Keys: []string{it.key},
			Args: []string{strconv.FormatInt(it.w.version, 10), it.w.value, it.w.mode, ttl}})
	}
	var results []valkey.ValkeyResult
	if len(execs) > 0 {
		results = setIfNewer.ExecMulti(ctx, cl, execs...)
	}
	if len(bumps) > 0 {
		results = append(results, cl.DoMulti(ctx, bumps...)...)
	}
	ok := true
	ei, bi := 0, len(execs)
	for _, it := range batch {
		i := &ei
		if it.w.mode == modeBump {
			i = &bi
		}
		err := results[*i].Error()
		*i++
		if c.failed(err) != nil {
			// An error reply (Valkey answered but refused, out of memory say) is retried
			// like a timeout, without taking Valkey for down.
			if _, answered := valkey.IsValkeyErr(err); !answered {
				ok = false
			}
			continue
		}
		if it.w.mode == modeBump {
			c.wrote(it.key)
		}
		c.landed(it.key, it.w.version, it.w.seq, it.w.mode == modeBump)
	}
	return ok
}

// flush replays until nothing is pending, Valkey fails, or within has passed.
func (p *pendingSet) flush(c *Cache, within time.Duration) {
	deadline := time.Now().Add(within)
	for p.n.Load() > 0 && time.Now().Before(deadline) {
		if !c.replay(context.Background()) {
			return
		}
	}
}

// awaitNotice returns once every instance has had the time to notice the hang this
// process saw (their hung connections closed, their local copies dropped), so that a
// write whose invalidation failed does not return while another instance may still
// answer from a copy older than it.
func (c *Cache) awaitNotice(ctx context.Context) {
	f := c.hungAt.Load()
	if f == 0 {
		return
	}
	d := time.Until(time.Unix(0, f).Add(noticeWindow))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
