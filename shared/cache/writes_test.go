package cache_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/valkey-io/valkey-go"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/cache/cachetest"
	"github.com/urlshort/shortener/shared/domain"
)

// keys returns every key under the env's prefix (without it) and what it holds.
func (e env) keys(t *testing.T) map[string]string {
	t.Helper()
	return scanAll(t, e.raw, e.prefix)
}

func scanAll(t *testing.T, raw valkey.Client, prefix string) map[string]string {
	t.Helper()
	ctx := t.Context()
	out := map[string]string{}
	for cursor := uint64(0); ; {
		res, err := raw.Do(ctx, raw.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range res.Elements {
			v, err := raw.Do(ctx, raw.B().Get().Key(k).Build()).ToString()
			if err != nil {
				t.Fatal(err)
			}
			out[k[len(prefix):]] = v
		}
		if cursor = res.Cursor; cursor == 0 {
			return out
		}
	}
}

// changed returns the keys whose value differs between two snapshots, sorted.
func changed(before, after map[string]string) []string {
	var out []string
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// TestWrites: each kind of write touches exactly the keys it makes stale, and leaves
// them holding an invalidation marker of the write's version (or a bumped list version).
// Every test starts from the same cached state: two users, three URLs with their
// redirects, an unknown code, and both list families at version 1.
func TestWrites(t *testing.T) {
	const marker2 = "2|I"
	urlMarker2 := strconv.FormatInt(domain.URLItemVersion(2, 0), 10) + "|I" // URL items carry visits too
	cases := []struct {
		name  string
		write func(ctx context.Context, c *cache.Cache)
		want  map[string]string // every key the write changed, with what it holds after
	}{
		{"URLCreated", func(ctx context.Context, c *cache.Cache) { c.URLCreated(ctx, "dddd", 1) },
			map[string]string{"code:dddd": "1|I", "listver:urls": "2"}},
		{"URLWritten", func(ctx context.Context, c *cache.Cache) {
			c.URLWritten(ctx, domain.URLRef{ID: 10, ShortCode: "aaaa", Version: 2})
		}, map[string]string{"url:10": urlMarker2, "code:aaaa": marker2, "listver:urls": "2"}},
		{"URLsCounted", func(ctx context.Context, c *cache.Cache) {
			c.URLsCounted(ctx, []domain.URLCount{{ID: 11, ItemVersion: domain.URLItemVersion(1, 7)}})
		}, map[string]string{"url:11": strconv.FormatInt(domain.URLItemVersion(1, 7), 10) + "|I", "listver:urls": "2"}},
		{"UserCreated", func(ctx context.Context, c *cache.Cache) { c.UserCreated(ctx) },
			map[string]string{"listver:users": "2"}},
		{"UserWritten", func(ctx context.Context, c *cache.Cache) { c.UserWritten(ctx, domain.UserRef{ID: 1, Version: 2}) },
			map[string]string{"user:1": marker2, "listver:users": "2"}},
		{"UserDeletedDropsTheirURLsAndBothLists", func(ctx context.Context, c *cache.Cache) {
			c.UserDeleted(ctx, domain.UserRef{ID: 1, Version: 2}, domain.UserDeletion{URLs: []domain.URLRef{{ID: 10, ShortCode: "aaaa", Version: 2}, {ID: 11, ShortCode: "bbbb", Version: 2}}})
		}, map[string]string{
			"user:1": marker2, "url:10": urlMarker2, "url:11": urlMarker2, "code:aaaa": marker2, "code:bbbb": marker2,
			"listver:urls": "2", "listver:users": "2",
		}},
		{"UserDeletedWithoutURLs", func(ctx context.Context, c *cache.Cache) {
			c.UserDeleted(ctx, domain.UserRef{ID: 2, Version: 2}, domain.UserDeletion{})
		},
			map[string]string{"user:2": marker2, "listver:urls": "2", "listver:users": "2"}},
		{"UsersImportingDropsItemsNotLists", func(ctx context.Context, c *cache.Cache) {
			c.UsersImporting(ctx, []domain.UserRef{{ID: 1, Version: 2}, {ID: 2, Version: 3}})
		}, map[string]string{"user:1": marker2, "user:2": "3|I"}},
		{"UsersImported", func(ctx context.Context, c *cache.Cache) { c.UsersImported(ctx, 3) },
			map[string]string{"listver:users": "2"}},
		{"UsersImportedNothing", func(ctx context.Context, c *cache.Cache) { c.UsersImported(ctx, 0) }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := t.Context()
			for _, id := range []int64{1, 2} {
				if err := e.c.FillItem(ctx, cache.UserItem, id, 1, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
			}
			for i, code := range []string{"aaaa", "bbbb", "cccc"} {
				id := int64(10 + i)
				if err := e.c.FillItem(ctx, cache.URLItem, id, 1, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				if err := e.c.FillRedirect(ctx, code, domain.Redirect{URLID: id, UserID: 1, Active: true, Version: 1, Location: "https://example.com/"}); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.c.FillMissing(ctx, "dddd"); err != nil {
				t.Fatal(err)
			}
			if err := e.c.BumpList(ctx, cache.URLList, cache.UserList); err != nil {
				t.Fatal(err)
			}
			before := e.keys(t)
			if len(before) != 11 {
				t.Fatalf("set-up holds %d keys, want 11: %v", len(before), before)
			}
			tc.write(ctx, e.c)
			after := e.keys(t)
			if got, want := changed(before, after), slices.Sorted(maps.Keys(tc.want)); !slices.Equal(got, want) {
				t.Errorf("changed keys %v, want %v", got, want)
			}
			for k, v := range tc.want {
				if after[k] != v {
					t.Errorf("%s = %q, want %q", k, after[k], v)
				}
			}
		})
	}
}

// TestWritesOnNilCache: a function without Valkey calls the same methods.
func TestWritesOnNilCache(t *testing.T) {
	var c *cache.Cache
	ctx := t.Context()
	c.URLCreated(ctx, "abcd", 1)
	c.URLWritten(ctx, domain.URLRef{ID: 1, ShortCode: "abcd", Version: 2})
	c.UserCreated(ctx)
	c.UserWritten(ctx, domain.UserRef{ID: 1, Version: 2})
	c.UserDeleted(ctx, domain.UserRef{ID: 1, Version: 3}, domain.UserDeletion{URLs: []domain.URLRef{{ID: 1, ShortCode: "abcd", Version: 3}}})
	c.UsersImporting(ctx, []domain.UserRef{{ID: 1, Version: 4}})
	c.UsersImported(ctx, 1)
	c.SetLocalHitObserver(func() { t.Error("local-hit observer called on a nil cache") })
	rd, hit, err := c.ReadRedirect(ctx, "abcd", func(context.Context, string) (domain.Redirect, error) {
		return domain.Redirect{Active: true, Version: 1, Location: "https://example.com/"}, nil
	})
	if err != nil || hit || !rd.Active {
		t.Errorf("ReadRedirect on a nil cache = %+v, %v, %v; want the loader's answer", rd, hit, err)
	}
}

// TestFrozenUserDeletionKept: a user deletion whose invalidations cannot reach Valkey
// goes through the same machinery as any invalidation: every key it touches is counted
// as failed and kept, the writer reads nothing from Valkey meanwhile, and each lands once
// Valkey runs again.
func TestFrozenUserDeletionKept(t *testing.T) {
	e := newFrozenEnv(t)
	ctx := t.Context()
	if err := e.writer.FillItem(ctx, cache.UserItem, 1, 1, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	e.srv.Freeze(t)
	e.writer.UserDeleted(ctx, domain.UserRef{ID: 1, Version: 2}, domain.UserDeletion{URLs: []domain.URLRef{{ID: 10, ShortCode: "aaaa", Version: 2}, {ID: 11, ShortCode: "bbbb", Version: 2}}})
	// One user item, two URL items, two redirects, two list families.
	if n := e.count("failed"); n != 7 {
		t.Errorf("%d failed invalidations counted, want 7", n)
	}
	if v := e.metric(t, "shortener_cache_invalidation_failures_total"); v != 7 {
		t.Errorf("shortener_cache_invalidation_failures_total = %v, want 7", v)
	}
	if _, hit, _ := e.writer.ReadUser(ctx, 1, func(context.Context) (any, int64, error) { return "loaded", 2, nil }); hit {
		t.Error("the writer read from Valkey while its invalidations were pending")
	}
	e.srv.Thaw(t)
	eventually(t, "every invalidation lands", func() bool {
		if e.metric(t, "shortener_cache_invalidations_pending") != 0 {
			return false
		}
		got := scanAll(t, e.raw, e.prefix)
		for _, k := range []string{"user:1", "url:10", "url:11", "code:aaaa", "code:bbbb"} {
			want := "2|I"
			if strings.HasPrefix(k, "url:") {
				want = strconv.FormatInt(domain.URLItemVersion(2, 0), 10) + "|I"
			}
			if v := got[k]; v != want && !(k == "user:1" && v == `2|D"loaded"`) {
				return false
			}
		}
		for _, k := range []string{"listver:urls", "listver:users"} {
			if v, _ := strconv.Atoi(got[k]); v < 1 {
				return false
			}
		}
		return true
	})
}

// TestReadRedirect: the look-up goes to the loader on a miss and fills the cache, then
// hits (from this process's memory once the settle window has passed, which the
// local-hit observer is told); an unknown code is cached as such; a loader failure is the
// caller's and fills nothing; every look-up is told to the observer as use "redirect".
func TestReadRedirect(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	var (
		mu       sync.Mutex
		observed []string
		local    int
	)
	e.c.SetObserver(func(use string, hit bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			observed = append(observed, use+":error")
		case hit:
			observed = append(observed, use+":hit")
		default:
			observed = append(observed, use+":miss")
		}
	})
	e.c.SetLocalHitObserver(func() { mu.Lock(); local++; mu.Unlock() })
	want := domain.Redirect{URLID: 3, UserID: 4, Active: true, Version: 2, Location: "https://example.com/|x"}
	loads := 0
	load := func(_ context.Context, code string) (domain.Redirect, error) {
		loads++
		switch code {
		case "good":
			return want, nil
		case "fail":
			return domain.Redirect{}, errors.New("database down")
		}
		return domain.Redirect{}, domain.Errorf(domain.NotFound, "no such code")
	}

	rd, hit, err := e.c.ReadRedirect(ctx, "good", load)
	if err != nil || hit || rd != want || loads != 1 {
		t.Fatalf("first ReadRedirect = %+v, %v, %v after %d loads; want a loaded %+v", rd, hit, err, loads, want)
	}
	if got := e.keys(t)["code:good"]; got != "2|D3|3|4|1|2|||0|https://example.com/|x" {
		t.Errorf("code:good holds %q after the fill", got)
	}
	rd, hit, err = e.c.ReadRedirect(ctx, "good", load)
	if err != nil || !hit || rd != want || loads != 1 {
		t.Fatalf("second ReadRedirect = %+v, %v, %v after %d loads; want a hit", rd, hit, err, loads)
	}

	rd, hit, err = e.c.ReadRedirect(ctx, "gone", load)
	if err != nil || hit || rd.Active {
		t.Fatalf("ReadRedirect of an unknown code = %+v, %v, %v; want inactive", rd, hit, err)
	}
	if got := e.keys(t)["code:gone"]; got != "0|N" {
		t.Errorf("code:gone holds %q, want the unknown marker", got)
	}
	rd, hit, _ = e.c.ReadRedirect(ctx, "gone", load)
	if !hit || rd.Active || loads != 2 {
		t.Errorf("second look-up of an unknown code = %+v, %v after %d loads; want a cached not-found", rd, hit, loads)
	}

	if _, _, err := e.c.ReadRedirect(ctx, "fail", load); err == nil {
		t.Error("a loader failure was not returned")
	}
	if _, ok := e.keys(t)["code:fail"]; ok {
		t.Error("a loader failure filled the cache")
	}

	mu.Lock()
	got := slices.Clone(observed)
	mu.Unlock()
	if w := []string{"redirect:miss", "redirect:hit", "redirect:miss", "redirect:hit", "redirect:miss"}; !slices.Equal(got, w) {
		t.Errorf("observed %v, want %v", got, w)
	}

	mu.Lock()
	before := local
	mu.Unlock()
	// A code filled by another instance is read through the client-side cache: the
	// first look-up asks Valkey, the second never leaves the process.
	other := e.client(t)
	if err := other.FillRedirect(ctx, "else", want); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, hit, err := e.c.ReadRedirect(ctx, "else", load); !hit || err != nil {
			t.Fatalf("ReadRedirect of a filled code: hit %v, err %v", hit, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if local-before != 1 {
		t.Errorf("local-hit observer told %d times for two look-ups of a filled code, want 1", local-before)
	}
}

// BenchmarkRedirectLookupHit compares ReadRedirect on a client-side hit with what the
// redirect handler did before it (FindRedirect, then the metric calls itself), with an
// observer and a local-hit observer installed as the functions do.
func BenchmarkRedirectLookupHit(b *testing.B) {
	c := cachetest.New(b)
	ctx := context.Background()
	var hits, misses, local atomic.Int64
	observe := func(_ string, hit bool, _ error) {
		if hit {
			hits.Add(1)
		} else {
			misses.Add(1)
		}
	}
	c.SetObserver(observe)
	c.SetLocalHitObserver(func() { local.Add(1) })
	r := domain.Redirect{URLID: 1, UserID: 2, Active: true, Version: 1, Location: "https://example.com/bench"}
	load := func(context.Context, string) (domain.Redirect, error) { return r, nil }
	// The first look-up fills the key, the second brings it into this process's memory,
	// the third is answered from there.
	for range 3 {
		if _, _, err := c.ReadRedirect(ctx, "bnch", load); err != nil {
			b.Fatal(err)
		}
	}
	if local.Load() != 1 {
		b.Fatalf("%d local hits while warming up, want 1", local.Load())
	}
	b.Run("ReadRedirect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, hit, _ := c.ReadRedirect(ctx, "bnch", load); !hit {
				b.Fatal("miss")
			}
		}
	})
	b.Run("FindRedirectThenObserve", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			lk, err := c.FindRedirect(ctx, "bnch")
			observe("redirect", lk.Hit, err)
			if lk.Local {
				local.Add(1)
			}
			if !lk.Hit {
				b.Fatal("miss")
			}
		}
	})
}
