package cache

import (
	"context"
	"encoding/json"
)

// Observer is told the outcome of every read-through look-up (use: item, list, redirect).
type Observer func(use string, hit bool, err error)

// SetObserver installs the observer; metrics use it.
func (c *Cache) SetObserver(o Observer) {
	if c != nil {
		c.observe = o
	}
}

func (c *Cache) observed(use string, hit bool, err error) {
	if c != nil && c.observe != nil {
		c.observe(use, hit, err)
	}
}

// ReadItem returns the JSON of a resource from the cache or, on a miss, from load (which
// also returns the row's version), filling the cache. hit says where it came from. A
// cache failure is never the caller's failure: it only makes a miss.
func (c *Cache) ReadItem(ctx context.Context, it Item, id int64, load func(context.Context) (any, int64, error)) (body []byte, hit bool, err error) {
	if c != nil {
		body, hit, cerr := c.GetItem(ctx, it, id)
		c.observed("item", hit, cerr)
		if hit {
			return body, true, nil
		}
	}
	v, version, err := load(ctx)
	if err != nil {
		return nil, false, err
	}
	if body, err = json.Marshal(v); err != nil {
		return nil, false, err
	}
	if c != nil {
		_ = c.FillItem(ctx, it, id, version, body)
	}
	return body, false, nil
}

// ReadList returns a page of a list family from the cache or from load, with its total.
func (c *Cache) ReadList(ctx context.Context, l List, query string, load func(context.Context) (any, int64, error)) (body []byte, total int64, hit bool, err error) {
	version, verr := int64(0), error(nil)
	// While Valkey's data is not trusted neither the version nor a page may be used, nor
	// a page filled under a version that may be older than a write this process made.
	use := c != nil && c.trusted()
	if c != nil && !use {
		verr = ErrDisabled
		if !c.isDown() {
			verr = nil
		}
		c.observed("list", false, verr)
	}
	if use {
		version, verr = c.ListVersion(ctx, l)
		if verr == nil {
			body, total, hit, verr = c.GetList(ctx, l, version, query)
		}
		c.observed("list", hit, verr)
		if hit {
			return body, total, true, nil
		}
	}
	v, total, err := load(ctx)
	if err != nil {
		return nil, 0, false, err
	}
	if body, err = json.Marshal(v); err != nil {
		return nil, 0, false, err
	}
	if use && verr == nil {
		_ = c.FillList(ctx, l, version, query, body, total)
	}
	return body, total, false, nil
}
