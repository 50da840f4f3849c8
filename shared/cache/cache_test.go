package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/cache/cachetest"
	"github.com/urlshort/shortener/shared/domain"
)

const ttl = 30 * time.Second

// env is a cache under a fresh prefix, with what a second client of the same keys and
// the raw checks need.
type env struct {
	c      *cache.Cache
	url    string
	prefix string
	raw    valkey.Client
}

func newEnv(t *testing.T) env {
	t.Helper()
	e := env{url: cachetest.URL(t), prefix: cachetest.Prefix()}
	e.c = e.client(t)
	opt, err := valkey.ParseURL(e.url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	if e.raw, err = valkey.NewClient(opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.raw.Close)
	return e
}

// client returns another cache on the same keys, as another instance of a function has.
func (e env) client(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.New(cache.Options{URL: e.url, KeyPrefix: e.prefix, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// pttl returns the remaining time to live of a key.
func (e env) pttl(t *testing.T, key string) time.Duration {
	t.Helper()
	ms, err := e.raw.Do(t.Context(), e.raw.B().Pttl().Key(e.prefix+key).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(ms) * time.Millisecond
}

func wantTTL(t *testing.T, e env, key string) {
	t.Helper()
	if d := e.pttl(t, key); d <= 0 || d > ttl {
		t.Errorf("TTL of %s = %v, want in (0, %v]", key, d, ttl)
	}
}

// eventually polls cond for up to a second.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); ; {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 1 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewWithoutAddressIsNil(t *testing.T) {
	c, err := cache.New(cache.Options{})
	if err != nil || c != nil {
		t.Fatalf("New({}) = %v, %v; want nil, nil", c, err)
	}
	if _, err := cache.New(cache.Options{URL: "not a url"}); err == nil {
		t.Error("New with a malformed URL: no error")
	}
}

// TestNilCacheIsDisabled: a nil cache is what a function without Valkey has; every method
// must be safe and every read a miss, and read-through calls the loader.
func TestNilCacheIsDisabled(t *testing.T) {
	var c *cache.Cache
	ctx := t.Context()
	disabled := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, cache.ErrDisabled) {
			t.Errorf("%s: err = %v, want ErrDisabled", name, err)
		}
	}
	_, ok, err := c.GetItem(ctx, cache.URLItem, 1)
	disabled("GetItem", err)
	if ok {
		t.Error("GetItem hit on a nil cache")
	}
	disabled("FillItem", c.FillItem(ctx, cache.URLItem, 1, 1, []byte(`{}`)))
	disabled("InvalidateItem", c.InvalidateItem(ctx, cache.URLItem, 1, 1))
	l, err := c.FindRedirect(ctx, "abcd")
	disabled("FindRedirect", err)
	if l.Hit || l.Missing {
		t.Errorf("FindRedirect = %+v on a nil cache", l)
	}
	disabled("FillRedirect", c.FillRedirect(ctx, "abcd", domain.Redirect{Version: 1}))
	disabled("FillMissing", c.FillMissing(ctx, "abcd"))
	disabled("InvalidateRedirect", c.InvalidateRedirect(ctx, "abcd", 1))
	_, err = c.ListVersion(ctx, cache.URLList)
	disabled("ListVersion", err)
	disabled("BumpList", c.BumpList(ctx, cache.URLList, cache.UserList))
	_, _, ok, err = c.GetList(ctx, cache.URLList, 0, "q")
	disabled("GetList", err)
	if ok {
		t.Error("GetList hit on a nil cache")
	}
	disabled("FillList", c.FillList(ctx, cache.URLList, 0, "q", []byte(`[]`), 0))
	disabled("Ping", c.Ping(ctx))
	c.SetObserver(func(string, bool, error) { t.Error("observer called on a nil cache") })
	c.Close()
	if d := c.TTL(); d != 0 {
		t.Errorf("TTL = %v, want 0", d)
	}

	loads := 0
	body, hit, err := c.ReadItem(ctx, cache.UserItem, 1, func(context.Context) (any, int64, error) {
		loads++
		return map[string]int{"id": 1}, 1, nil
	})
	if err != nil || hit || string(body) != `{"id":1}` || loads != 1 {
		t.Errorf("ReadItem = %s, %v, %v after %d loads", body, hit, err, loads)
	}
	body, total, hit, err := c.ReadList(ctx, cache.UserList, "q", func(context.Context) (any, int64, error) {
		loads++
		return []int{1, 2}, 7, nil
	})
	if err != nil || hit || string(body) != `[1,2]` || total != 7 || loads != 2 {
		t.Errorf("ReadList = %s, %d, %v, %v after %d loads", body, total, hit, err, loads)
	}
}

func TestItemVersions(t *testing.T) {
	e := newEnv(t)
	c, ctx := e.c, t.Context()
	get := func() (string, bool) {
		t.Helper()
		b, ok, err := c.GetItem(ctx, cache.URLItem, 7)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), ok
	}
	steps := []struct {
		name     string
		do       func() error
		wantBody string // "" for a miss
	}{
		{"EmptyIsMiss", func() error { return nil }, ""},
		{"FillHits", func() error { return c.FillItem(ctx, cache.URLItem, 7, 1, []byte(`{"v":1}`)) }, `{"v":1}`},
		{"EqualFillDoesNotReplaceData", func() error { return c.FillItem(ctx, cache.URLItem, 7, 1, []byte(`{"v":"other"}`)) }, `{"v":1}`},
		{"InvalidateMisses", func() error { return c.InvalidateItem(ctx, cache.URLItem, 7, 2) }, ""},
		{"OlderFillCannotOverwriteInvalidation", func() error { return c.FillItem(ctx, cache.URLItem, 7, 1, []byte(`{"v":1}`)) }, ""},
		{"SameVersionFillReplacesMarker", func() error { return c.FillItem(ctx, cache.URLItem, 7, 2, []byte(`{"v":2}`)) }, `{"v":2}`},
		{"OlderInvalidationIgnored", func() error { return c.InvalidateItem(ctx, cache.URLItem, 7, 1) }, `{"v":2}`},
		{"NewerFillReplaces", func() error { return c.FillItem(ctx, cache.URLItem, 7, 5, []byte(`{"v":5}`)) }, `{"v":5}`},
		{"SameVersionInvalidationWins", func() error { return c.InvalidateItem(ctx, cache.URLItem, 7, 5) }, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			body, ok := get()
			if ok != (s.wantBody != "") || body != s.wantBody {
				t.Errorf("GetItem = %q, %v; want %q", body, ok, s.wantBody)
			}
		})
	}
	t.Run("TTLSet", func(t *testing.T) {
		wantTTL(t, e, "url:7")
	})
	t.Run("FamiliesSeparate", func(t *testing.T) {
		if err := c.FillItem(ctx, cache.UserItem, 8, 1, []byte(`"user"`)); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := c.GetItem(ctx, cache.URLItem, 8); ok {
			t.Error("a user item answered a url look-up")
		}
	})
	t.Run("VisibleToOtherClients", func(t *testing.T) {
		b, ok, err := e.client(t).GetItem(ctx, cache.UserItem, 8)
		if err != nil || !ok || string(b) != `"user"` {
			t.Errorf("other client GetItem = %s, %v, %v", b, ok, err)
		}
	})
}

