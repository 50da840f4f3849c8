package cache

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/valkey-io/valkey-go"
)

// List names a family of cached list queries. Each family has a version number; a write
// bumps it, which makes every cached page of the family unreachable at once without KEYS
// or SCAN (the old pages expire with their TTL).
type List string

// The list families.
const (
	UserList List = "users"
	URLList  List = "urls"
)

func (c *Cache) listVersionKey(l List) string { return c.prefix + "listver:" + string(l) }

func (c *Cache) listKey(l List, version int64, query string) string {
	return c.prefix + "list:" + string(l) + ":" + strconv.FormatInt(version, 10) + ":" + query
}

// ListVersion returns a family's current version, from this process's memory when it
// can (Valkey invalidates that copy when a write bumps it).
func (c *Cache) ListVersion(ctx context.Context, l List) (int64, error) {
	cl, err := c.get()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	key := c.listVersionKey(l)
	var res valkey.ValkeyResult
	if c.recentlyWritten(key) {
		res = cl.Do(ctx, cl.B().Get().Key(key).Build())
	} else {
		res = cl.DoCache(ctx, cl.B().Get().Key(key).Cache(), c.ttl)
	}
	v, err := res.AsInt64()
	if err == nil && res.IsCacheHit() {
		return v, nil // a local hit says nothing about Valkey (see failed)
	}
	if err = c.failed(err); err != nil {
		if isNil(err) {
			return 0, nil
		}
		return 0, err
	}
	return v, nil
}

// GetList returns a cached page (its JSON and total count) of a family at version; ok
// is false on a miss, and while Valkey's data cannot be trusted (see the package doc).
func (c *Cache) GetList(ctx context.Context, l List, version int64, query string) (body []byte, total int64, ok bool, err error) {
	cl, err := c.get()
	if err != nil {
		return nil, 0, false, err
	}
	if !c.trusted() {
		return nil, 0, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	s, err := cl.Do(ctx, cl.B().Get().Key(c.listKey(l, version, query)).Build()).ToString()
	if err = c.failed(err); err != nil {
		if isNil(err) {
			return nil, 0, false, nil
		}
		return nil, 0, false, err
	}
	n, rest, found := strings.Cut(s, "|")
	if total, err = strconv.ParseInt(n, 10, 64); !found || err != nil {
		return nil, 0, false, nil
	}
	return []byte(rest), total, true, nil
}

// maxListBytes keeps huge unpaginated lists out of the cache: they would cost Valkey
// memory and network for little gain.
const maxListBytes = 1 << 20

// FillList caches a page read at version. Nothing is filled while this process has a
// bump of the family pending: the version it read is older than its own write.
func (c *Cache) FillList(ctx context.Context, l List, version int64, query string, body []byte, total int64) error {
	if len(body) > maxListBytes {
		return nil
	}
	cl, err := c.get()
	if err != nil {
		return err
	}
	if c.pendingSeq(c.listVersionKey(l)) != 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	v := strconv.FormatInt(total, 10) + "|" + string(body)
	return c.failed(cl.Do(ctx, cl.B().Set().Key(c.listKey(l, version, query)).Value(v).Px(c.ttl).Build()).Error())
}

// BumpList invalidates every cached page of the families after a write. A bump Valkey
// does not take is kept and replayed (an extra increment, should the first have landed
// after all, only costs a miss); the error says only that it did not land yet.
func (c *Cache) BumpList(ctx context.Context, ls ...List) error {
	if c == nil {
		return ErrDisabled
	}
	keys := make([]string, len(ls))
	seqs := make([]uint64, len(ls))
	for i, l := range ls {
		keys[i] = c.listVersionKey(l)
		seqs[i] = c.pendingSeq(keys[i])
		c.wrote(keys[i])
	}
	cl, err := c.get()
	var failed []string
	if err != nil {
		failed = keys
	} else {
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		cmds := make(valkey.Commands, 0, len(ls))
		for _, k := range keys {
			cmds = append(cmds, cl.B().Incr().Key(k).Build())
		}
		for i, r := range cl.DoMulti(wctx, cmds...) {
			if rerr := c.failed(r.Error()); rerr != nil {
				err = rerr
				failed = append(failed, keys[i])
				continue
			}
			c.landed(keys[i], 0, seqs[i], true)
		}
		cancel()
	}
	if len(failed) == 0 || len(c.opt.InitAddress) == 0 {
		return err
	}
	for _, k := range failed {
		c.keep(k, pendingWrite{mode: modeBump, at: time.Now()})
	}
	c.invObserved("failed", len(failed), int(c.pending.n.Load()))
	c.awaitNotice(ctx)
	return err
}

// DeleteAll removes every key under the cache's prefix and returns how many it removed.
// It is for starting over on a fresh database, whose row versions begin again at 1: the
// old database's entries would otherwise outrank the new rows until their TTL.
func (c *Cache) DeleteAll(ctx context.Context) (int, error) {
	cl, err := c.get()
	if err != nil {
		return 0, err
	}
	n, cursor := 0, uint64(0)
	for {
		res, err := cl.Do(ctx, cl.B().Scan().Cursor(cursor).Match(c.prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return n, err
		}
		if len(res.Elements) > 0 {
			if err := cl.Do(ctx, cl.B().Unlink().Key(res.Elements...).Build()).Error(); err != nil {
				return n, err
			}
			n += len(res.Elements)
		}
		if cursor = res.Cursor; cursor == 0 {
			return n, nil
		}
	}
}
