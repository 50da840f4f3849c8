package cache

import (
	"context"
	"encoding/json"

	"github.com/valkey-io/valkey-go"

	"github.com/urlshort/shortener/shared/domain"
)

func (c *Cache) codeKey(code string) string { return c.prefix + "code:" + code }

// Lookup is the outcome of a redirect look-up in the cache.
type Lookup struct {
	Redirect domain.Redirect
	Missing  bool // the code is known not to exist
	Hit      bool // the answer came from the cache
	Local    bool // ... and from this process's memory, without a network round trip
}

// FindRedirect looks a short code up through valkey-go's server-assisted client-side
// cache: a repeated look-up is answered from memory, and Valkey tells every instance to
// drop its copy the moment a write changes the key.
func (c *Cache) FindRedirect(ctx context.Context, code string) (Lookup, error) {
	cl, err := c.get()
	if err != nil {
		return Lookup{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	res := cl.DoCache(ctx, cl.B().Get().Key(c.codeKey(code)).Cache(), c.ttl)
	s, err := res.ToString()
	if err = c.failed(err); err != nil {
		if isNil(err) {
			return Lookup{}, nil
		}
		return Lookup{}, err
	}
	_, kind, payload, ok := parse(s)
	switch {
	case !ok || kind == kindInvalid:
		return Lookup{}, nil
	case kind == kindMissing:
		return Lookup{Missing: true, Hit: true, Local: res.IsCacheHit()}, nil
	}
	var r domain.Redirect
	if err := json.Unmarshal([]byte(payload), &r); err != nil {
		return Lookup{}, nil // unreadable: treat as a miss and refill
	}
	return Lookup{Redirect: r, Hit: true, Local: res.IsCacheHit()}, nil
}

// FillRedirect caches what the store said about a code.
func (c *Cache) FillRedirect(ctx context.Context, code string, r domain.Redirect) error {
	if c == nil {
		return ErrDisabled
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return c.put(ctx, c.codeKey(code), r.Version, string(kindData)+string(b), "fill")
}

// FillMissing caches that a code does not exist. Version 0 is older than any row, so the
// creation of the code always replaces it.
func (c *Cache) FillMissing(ctx context.Context, code string) error {
	if c == nil {
		return ErrDisabled
	}
	return c.put(ctx, c.codeKey(code), 0, string(kindMissing), "fill")
}

// InvalidateRedirect drops a code after a write that produced version.
func (c *Cache) InvalidateRedirect(ctx context.Context, code string, version int64) error {
	if c == nil {
		return ErrDisabled
	}
	return c.put(ctx, c.codeKey(code), version, string(kindInvalid), "invalidate")
}

func isNil(err error) bool { return valkey.IsValkeyNil(err) }
