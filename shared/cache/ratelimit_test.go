package cache_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/cache/cachetest"
)

// TestRateLimitSharedAcrossClients: two clients of one Valkey (two instances) take from
// one allowance: exactly limit requests pass, however the racing calls interleave, and
// the refused ones learn when the next would pass.
func TestRateLimitSharedAcrossClients(t *testing.T) {
	e := newEnv(t)
	other := e.client(t)
	const limit, period = 10, time.Minute
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 40 {
		c := e.c
		if i%2 == 1 {
			c = other
		}
		wg.Go(func() {
			res, err := c.RateLimit(t.Context(), "writes:k1", limit, period)
			if err != nil {
				t.Error(err)
				return
			}
			if res.Allowed {
				allowed.Add(1)
				return
			}
			// The allowance is spent: one more passes one emission interval (6 s)
			// after the last one passed, and the whole limit is back within a period.
			if res.Remaining != 0 || res.RetryAfter <= 0 || res.RetryAfter > period/limit {
				t.Errorf("refused with remaining %d, retry after %v, want 0 and (0, %v]", res.Remaining, res.RetryAfter, period/limit)
			}
			if res.ResetAfter <= period-period/limit || res.ResetAfter > period {
				t.Errorf("refused with reset after %v, want about %v", res.ResetAfter, period)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != limit {
		t.Fatalf("%d requests allowed across two clients, want %d", n, limit)
	}
	// The key lives only as long as it holds anything: at most a period.
	if d := e.pttl(t, "rate:writes:k1"); d <= 0 || d > period {
		t.Fatalf("rate key lives %v, want (0, %v]", d, period)
	}
}

// TestRateLimitCountsDown: Remaining counts down to 0 and ResetAfter grows by one
// emission interval per request, as GCRA says.
func TestRateLimitCountsDown(t *testing.T) {
	e := newEnv(t)
	const limit, period = 4, 4 * time.Second
	for i := range limit {
		res, err := e.c.RateLimit(t.Context(), "k", limit, period)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Allowed || res.Remaining != limit-1-i || res.RetryAfter != 0 {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, res, limit-1-i)
		}
		want := time.Duration(i+1) * period / limit
		if res.ResetAfter > want || res.ResetAfter < want-100*time.Millisecond {
			t.Fatalf("request %d: reset after %v, want about %v", i+1, res.ResetAfter, want)
		}
	}
	res, err := e.c.RateLimit(t.Context(), "k", limit, period)
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed {
		t.Fatalf("request %d allowed: %+v", limit+1, res)
	}
	// Another key and another rate are counted on their own.
	if res, err := e.c.RateLimit(t.Context(), "k2", limit, period); err != nil || !res.Allowed || res.Remaining != limit-1 {
		t.Fatalf("another key: %+v, %v", res, err)
	}
}

// TestRateLimitRefills: one request passes again an emission interval after the limit
// was spent, and not before.
func TestRateLimitRefills(t *testing.T) {
	e := newEnv(t)
	const limit, period = 2, 400 * time.Millisecond
	for range limit {
		if res, err := e.c.RateLimit(t.Context(), "k", limit, period); err != nil || !res.Allowed {
			t.Fatalf("%+v, %v", res, err)
		}
	}
	res, err := e.c.RateLimit(t.Context(), "k", limit, period)
	if err != nil || res.Allowed {
		t.Fatalf("over the limit: %+v, %v", res, err)
	}
	time.Sleep(res.RetryAfter + 10*time.Millisecond)
	if res, err := e.c.RateLimit(t.Context(), "k", limit, period); err != nil || !res.Allowed || res.Remaining != 0 {
		t.Fatalf("after retry-after: %+v, %v, want one allowed", res, err)
	}
	if res, err := e.c.RateLimit(t.Context(), "k", limit, period); err != nil || res.Allowed {
		t.Fatalf("right after the refill: %+v, %v, want refused", res, err)
	}
}

// TestRateLimitWithoutValkey: a nil cache and a stopped Valkey answer an error, quickly,
// for the caller to count in memory; a stopped Valkey is then left alone (ErrDisabled)
// instead of being asked by every request.
func TestRateLimitWithoutValkey(t *testing.T) {
	var nilCache *cache.Cache
	if _, err := nilCache.RateLimit(t.Context(), "k", 1, time.Second); !errors.Is(err, cache.ErrDisabled) {
		t.Fatalf("nil cache: %v, want ErrDisabled", err)
	}
	if _, err := nilCache.RateLimit(t.Context(), "k", 0, time.Second); !errors.Is(err, cache.ErrBadRate) {
		t.Fatalf("zero limit: %v, want ErrBadRate", err)
	}
	srv := cachetest.StartServer(t)
	c, err := cache.New(cache.Options{URL: srv.URL, KeyPrefix: cachetest.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if res, err := c.RateLimit(t.Context(), "k", 1, time.Second); err != nil || !res.Allowed {
		t.Fatalf("before the stop: %+v, %v", res, err)
	}
	srv.Stop()
	start := time.Now()
	if _, err := c.RateLimit(t.Context(), "k", 1, time.Second); err == nil {
		t.Fatal("stopped Valkey answered")
	}
	if _, err := c.RateLimit(t.Context(), "k", 1, time.Second); !errors.Is(err, cache.ErrDisabled) {
		t.Fatalf("second call after the stop: %v, want ErrDisabled (backing off)", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("two calls to a stopped Valkey took %v", d)
	}
}

// TestRateLimitHungValkey: a frozen Valkey costs one call its short deadline, no more.
func TestRateLimitHungValkey(t *testing.T) {
	srv := cachetest.StartServer(t)
	c, err := cache.New(cache.Options{URL: srv.URL, KeyPrefix: cachetest.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if _, err := c.RateLimit(t.Context(), "k", 1, time.Second); err != nil {
		t.Fatal(err)
	}
	srv.Freeze(t)
	defer srv.Thaw(t)
	start := time.Now()
	if _, err := c.RateLimit(t.Context(), "k", 1, time.Second); err == nil {
		t.Fatal("frozen Valkey answered")
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a call to a frozen Valkey took %v, want about its 100 ms deadline", d)
	}
	if _, err := c.RateLimit(t.Context(), "k", 1, time.Second); !errors.Is(err, cache.ErrDisabled) {
		t.Fatalf("next call: %v, want ErrDisabled", err)
	}
}

// BenchmarkRateLimit is one shared rate-limit call: a script round trip to Valkey.
func BenchmarkRateLimit(b *testing.B) {
	c := cachetest.New(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.RateLimit(b.Context(), "bench", 1_000_000, time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