func TestReadItem(t *testing.T) {
	e := newEnv(t)
	c, ctx := e.c, t.Context()
	var observed []string
	c.SetObserver(func(use string, hit bool, err error) {
		observed = append(observed, use+":"+map[bool]string{true: "hit", false: "miss"}[hit])
	})
	loads, version := 0, int64(1)
	load := func(context.Context) (any, int64, error) {
		loads++
		return map[string]int64{"v": version}, version, nil
	}
	read := func() (string, bool) {
		t.Helper()
		b, hit, err := c.ReadItem(ctx, cache.URLItem, 1, load)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), hit
	}
	if b, hit := read(); hit || b != `{"v":1}` || loads != 1 {
		t.Fatalf("first read = %s, hit %v, loads %d; want a miss that loads", b, hit, loads)
	}
	if b, hit := read(); !hit || b != `{"v":1}` || loads != 1 {
		t.Fatalf("second read = %s, hit %v, loads %d; want a hit", b, hit, loads)
	}
	version = 2
	if err := c.InvalidateItem(ctx, cache.URLItem, 1, 2); err != nil {
		t.Fatal(err)
	}
	if b, hit := read(); hit || b != `{"v":2}` || loads != 2 {
		t.Fatalf("read after write = %s, hit %v, loads %d; want a miss with new data", b, hit, loads)
	}
	if got := strings.Join(observed, ","); got != "item:miss,item:hit,item:miss" {
		t.Errorf("observed %s", got)
	}
	t.Run("LoadErrorReturned", func(t *testing.T) {
		notFound := domain.Errorf(domain.NotFound, "gone")
		_, _, err := c.ReadItem(ctx, cache.URLItem, 99, func(context.Context) (any, int64, error) { return nil, 0, notFound })
		if domain.KindOf(err) != domain.NotFound {
			t.Errorf("err = %v, want the loader's NotFound", err)
		}
		if _, ok, _ := c.GetItem(ctx, cache.URLItem, 99); ok {
			t.Error("a failed load was cached")
		}
	})
}

