package cache

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/urlshort/shortener/shared/domain"
)

// The principals of API keys are cached like redirects: in every process's memory through
// valkey-go's server-assisted client-side cache, so an authenticated request costs no
// round trip once its key was seen, and a revocation (a newer version written to the key)
// makes Valkey tell every instance to drop its copy at once. The key is the hash of the
// API key, never the secret.
func (c *Cache) principalKey(hash []byte) string { return c.prefix + "key:" + hex.EncodeToString(hash) }

// FindPrincipal looks a key's hash up. ok is false on a miss, while Valkey's data is not
// trusted, and on any failure: the caller then asks the store.
func (c *Cache) FindPrincipal(_ context.Context, hash []byte) (p domain.Principal, missing, ok bool) {
	cl, err := c.get()
	if err != nil || !c.trusted() {
		return p, false, false
	}
	ctx := c.findCtx()
	key := c.principalKey(hash)
	var res valkey.ValkeyResult
	if c.recentlyWritten(key) {
		res = cl.Do(ctx, cl.B().Get().Key(key).Build())
	} else {
		res = cl.DoCache(ctx, cl.B().Get().Key(key).Cache(), c.ttl)
	}
	s, err := res.ToString()
	if err != nil || !res.IsCacheHit() {
		if c.failed(err) != nil {
			return p, false, false
		}
	}
	_, kind, payload, parsed := parse(s)
	switch {
	case !parsed || kind == kindInvalid:
		return p, false, false
	case kind == kindMissing:
		return p, true, true
	}
	p, ok = decodePrincipal(payload)
	return p, false, ok
}

// FillPrincipal caches what the store said about a key.
func (c *Cache) FillPrincipal(ctx context.Context, hash []byte, p domain.Principal) error {
	if c == nil {
		return ErrDisabled
	}
	return c.put(ctx, c.principalKey(hash), p.Version, string(kindData)+encodePrincipal(p), modeFill, true)
}

// FillUnknownKey caches that no key has this hash. Version 0 is older than any row.
func (c *Cache) FillUnknownKey(ctx context.Context, hash []byte) error {
	if c == nil {
		return ErrDisabled
	}
	return c.put(ctx, c.principalKey(hash), 0, string(kindMissing), modeFill, true)
}

// InvalidatePrincipal drops a key's cached principal after a write (its revocation) that
// left version. Like every invalidation it is replayed until it lands.
func (c *Cache) InvalidatePrincipal(ctx context.Context, k domain.KeyRef) error {
	if c == nil {
		return ErrDisabled
	}
	return c.put(ctx, c.principalKey(k.Hash), k.Version, string(kindInvalid), modeInvalidate, true)
}

// KeyRevoked is told of a revoked key: its principal goes from every instance.
func (c *Cache) KeyRevoked(ctx context.Context, k domain.KeyRef) {
	_ = c.InvalidatePrincipal(ctx, k)
}

// ReadPrincipal resolves a key's hash from the cache or, on a miss, from load (the store),
// filling the cache. An unknown hash comes back as domain.NotFound, cached as unknown. A
// cache failure is never the caller's failure.
func (c *Cache) ReadPrincipal(ctx context.Context, hash []byte, load func(context.Context, []byte) (domain.Principal, error)) (domain.Principal, error) {
	if c != nil {
		p, missing, ok := c.FindPrincipal(ctx, hash)
		if ok {
			if missing {
				return p, domain.Errorf(domain.NotFound, "api key not found")
			}
			return p, nil
		}
	}
	p, err := load(ctx, hash)
	switch {
	case domain.KindOf(err) == domain.NotFound:
		if c != nil {
			_ = c.FillUnknownKey(ctx, hash)
		}
		return p, err
	case err != nil:
		return p, err
	}
	if c != nil {
		_ = c.FillPrincipal(ctx, hash, p)
	}
	return p, nil
}

// encodePrincipal writes "keyID|scope|userID|expiresMicros|version|revoked", "-" for an
// absent user or expiry.
func encodePrincipal(p domain.Principal) string {
	user, exp, revoked := "-", "-", "0"
	if p.UserID != nil {
		user = strconv.FormatInt(*p.UserID, 10)
	}
	if p.ExpiresAt != nil {
		exp = strconv.FormatInt(p.ExpiresAt.UnixMicro(), 10)
	}
	if p.Revoked {
		revoked = "1"
	}
	return strings.Join([]string{strconv.FormatInt(p.KeyID, 10), strconv.Itoa(int(p.Scope)), user, exp,
		strconv.FormatInt(p.Version, 10), revoked}, "|")
}

func decodePrincipal(s string) (domain.Principal, bool) {
	var p domain.Principal
	f := strings.Split(s, "|")
	if len(f) != 6 {
		return p, false
	}
	var err error
	if p.KeyID, err = strconv.ParseInt(f[0], 10, 64); err != nil {
		return p, false
	}
	scope, err := strconv.Atoi(f[1])
	if err != nil || scope < int(domain.NoScope) || scope > int(domain.ScopeAdmin) {
		return p, false
	}
	p.Scope = domain.Scope(scope)
	if f[2] != "-" {
		id, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return p, false
		}
		p.UserID = &id
	}
	if f[3] != "-" {
		us, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			return p, false
		}
		t := time.UnixMicro(us).UTC()
		p.ExpiresAt = &t
	}
	if p.Version, err = strconv.ParseInt(f[4], 10, 64); err != nil {
		return p, false
	}
	p.Revoked = f[5] == "1"
	return p, true
}
