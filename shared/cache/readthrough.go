package cache

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/urlshort/shortener/shared/domain"
)

// Observer is told the outcome of every read-through look-up (use: item, list, redirect).
type Observer func(use string, hit bool, err error)

// SetObserver installs the observer; metrics use it.
func (c *Cache) SetObserver(o Observer) {
	if c != nil {
		c.observe = o
	}
}

// SetLocalHitObserver installs what is told of every redirect look-up answered from this
// process's memory (the client-side cache), besides the Observer; metrics use it.
func (c *Cache) SetLocalHitObserver(o func()) {
	if c != nil {
		c.localHit = o
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
//
// A request confined to one user (an owned API key) is never answered from the cache:
// the cached copy is every reader's, and only the store's query knows whether this
// reader may see it. What it loads still fills the cache for the others.
func (c *Cache) ReadItem(ctx context.Context, it Item, id int64, load func(context.Context) (any, int64, error)) (body []byte, hit bool, err error) {
	if c != nil && domain.OwnerOf(ctx) == nil {
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
// The pages of a request confined to one user (an owned API key) are cached apart from
// everyone else's: they hold only that user's rows.
func (c *Cache) ReadList(ctx context.Context, l List, query string, load func(context.Context) (any, int64, error)) (body []byte, total int64, hit bool, err error) {
	if owner := domain.OwnerOf(ctx); owner != nil {
		query = "o" + strconv.FormatInt(*owner, 10) + ":" + query
	}
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

// ReadUser is ReadItem for a user by id.
func (c *Cache) ReadUser(ctx context.Context, id int64, load func(context.Context) (any, int64, error)) ([]byte, bool, error) {
	return c.ReadItem(ctx, UserItem, id, load)
}

// ReadURL is ReadItem for a URL by id.
func (c *Cache) ReadURL(ctx context.Context, id int64, load func(context.Context) (any, int64, error)) ([]byte, bool, error) {
	return c.ReadItem(ctx, URLItem, id, load)
}

// ReadUsers is ReadList for a page of users; query names the page.
func (c *Cache) ReadUsers(ctx context.Context, query string, load func(context.Context) (any, int64, error)) ([]byte, int64, bool, error) {
	return c.ReadList(ctx, UserList, query, load)
}

// ReadURLs is ReadList for a page of URLs; query names the filter and the page.
func (c *Cache) ReadURLs(ctx context.Context, query string, load func(context.Context) (any, int64, error)) ([]byte, int64, bool, error) {
	return c.ReadList(ctx, URLList, query, load)
}

// ReadRedirect returns what a short code points to, from the cache or, on a miss, from
// load (the store), filling the cache; hit says where it came from. A code load does not
// know (domain.NotFound) comes back as an inactive redirect and is cached as unknown, but
// only when the look-up itself worked: a failed one says nothing about what Valkey holds.
// A row is filled even when the look-up failed: the cache keeps a fill it could not make
// and replays it once Valkey answers, which repairs an entry an outage left older than
// this row. The outcome is told to the Observer (use "redirect") and a client-side hit
// to the local-hit observer. A cache failure is never the caller's failure.
//
// A code that cannot exist (domain.IsPossibleCode) is neither looked up nor kept, but
// load is still asked; callers answer such codes before any look-up.
func (c *Cache) ReadRedirect(ctx context.Context, code string, load func(context.Context, string) (domain.Redirect, error)) (domain.Redirect, bool, error) {
	lk, cerr := c.FindRedirect(ctx, code)
	if c != nil {
		if c.observe != nil {
			c.observe("redirect", lk.Hit, cerr)
		}
		if lk.Local && c.localHit != nil {
			c.localHit()
		}
	}
	if lk.Hit {
		return lk.Redirect, true, nil // Missing leaves Active false
	}
	rd, err := load(ctx, code)
	switch {
	case domain.KindOf(err) == domain.NotFound:
		if cerr == nil {
			_ = c.FillMissing(ctx, code)
		}
		return domain.Redirect{}, false, nil
	case err != nil:
		return domain.Redirect{}, false, err
	}
	if c != nil {
		_ = c.FillRedirect(ctx, code, rd)
	}
	return rd, false, nil
}