func TestRedirect(t *testing.T) {
	e := newEnv(t)
	c, ctx := e.c, t.Context()
	r1 := domain.Redirect{URLID: 1, UserID: 2, Location: "https://example.com/1", Active: true, Version: 1}

	t.Run("EmptyIsMiss", func(t *testing.T) {
		l, err := c.FindRedirect(ctx, "empty")
		if err != nil || l.Hit || l.Missing {
			t.Errorf("FindRedirect = %+v, %v; want a miss", l, err)
		}
	})
	t.Run("FillHitsThenLocal", func(t *testing.T) {
		if err := c.FillRedirect(ctx, "abcd", r1); err != nil {
			t.Fatal(err)
		}
		l, err := c.FindRedirect(ctx, "abcd")
		if err != nil || !l.Hit || l.Missing || l.Redirect != r1 {
			t.Fatalf("FindRedirect = %+v, %v; want a hit with %+v", l, err, r1)
		}
		l, err = c.FindRedirect(ctx, "abcd")
		if err != nil || !l.Hit || !l.Local || l.Redirect != r1 {
			t.Fatalf("second FindRedirect = %+v, %v; want a client-side hit", l, err)
		}
		wantTTL(t, e, "code:abcd")
	})
	t.Run("OwnInvalidationSeenAtOnce", func(t *testing.T) {
		// The writer's own next read must not come from its stale memory.
		for v := int64(2); v < 202; v += 2 {
			r := r1
			r.Version = v
			if err := c.FillRedirect(ctx, "ownw", r); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := c.FindRedirect(ctx, "ownw"); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.InvalidateRedirect(ctx, "ownw", v+1); err != nil {
				t.Fatal(err)
			}
			if l, err := c.FindRedirect(ctx, "ownw"); err != nil || l.Hit {
				t.Fatalf("FindRedirect right after InvalidateRedirect = %+v, %v; want a miss", l, err)
			}
		}
	})
	t.Run("OtherClientInvalidationSeenWithinASecond", func(t *testing.T) {
		other := e.client(t)
		if l, _ := c.FindRedirect(ctx, "abcd"); !l.Local {
			t.Fatalf("precondition: %+v is not a client-side hit", l)
		}
		if err := other.InvalidateRedirect(ctx, "abcd", 2); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first client sees the invalidation", func() bool {
			l, err := c.FindRedirect(ctx, "abcd")
			return err == nil && !l.Hit
		})
		r2 := r1
		r2.Version, r2.Location = 2, "https://example.com/2"
		if err := other.FillRedirect(ctx, "abcd", r2); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first client sees the new location", func() bool {
			l, err := c.FindRedirect(ctx, "abcd")
			return err == nil && l.Hit && l.Redirect == r2
		})
	})
	t.Run("OlderFillRefused", func(t *testing.T) {
		if err := c.InvalidateRedirect(ctx, "older", 3); err != nil {
			t.Fatal(err)
		}
		if err := c.FillRedirect(ctx, "older", r1); err != nil {
			t.Fatal(err)
		}
		if l, _ := c.FindRedirect(ctx, "older"); l.Hit {
			t.Errorf("a version-1 fill replaced a version-3 invalidation: %+v", l)
		}
		r3 := r1
		r3.Version = 3
		if err := c.FillRedirect(ctx, "older", r3); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a same-version fill replaces the marker", func() bool {
			l, err := c.FindRedirect(ctx, "older")
			return err == nil && l.Hit && l.Redirect == r3
		})
	})
	t.Run("Missing", func(t *testing.T) {
		if err := c.FillMissing(ctx, "nope"); err != nil {
			t.Fatal(err)
		}
		l, err := c.FindRedirect(ctx, "nope")
		if err != nil || !l.Hit || !l.Missing {
			t.Fatalf("FindRedirect = %+v, %v; want a cached not-found", l, err)
		}
		wantTTL(t, e, "code:nope")
		// Creating the code replaces "missing", whatever its version.
		if err := e.client(t).FillRedirect(ctx, "nope", r1); err != nil {
			t.Fatal(err)
		}
		eventually(t, "creation replaces missing", func() bool {
			l, err := c.FindRedirect(ctx, "nope")
			return err == nil && l.Hit && !l.Missing && l.Redirect == r1
		})
	})
	t.Run("InactiveCached", func(t *testing.T) {
		off := r1
		off.Active, off.Version = false, 4
		if err := c.FillRedirect(ctx, "offf", off); err != nil {
			t.Fatal(err)
		}
		if l, _ := c.FindRedirect(ctx, "offf"); !l.Hit || l.Redirect.Active {
			t.Errorf("FindRedirect = %+v, want a hit that says inactive", l)
		}
	})
	t.Run("GarbageIsMiss", func(t *testing.T) {
		if err := e.raw.Do(ctx, e.raw.B().Set().Key(e.prefix+"code:junk").Value("1|Dnot json").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if l, err := c.FindRedirect(ctx, "junk"); err != nil || l.Hit {
			t.Errorf("FindRedirect = %+v, %v; want a miss", l, err)
		}
	})
}

