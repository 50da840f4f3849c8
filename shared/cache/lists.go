package cache

import (
	"context"
	"strconv"
	"strings"

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
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	key := c.listVersionKey(l)
	var res valkey.ValkeyResult
	if c.recentlyWritten(key) {
		res = cl.Do(ctx, cl.B().Get().Key(key).Build())
	} else {
		res = cl.DoCache(ctx, cl.B().Get().Key(key).Cache(), c.ttl)
	}
	v, err := res.AsInt64()
	if err = c.failed(err); err != nil {
		if isNil(err) {
			return 0, nil
		}
		return 0, err
	}
	return v, nil
}

// GetList returns a cached page (its JSON and total count) of a family at version.
func (c *Cache) GetList(ctx context.Context, l List, version int64, query string) (body []byte, total int64, ok bool, err error) {
	cl, err := c.get()
	if err != nil {
		return nil, 0, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
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

// FillList caches a page read at version.
func (c *Cache) FillList(ctx context.Context, l List, version int64, query string, body []byte, total int64) error {
	if len(body) > maxListBytes {
		return nil
	}
	cl, err := c.get()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	v := strconv.FormatInt(total, 10) + "|" + string(body)
	return c.failed(cl.Do(ctx, cl.B().Set().Key(c.listKey(l, version, query)).Value(v).Px(c.ttl).Build()).Error())
}

// BumpList invalidates every cached page of the families after a write.
func (c *Cache) BumpList(ctx context.Context, ls ...List) error {
	cl, err := c.get()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	cmds := make(valkey.Commands, 0, len(ls))
	for _, l := range ls {
		c.wrote(c.listVersionKey(l))
		cmds = append(cmds, cl.B().Incr().Key(c.listVersionKey(l)).Build())
	}
	for _, r := range cl.DoMulti(ctx, cmds...) {
		if err := c.failed(r.Error()); err != nil {
			return err
		}
	}
	return nil
}
