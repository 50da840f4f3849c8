package cache_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valkey-io/valkey-go"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/cache/cachetest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
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
	e.raw = rawClient(t, e.url)
	return e
}

// rawClient is a plain client to the server at url, without client-side caching, for
// looking at what Valkey really holds.
func rawClient(t *testing.T, url string) valkey.Client {
	t.Helper()
	opt, err := valkey.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	raw, err := valkey.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(raw.Close)
	return raw
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

// frozenEnv is a private server that can be frozen, a writer and a reader on the same
// keys (two instances), and a raw client that reads what the server holds.
type frozenEnv struct {
	srv            *cachetest.Server
	writer, reader *cache.Cache
	raw            valkey.Client
	prefix         string
	metrics        *metrics.Metrics

	mu     sync.Mutex
	events map[string]int
}

func newFrozenEnv(t *testing.T) *frozenEnv {
	t.Helper()
	e := &frozenEnv{srv: cachetest.StartServer(t), prefix: cachetest.Prefix(), events: map[string]int{}}
	open := func() *cache.Cache {
		c, err := cache.New(cache.Options{URL: e.srv.URL, KeyPrefix: e.prefix, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	e.writer, e.reader = open(), open()
	e.metrics = metrics.New()
	observe := e.metrics.CacheInvalidations()
	e.writer.SetInvalidationObserver(func(event string, pending int) {
		observe(event, pending)
		e.mu.Lock()
		defer e.mu.Unlock()
		e.events[event]++
	})
	e.raw = rawClient(t, e.srv.URL)
	return e
}

func (e *frozenEnv) stored(t *testing.T, key string) string {
	t.Helper()
	s, err := e.raw.Do(t.Context(), e.raw.B().Get().Key(e.prefix+key).Build()).ToString()
	if err != nil && !valkey.IsValkeyNil(err) {
		t.Fatal(err)
	}
	return s
}

// metric returns the value of a metric of the writer's registry (summed over labels).
func (e *frozenEnv) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := e.metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func (e *frozenEnv) count(event string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.events[event]
}

// TestFrozenInvalidationWins: with Valkey frozen, an invalidation cannot land. The write
// must still win: once it returned, the other instance has dropped its local copy; the
// writer keeps the invalidation and replays it once Valkey runs again; and no instance
// reads the replaced entry back at any time, before or after the thaw.
func TestFrozenInvalidationWins(t *testing.T) {
	e := newFrozenEnv(t)
	ctx := t.Context()
	v1 := domain.Redirect{URLID: 1, UserID: 1, Location: "https://example.com/v1", Active: true, Version: 1}
	if err := e.reader.FillRedirect(ctx, "frozen", v1); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the reader holds a local copy", func() bool {
		l, err := e.reader.FindRedirect(ctx, "frozen")
		return err == nil && l.Local
	})
	stale := func(who string, c *cache.Cache) {
		t.Helper()
		if l, _ := c.FindRedirect(ctx, "frozen"); l.Hit && l.Redirect.Version < 2 {
			t.Fatalf("%s served version %d after the version-2 write returned", who, l.Redirect.Version)
		}
	}

	e.srv.Freeze(t)
	start := time.Now()
	err := e.writer.InvalidateRedirect(ctx, "frozen", 2)
	took := time.Since(start)
	if err == nil {
		t.Fatal("InvalidateRedirect on a frozen server: no error")
	}
	if took > 2*time.Second {
		t.Errorf("InvalidateRedirect on a frozen server took %v", took)
	}
	t.Logf("invalidation on a frozen server returned after %v", took)
	if e.count("failed") != 1 {
		t.Errorf("failed invalidations observed: %d, want 1", e.count("failed"))
	}
	if f, p := e.metric(t, "shortener_cache_invalidation_failures_total"), e.metric(t, "shortener_cache_invalidations_pending"); f != 1 || p != 1 {
		t.Errorf("metrics while frozen: %v failures, %v pending; want 1 and 1", f, p)
	}
	for range 20 {
		stale("the reader", e.reader)
		stale("the writer", e.writer)
		time.Sleep(50 * time.Millisecond)
	}

	e.srv.Thaw(t)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		stale("the reader", e.reader)
		stale("the writer", e.writer)
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.stored(t, "code:frozen"); got != "2|I" {
		t.Errorf("Valkey holds %q after the thaw, want the version-2 marker", got)
	}
	if e.count("replayed") != 1 {
		t.Errorf("replayed invalidations observed: %d, want 1", e.count("replayed"))
	}
	if r, p := e.metric(t, "shortener_cache_invalidations_replayed_total"), e.metric(t, "shortener_cache_invalidations_pending"); r != 1 || p != 0 {
		t.Errorf("metrics after the thaw: %v replayed, %v pending; want 1 and 0", r, p)
	}
	// Trusted again: a fill of the new version is a hit for both.
	v2 := v1
	v2.Version, v2.Active = 2, false
	if err := e.writer.FillRedirect(ctx, "frozen", v2); err != nil {
		t.Fatal(err)
	}
	for who, c := range map[string]*cache.Cache{"writer": e.writer, "reader": e.reader} {
		eventually(t, who+" hits the new version", func() bool {
			l, err := c.FindRedirect(ctx, "frozen")
			return err == nil && l.Hit && l.Redirect == v2
		})
	}
}

// TestFrozenFillRepairs: an instance that read a newer row from the database while
// Valkey was frozen keeps that fill and writes it once Valkey runs again, so the entry is
// repaired even if the writer is gone; meanwhile it never serves the older entry.
func TestFrozenFillRepairs(t *testing.T) {
	e := newFrozenEnv(t)
	ctx := t.Context()
	v1 := domain.Redirect{URLID: 2, UserID: 1, Location: "https://example.com/v1", Active: true, Version: 1}
	if err := e.writer.FillRedirect(ctx, "repair", v1); err != nil {
		t.Fatal(err)
	}
	e.srv.Freeze(t)
	v2 := v1
	v2.Version, v2.Active = 2, false
	if err := e.reader.FillRedirect(ctx, "repair", v2); err == nil {
		t.Fatal("FillRedirect on a frozen server: no error")
	}
	time.Sleep(300 * time.Millisecond)
	e.srv.Thaw(t)
	eventually(t, "the reader's fill lands after the thaw", func() bool {
		return strings.HasPrefix(e.stored(t, "code:repair"), "2|D")
	})
	if l, _ := e.reader.FindRedirect(ctx, "repair"); l.Hit && l.Redirect.Version < 2 {
		t.Errorf("the reader served version %d", l.Redirect.Version)
	}
}

// TestDistrustAfterFailure: a process that saw Valkey fail reads nothing from it until
// its own pending writes landed and a grace period passed, so the replays of the other
// processes land first; one that saw no failure reads at once.
func TestDistrustAfterFailure(t *testing.T) {
	e := newFrozenEnv(t)
	ctx := t.Context()
	if err := e.writer.FillItem(ctx, cache.URLItem, 5, 1, []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	e.srv.Freeze(t)
	if _, _, err := e.reader.GetItem(ctx, cache.URLItem, 5); err == nil {
		t.Fatal("GetItem on a frozen server: no error")
	}
	e.srv.Thaw(t)
	fresh, err := cache.New(cache.Options{URL: e.srv.URL, KeyPrefix: e.prefix, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fresh.Close)
	eventually(t, "a process that saw no failure reads at once", func() bool {
		_, ok, err := fresh.GetItem(ctx, cache.URLItem, 5)
		return err == nil && ok
	})
	thawed := time.Now()
	// The reader needs an answer from Valkey to start its grace period: a fill is one.
	for {
		_ = e.reader.FillItem(ctx, cache.URLItem, 6, 1, []byte(`{}`))
		if _, ok, _ := e.reader.GetItem(ctx, cache.URLItem, 5); ok {
			break
		}
		if time.Since(thawed) > 5*time.Second {
			t.Fatal("the reader never trusted Valkey again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(thawed); d < 500*time.Millisecond {
		t.Errorf("the reader trusted Valkey %v after the thaw, want a grace period", d)
	}
}

// TestFrozenBumpReplayed: a list bump that could not land is replayed, and the writer
// neither serves nor fills a page of the family meanwhile.
func TestFrozenBumpReplayed(t *testing.T) {
	e := newFrozenEnv(t)
	ctx := t.Context()
	if err := e.writer.FillList(ctx, cache.UserList, 0, "q", []byte(`[1]`), 1); err != nil {
		t.Fatal(err)
	}
	e.srv.Freeze(t)
	if err := e.writer.BumpList(ctx, cache.UserList); err == nil {
		t.Fatal("BumpList on a frozen server: no error")
	}
	loads := 0
	_, _, hit, err := e.writer.ReadList(ctx, cache.UserList, "q", func(context.Context) (any, int64, error) {
		loads++
		return []int{2}, 1, nil
	})
	if err != nil || hit || loads != 1 {
		t.Errorf("ReadList while the bump is pending: hit %v, err %v, loads %d; want a load", hit, err, loads)
	}
	e.srv.Thaw(t)
	// The timed-out INCRs (the write's, and replays sent while frozen) may run too once
	// Valkey does: an extra bump only costs a miss.
	eventually(t, "the bump lands", func() bool {
		v, _ := strconv.Atoi(e.stored(t, "listver:users"))
		return v >= 1 && e.count("replayed") == 1
	})
	if e.count("failed") != 1 || e.count("replayed") != 1 {
		t.Errorf("observed %v, want one failed and one replayed", e.events)
	}
}

// TestFrozenCallsBounded: a frozen Valkey costs each call at most its short deadline,
// and after the first failure calls do not wait at all until the back-off is over.
func TestFrozenCallsBounded(t *testing.T) {
	e := newFrozenEnv(t)
	ctx := t.Context()
	r := domain.Redirect{URLID: 3, UserID: 1, Location: "https://example.com/", Active: true, Version: 1}
	if err := e.reader.FillRedirect(ctx, "bound", r); err != nil {
		t.Fatal(err)
	}
	e.srv.Freeze(t)
	time.Sleep(time.Second) // the connection is found hung and closed
	// Look-ups are misses without asking while Valkey's data is not trusted; a fill asks.
	start := time.Now()
	if err := e.reader.FillItem(ctx, cache.URLItem, 1, 1, []byte(`{}`)); err == nil {
		t.Error("FillItem on a frozen server: no error")
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("first FillItem on a frozen server took %v", d)
	}
	var wg sync.WaitGroup
	start = time.Now()
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = e.reader.FindRedirect(ctx, "bound")
			_ = e.reader.FillItem(ctx, cache.URLItem, int64(i), 1, []byte(`{}`))
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("50 look-ups and fills during the back-off took %v, want no waiting", d)
	}
	e.srv.Thaw(t)
}

// TestDeleteAll clears one prefix's keys, however many pages SCAN takes, and no other's.
func TestDeleteAll(t *testing.T) {
	url := cachetest.URL(t)
	mine, theirs := cachetest.Prefix(), cachetest.Prefix()
	a, err := cache.New(cache.Options{URL: url, KeyPrefix: mine, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := cache.New(cache.Options{URL: url, KeyPrefix: theirs, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	for i := range int64(2500) {
		if err := a.FillItem(ctx, cache.UserItem, i+1, 1, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.FillItem(ctx, cache.UserItem, 1, 1, []byte(`{"kept":true}`)); err != nil {
		t.Fatal(err)
	}
	n, err := a.DeleteAll(ctx)
	if err != nil || n != 2500 {
		t.Fatalf("DeleteAll = %d, %v; want 2500", n, err)
	}
	if _, ok, _ := a.GetItem(ctx, cache.UserItem, 7); ok {
		t.Error("a key of the cleared prefix survived")
	}
	if body, ok, _ := b.GetItem(ctx, cache.UserItem, 1); !ok || string(body) != `{"kept":true}` {
		t.Errorf("the other prefix's key: %q %v", body, ok)
	}
}