func TestLists(t *testing.T) {
	e := newEnv(t)
	c, ctx := e.c, t.Context()

	v0, err := c.ListVersion(ctx, cache.URLList)
	if err != nil || v0 != 0 {
		t.Fatalf("ListVersion = %d, %v; want 0", v0, err)
	}
	t.Run("FillAndGet", func(t *testing.T) {
		if _, _, ok, err := c.GetList(ctx, cache.URLList, v0, "page=1"); ok || err != nil {
			t.Fatalf("empty GetList = %v, %v", ok, err)
		}
		if err := c.FillList(ctx, cache.URLList, v0, "page=1", []byte(`[{"id":1}]`), 42); err != nil {
			t.Fatal(err)
		}
		body, total, ok, err := c.GetList(ctx, cache.URLList, v0, "page=1")
		if err != nil || !ok || string(body) != `[{"id":1}]` || total != 42 {
			t.Fatalf("GetList = %s, %d, %v, %v", body, total, ok, err)
		}
		if _, _, ok, _ := c.GetList(ctx, cache.URLList, v0, "page=2"); ok {
			t.Error("another query hit")
		}
		if _, _, ok, _ := c.GetList(ctx, cache.UserList, v0, "page=1"); ok {
			t.Error("another family hit")
		}
		if d := e.pttl(t, "list:urls:0:page=1"); d <= 0 || d > ttl {
			t.Errorf("list TTL = %v", d)
		}
	})
	t.Run("BumpSeenAtOnceByWriter", func(t *testing.T) {
		for want := int64(1); want <= 50; want++ {
			if err := c.BumpList(ctx, cache.URLList); err != nil {
				t.Fatal(err)
			}
			// The writer's next read must see the new version, or it would serve the
			// page cached before its own write.
			if v, err := c.ListVersion(ctx, cache.URLList); err != nil || v != want {
				t.Fatalf("ListVersion right after bump %d = %d, %v", want, v, err)
			}
		}
	})
	t.Run("BumpSeenByOtherClientWithinASecond", func(t *testing.T) {
		v, _ := c.ListVersion(ctx, cache.UserList)
		if err := e.client(t).BumpList(ctx, cache.UserList, cache.URLList); err != nil {
			t.Fatal(err)
		}
		eventually(t, "bump visible", func() bool {
			got, err := c.ListVersion(ctx, cache.UserList)
			return err == nil && got == v+1
		})
	})
	t.Run("HugeListNotCached", func(t *testing.T) {
		big := []byte(`"` + strings.Repeat("x", 1<<20) + `"`)
		if err := c.FillList(ctx, cache.URLList, 99, "all", big, 1); err != nil {
			t.Fatal(err)
		}
		if _, _, ok, _ := c.GetList(ctx, cache.URLList, 99, "all"); ok {
			t.Error("a list over 1 MiB was cached")
		}
	})
}

