package cache

import (
	"context"
	"strconv"
)

// Item names a cached resource read by id.
type Item string

// The item families.
const (
	UserItem Item = "user"
	URLItem  Item = "url"
)

func (c *Cache) itemKey(it Item, id int64) string {
	return c.prefix + string(it) + ":" + strconv.FormatInt(id, 10)
}

// GetItem returns the cached JSON of a resource; ok is false on a miss or any failure,
// and while Valkey's data cannot be trusted (see the package doc).
func (c *Cache) GetItem(ctx context.Context, it Item, id int64) (body []byte, ok bool, err error) {
	cl, err := c.get()
	if err != nil {
		return nil, false, err
	}
	if !c.trusted() {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	s, err := cl.Do(ctx, cl.B().Get().Key(c.itemKey(it, id)).Build()).ToString()
	if err = c.failed(err); err != nil {
		if isNil(err) {
			return nil, false, nil
		}
		return nil, false, err
	}
	_, kind, payload, valid := parse(s)
	if !valid || kind != kindData {
		return nil, false, nil
	}
	return []byte(payload), true, nil
}

// FillItem caches a resource read at version.
func (c *Cache) FillItem(ctx context.Context, it Item, id, version int64, body []byte) error {
	if c == nil {
		return ErrDisabled
	}
	return c.put(ctx, c.itemKey(it, id), version, string(kindData)+string(body), modeFill, false)
}

// InvalidateItem drops a resource after a write that produced version. If Valkey does not
// take it, it is kept and replayed; the error says only that it did not land yet.
func (c *Cache) InvalidateItem(ctx context.Context, it Item, id, version int64) error {
	if c == nil {
		return ErrDisabled
	}
	return c.put(ctx, c.itemKey(it, id), version, string(kindInvalid), modeInvalidate, false)
}
