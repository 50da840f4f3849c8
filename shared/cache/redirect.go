package cache

import (
	"context"
	"strconv"
	"strings"
	"time"

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
// drop its copy the moment a write changes the key. While Valkey's data is not trusted
// (see the package doc) it answers a miss without asking, for the caller to fill from the
// database; a code that cannot exist is never looked up, nor kept. The caller's context
// is not used: a look-up that leaves the process is bounded by the shared deadline of
// findCtx instead, which a local hit does not pay for, and is far shorter than any request.
func (c *Cache) FindRedirect(_ context.Context, code string) (Lookup, error) {
	cl, err := c.get()
	if err != nil {
		return Lookup{}, err
	}
	if !c.trusted() || !domain.IsPossibleCode(code) {
		return Lookup{}, nil
	}
	// A hit never leaves the process and must not pay for a timer; a look-up that does
	// leave it shares a deadline with the others of the moment (findCtx).
	ctx := c.findCtx()
	var res valkey.ValkeyResult
	if key := c.codeKey(code); c.recentlyWritten(key) {
		res = cl.Do(ctx, cl.B().Get().Key(key).Build())
	} else {
		res = cl.DoCache(ctx, cl.B().Get().Key(key).Cache(), c.ttl)
	}
	s, err := res.ToString()
	// A local hit says nothing about Valkey: only an answer from it may end a distrust.
	if err != nil || !res.IsCacheHit() {
		if err = c.failed(err); err != nil {
			if isNil(err) {
				return Lookup{}, nil
			}
			return Lookup{}, err
		}
	}
	_, kind, payload, ok := parse(s)
	switch {
	case !ok || kind == kindInvalid:
		return Lookup{}, nil
	case kind == kindMissing:
		return Lookup{Missing: true, Hit: true, Local: res.IsCacheHit()}, nil
	}
	r, ok := decodeRedirect(payload)
	if !ok {
		return Lookup{}, nil // unreadable: treat as a miss and refill
	}
	return Lookup{Redirect: r, Hit: true, Local: res.IsCacheHit()}, nil
}

// encodeRedirect writes "3|urlID|userID|active|version|validSince|expiresAt|limited|location",
// the instants in Unix microseconds or empty: a hit on the hot path then costs a few
// string cuts instead of a JSON decode. Location goes last, so a "|" in it needs no
// escaping. The leading format number makes an entry of an older image (without the
// window, or the visit limit) unreadable, so it is refilled rather than read wrong.
func encodeRedirect(r domain.Redirect) string {
	active := "0"
	if r.Active {
		active = "1"
	}
	limited := "0"
	if r.Limited {
		limited = "1"
	}
	return "3|" + strconv.FormatInt(r.URLID, 10) + "|" + strconv.FormatInt(r.UserID, 10) + "|" + active + "|" +
		strconv.FormatInt(r.Version, 10) + "|" + micros(r.ValidSince) + "|" + micros(r.ExpiresAt) + "|" + limited + "|" + r.Location
}

func micros(t *time.Time) string {
	if t == nil {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

func fromMicros(s string) (*time.Time, bool) {
	if s == "" {
		return nil, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, false
	}
	t := time.UnixMicro(n).UTC()
	return &t, true
}

func decodeRedirect(s string) (domain.Redirect, bool) {
	var r domain.Redirect
	var parts [8]string
	for i := range parts {
		var found bool
		if parts[i], s, found = strings.Cut(s, "|"); !found {
			return r, false
		}
	}
	if parts[0] != "3" {
		return r, false
	}
	var err1, err2, err3 error
	r.URLID, err1 = strconv.ParseInt(parts[1], 10, 64)
	r.UserID, err2 = strconv.ParseInt(parts[2], 10, 64)
	r.Version, err3 = strconv.ParseInt(parts[4], 10, 64)
	r.Active, r.Limited, r.Location = parts[3] == "1", parts[7] == "1", s
	var ok1, ok2 bool
	r.ValidSince, ok1 = fromMicros(parts[5])
	r.ExpiresAt, ok2 = fromMicros(parts[6])
	return r, err1 == nil && err2 == nil && err3 == nil && ok1 && ok2
}

// FillRedirect caches what the store said about a code.
func (c *Cache) FillRedirect(ctx context.Context, code string, r domain.Redirect) error {
	if c == nil {
		return ErrDisabled
	}
	if !domain.IsPossibleCode(code) {
		return nil
	}
	return c.put(ctx, c.codeKey(code), r.Version, string(kindData)+encodeRedirect(r), modeFill, true)
}

// FillMissing caches that a code does not exist. Version 0 is older than any row, so the
// creation of the code always replaces it. A code that cannot exist is not kept: the
// caller should not have asked (a million-character path would cost a megabyte).
func (c *Cache) FillMissing(ctx context.Context, code string) error {
	if c == nil {
		return ErrDisabled
	}
	if !domain.IsPossibleCode(code) {
		return nil
	}
	return c.put(ctx, c.codeKey(code), 0, string(kindMissing), modeFill, true)
}

// InvalidateRedirect drops a code after a write that produced version. If Valkey does
// not take it, it is kept and replayed, and the call returns only once every instance
// has had the time to drop its local copy; the error says only that it did not land yet.
func (c *Cache) InvalidateRedirect(ctx context.Context, code string, version int64) error {
	if c == nil {
		return ErrDisabled
	}
	return c.put(ctx, c.codeKey(code), version, string(kindInvalid), modeInvalidate, true)
}

func isNil(err error) bool { return valkey.IsValkeyNil(err) }