func TestReadList(t *testing.T) {
	e := newEnv(t)
	c, ctx := e.c, t.Context()
	loads := 0
	load := func(context.Context) (any, int64, error) {
		loads++
		return []int{loads}, int64(10 * loads), nil
	}
	read := func() (string, int64, bool) {
		t.Helper()
		b, total, hit, err := c.ReadList(ctx, cache.UserList, "page=1&per_page=10", load)
		if err != nil {
			t.Fatal(err)
		}
		return string(b), total, hit
	}
	if b, total, hit := read(); hit || b != `[1]` || total != 10 {
		t.Fatalf("first = %s %d %v, want a loaded miss", b, total, hit)
	}
	if b, total, hit := read(); !hit || b != `[1]` || total != 10 || loads != 1 {
		t.Fatalf("second = %s %d %v (loads %d), want a hit", b, total, hit, loads)
	}
	// Spec: "the first read after a write is a MISS with the new data", also on the
	// instance that wrote.
	for n := 2; n <= 11; n++ {
		if err := c.BumpList(ctx, cache.UserList); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("[%d]", n)
		if b, total, hit := read(); hit || b != want || total != int64(10*n) {
			t.Fatalf("read after write %d = %s %d hit %v; want a miss with %s", n-1, b, total, hit, want)
		}
		if _, _, hit := read(); !hit {
			t.Fatalf("second read after write %d missed", n-1)
		}
	}
	_, _, _, err := c.ReadList(ctx, cache.UserList, "other", func(context.Context) (any, int64, error) {
		return nil, 0, domain.Unavailablef(errors.New("x"), "db down")
	})
	if domain.KindOf(err) != domain.Unavailable {
		t.Errorf("err = %v, want the loader's error", err)
	}
}

// TestDeadServer: a Valkey that does not answer costs little time, never an error the
// caller has to handle, and never a panic.
func TestDeadServer(t *testing.T) {
	c, err := cache.New(cache.Options{URL: "redis://127.0.0.1:1/0", KeyPrefix: cachetest.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	var (
		mu       sync.Mutex
		observed []error
	)
	c.SetObserver(func(use string, hit bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		observed = append(observed, err)
	})
	calls := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return c.Ping(ctx) }},
		{"GetItem", func() error { _, _, err := c.GetItem(ctx, cache.URLItem, 1); return err }},
		{"FillItem", func() error { return c.FillItem(ctx, cache.URLItem, 1, 1, []byte(`{}`)) }},
		{"InvalidateItem", func() error { return c.InvalidateItem(ctx, cache.URLItem, 1, 1) }},
		{"FindRedirect", func() error { _, err := c.FindRedirect(ctx, "abcd"); return err }},
		{"FillRedirect", func() error { return c.FillRedirect(ctx, "abcd", domain.Redirect{Version: 1}) }},
		{"FillMissing", func() error { return c.FillMissing(ctx, "efgh") }},
		{"InvalidateRedirect", func() error { return c.InvalidateRedirect(ctx, "abcd", 1) }},
		{"ListVersion", func() error { _, err := c.ListVersion(ctx, cache.URLList); return err }},
		{"BumpList", func() error { return c.BumpList(ctx, cache.URLList) }},
		{"GetList", func() error { _, _, _, err := c.GetList(ctx, cache.URLList, 0, "q"); return err }},
		{"FillList", func() error { return c.FillList(ctx, cache.URLList, 0, "q", []byte(`[]`), 0) }},
		{"PingAgain", func() error { return c.Ping(ctx) }},
	}
	for _, tc := range calls {
		t.Run(tc.name+"Fails", func(t *testing.T) {
			start := time.Now()
			err := tc.call()
			if d := time.Since(start); d > time.Second {
				t.Errorf("took %v, want under 1 s", d)
			}
			if err == nil {
				t.Error("no error from a dead server")
			}
		})
	}
	t.Run("ReadThroughLoads", func(t *testing.T) {
		start := time.Now()
		body, hit, err := c.ReadItem(ctx, cache.UserItem, 1, func(context.Context) (any, int64, error) { return "loaded", 1, nil })
		if err != nil || hit || string(body) != `"loaded"` {
			t.Errorf("ReadItem = %s, %v, %v; want the loader's answer", body, hit, err)
		}
		lb, total, hit, err := c.ReadList(ctx, cache.UserList, "q", func(context.Context) (any, int64, error) { return []int{1}, 1, nil })
		if err != nil || hit || string(lb) != `[1]` || total != 1 {
			t.Errorf("ReadList = %s, %d, %v, %v; want the loader's answer", lb, total, hit, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("read-through took %v", d)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(observed) != 2 || observed[0] == nil || observed[1] == nil {
			t.Errorf("observer saw %v, want two errors", observed)
		}
	})
}
