package cache

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/urlshort/shortener/shared/domain"
)

// What a write makes stale. Each method below is one kind of database write and names
// every key it touches: the cached resource, the redirect of its short code and the list
// families it appears in. A handler calls the method once the write is done and is told
// nothing back: an invalidation or list bump that does not reach Valkey is kept, replayed
// until it lands and counted through the InvalidationObserver (see pending.go), and while
// one is pending this process reads nothing from Valkey. So a new field that changes what
// a write touches is one edit here, and no function knows another group's keys.

// URLCreated is told of a new URL. Its code may be cached as unknown (a redirect of it
// was asked for before it existed); the marker of the new version replaces that. No item
// can be cached under an id that did not exist.
func (c *Cache) URLCreated(ctx context.Context, code string, version int64) {
	_ = c.InvalidateRedirect(ctx, code, version)
	_ = c.BumpList(ctx, URLList)
}

// URLWritten is told of a URL updated or deleted: its item, its redirect and the URL
// lists go.
func (c *Cache) URLWritten(ctx context.Context, u domain.URLRef) {
	c.urlStale(ctx, u)
	_ = c.BumpList(ctx, URLList)
}

// urlStale drops the cached copies of one URL: the item and the redirect of its code.
func (c *Cache) urlStale(ctx context.Context, u domain.URLRef) {
	_ = c.InvalidateItem(ctx, URLItem, u.ID, domain.URLItemVersion(u.Version, 0))
	_ = c.InvalidateRedirect(ctx, u.ShortCode, u.Version)
}

// URLsCounted is told of URLs whose stored clicks moved their visits (at the item
// version the count left): their items and the URL lists go, as they show visits. A
// redirect does not depend on visits, so it stays.
func (c *Cache) URLsCounted(ctx context.Context, counts []domain.URLCount) {
	if c == nil || len(counts) == 0 {
		return
	}
	for _, u := range counts {
		_ = c.InvalidateItem(ctx, URLItem, u.ID, u.ItemVersion)
	}
	_ = c.BumpList(ctx, URLList)
}

// UserCreated is told of a new user: only the user lists change.
func (c *Cache) UserCreated(ctx context.Context) {
	_ = c.BumpList(ctx, UserList)
}

// UserWritten is told of a user updated: the item and the user lists go.
func (c *Cache) UserWritten(ctx context.Context, u domain.UserRef) {
	_ = c.InvalidateItem(ctx, UserItem, u.ID, u.Version)
	_ = c.BumpList(ctx, UserList)
}

// UserDeleted is told of a user deleted together with their URLs and API keys (each at
// the version the deletion left): the user, every URL's item and redirect, every key's
// principal, and both list families go.
func (c *Cache) UserDeleted(ctx context.Context, u domain.UserRef, gone domain.UserDeletion) {
	_ = c.InvalidateItem(ctx, UserItem, u.ID, u.Version)
	for _, u := range gone.URLs {
		c.urlStale(ctx, u)
	}
	for _, k := range gone.Keys {
		_ = c.InvalidatePrincipal(ctx, k)
	}
	_ = c.BumpList(ctx, URLList, UserList)
}

// UsersImporting is told of the existing users one chunk of an import changed, before
// the import commits. That is safe: each marker carries the version the import leaves,
// so a reader cannot cache the older row after it, and if the import rolls back a marker
// only costs a miss. The invalidations go out many at once so that they share round
// trips (valkey-go pipelines concurrent commands on a connection). New users need
// nothing: no one can have cached a user that did not exist.
func (c *Cache) UsersImporting(ctx context.Context, stale []domain.UserRef) {
	if c == nil || len(stale) == 0 {
		return
	}
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range min(32, len(stale)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(stale)); i = next.Add(1) - 1 {
				_ = c.InvalidateItem(ctx, UserItem, stale[i].ID, stale[i].Version)
			}
		})
	}
	wg.Wait()
}

// UsersImported is told that an import committed, having created or changed changed
// users: the user lists go, unless nothing changed.
func (c *Cache) UsersImported(ctx context.Context, changed int) {
	if changed > 0 {
		_ = c.BumpList(ctx, UserList)
	}
}
