package access

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/cache/cachetest"
)

func TestParseRate(t *testing.T) {
	ok := []struct {
		in   string
		want Rate
		str  string
	}{
		{"", Rate{}, ""},
		{"  ", Rate{}, ""},
		{"60/m", Rate{60, time.Minute}, "60/m"},
		{"5/s", Rate{5, time.Second}, "5/s"},
		{"1000/h", Rate{1000, time.Hour}, "1000/h"},
		{" 10 / 10s ", Rate{10, 10 * time.Second}, "10/10s"},
		{"3/15m", Rate{3, 15 * time.Minute}, "3/15m"},
		{"1/24h", Rate{1, 24 * time.Hour}, "1/24h"},
		{"2/60s", Rate{2, time.Minute}, "2/m"},
		{"1000000/s", Rate{1_000_000, time.Second}, "1000000/s"},
	}
	for _, c := range ok {
		t.Run("Valid"+c.in, func(t *testing.T) {
			got, err := ParseRate(c.in)
			if err != nil || got != c.want {
				t.Fatalf("ParseRate(%q) = %+v, %v, want %+v", c.in, got, err, c.want)
			}
			if got.String() != c.str {
				t.Fatalf("String() = %q, want %q", got.String(), c.str)
			}
			if back, err := ParseRate(got.String()); err != nil || back != got {
				t.Fatalf("String() does not read back: %+v, %v", back, err)
			}
		})
	}
	bad := []struct{ name, in string }{
		{"NoPeriod", "60"},
		{"EmptyPeriod", "60/"},
		{"EmptyLimit", "/m"},
		{"ZeroLimit", "0/m"},
		{"NegativeLimit", "-1/m"},
		{"PlusSign", "+5/m"},
		{"Fraction", "1.5/s"},
		{"UnknownUnit", "5/d"},
		{"MillisecondUnit", "5/ms"},
		{"WordUnit", "5/minute"},
		{"UpperUnit", "5/M"},
		{"ZeroCount", "5/0s"},
		{"PeriodOverADay", "5/25h"},
		{"LimitTooHigh", "1000001/s"},
		{"Overflow", "99999999999999999999/s"},
		{"TwoSlashes", "5/m/s"},
		{"Underscore", "1_000/s"},
		{"Hex", "0x10/s"},
		{"Garbage", "lots"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			if got, err := ParseRate(c.in); !errors.Is(err, ErrRate) {
				t.Fatalf("ParseRate(%q) = %+v, %v, want ErrRate", c.in, got, err)
			}
		})
	}
}

// FuzzParseRate: whatever ParseRate accepts is within the bounds the limiters rely on
// (an emission interval of at least a microsecond, a period of at most a day) and reads
// back from its String.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"60/m", "5/10s", "1/24h", "0/s", "1000000/s", " 3 / 2h", "9999999/1s", "/", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil || r.IsZero() {
			return
		}
		if r.Limit < 1 || r.Limit > maxRateLimit || r.Period < time.Second || r.Period > maxRatePeriod ||
			r.Period/time.Duration(r.Limit) < time.Microsecond {
			t.Fatalf("ParseRate(%q) = %+v: out of bounds", s, r)
		}
		if back, err := ParseRate(r.String()); err != nil || back != r {
			t.Fatalf("ParseRate(%q) = %+v, whose String %q reads back as %+v, %v", s, r, r.String(), back, err)
		}
	})
}

// limitPair is two instances' limiters of one rate: two cache clients (as two processes
// have) on one Valkey, under one key prefix.
func limitPair(t *testing.T, url string, rate Rate) (a, b *Limiter) {
	t.Helper()
	prefix := cachetest.Prefix()
	for _, l := range []**Limiter{&a, &b} {
		c, err := cache.New(cache.Options{URL: url, KeyPrefix: prefix, TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		*l = NewLimiter(c, "writes", rate)
	}
	return a, b
}

// TestLimiterSharedByInstances: two instances allow exactly the limit between them,
// racing, and the rest are refused with a Retry-After of at most one emission interval
// and a Reset of about the period; another key has its own allowance.
func TestLimiterSharedByInstances(t *testing.T) {
	rate := Rate{Limit: 7, Period: time.Minute}
	a, b := limitPair(t, cachetest.URL(t), rate)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			d := l.Allow(t.Context(), "key:1")
			if d.Local {
				t.Error("counted locally with Valkey up")
			}
			if d.Limit != rate.Limit {
				t.Errorf("limit %d, want %d", d.Limit, rate.Limit)
			}
			if d.Allowed {
				allowed.Add(1)
				return
			}
			if d.Remaining != 0 || d.RetryAfter <= 0 || d.RetryAfter > rate.Period/time.Duration(rate.Limit) {
				t.Errorf("refused: %+v", d)
			}
			if d.Reset < rate.Period-rate.Period/time.Duration(rate.Limit) || d.Reset > rate.Period {
				t.Errorf("refused with reset %v, want about %v", d.Reset, rate.Period)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != int64(rate.Limit) {
		t.Fatalf("%d allowed across two instances, want %d", n, rate.Limit)
	}
	if d := b.Allow(t.Context(), "key:2"); !d.Allowed || d.Remaining != rate.Limit-1 {
		t.Fatalf("another key: %+v", d)
	}
}

// TestLimiterWithoutValkey: with Valkey stopped, or hung, each instance goes on limiting
// on its own (the limit per instance), no request fails or waits more than the cache's
// short deadline, and once a hung Valkey answers again the instances share it again.
func TestLimiterWithoutValkey(t *testing.T) {
	rate := Rate{Limit: 3, Period: time.Minute}
	for _, outage := range []string{"Stopped", "Frozen"} {
		t.Run(outage, func(t *testing.T) {
			srv := cachetest.StartServer(t)
			a, b := limitPair(t, srv.URL, rate)
			for range rate.Limit {
				if d := a.Allow(t.Context(), "k"); !d.Allowed || d.Local {
					t.Fatalf("before the outage: %+v", d)
				}
			}
			if d := b.Allow(t.Context(), "k"); d.Allowed || d.Local {
				t.Fatalf("before the outage, over the shared limit: %+v", d)
			}
			if outage == "Stopped" {
				srv.Stop()
			} else {
				srv.Freeze(t)
			}
			for _, l := range []*Limiter{a, b} {
				for i := range rate.Limit + 2 {
					start := time.Now()
					d := l.Allow(t.Context(), "k")
					if took := time.Since(start); took > 500*time.Millisecond {
						t.Fatalf("Allow took %v with Valkey %s", took, outage)
					}
					if !d.Local {
						t.Fatalf("request %d counted in Valkey while it is %s: %+v", i+1, outage, d)
					}
					if want := i < rate.Limit; d.Allowed != want {
						t.Fatalf("request %d with Valkey %s: %+v, want allowed %v", i+1, outage, d, want)
					}
				}
			}
			if outage == "Stopped" {
				return
			}
			srv.Thaw(t)
			// Each cache leaves Valkey alone for a second after its failure, then one
			// call probes it.
			for _, l := range []*Limiter{a, b} {
				deadline := time.Now().Add(5 * time.Second)
				for l.Allow(t.Context(), "probe").Local {
					if time.Now().After(deadline) {
						t.Fatal("still counting locally 5 s after Valkey answered again")
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			if d := a.Allow(t.Context(), "other"); d.Local || !d.Allowed || d.Remaining != rate.Limit-1 {
				t.Fatalf("after the thaw: %+v", d)
			}
			if d := b.Allow(t.Context(), "other"); d.Local || d.Remaining != rate.Limit-2 {
				t.Fatalf("the other instance after the thaw: %+v, want the shared count", d)
			}
		})
	}
}

// TestLimiterNil: no rate, no limiter; it allows everything and writes no headers.
func TestLimiterNil(t *testing.T) {
	l := NewLimiter(nil, "writes", Rate{})
	if l != nil {
		t.Fatalf("NewLimiter of the zero rate = %v, want nil", l)
	}
	if d := l.Allow(t.Context(), "k"); !d.Allowed || d.Limit != 0 {
		t.Fatalf("nil limiter: %+v", d)
	}
	w := httptest.NewRecorder()
	if !l.Admit(w, httptest.NewRequest(http.MethodPost, "/urls", nil), "k") {
		t.Fatal("nil limiter refused")
	}
	if len(w.Header()) != 0 {
		t.Fatalf("nil limiter wrote headers %v", w.Header())
	}
	if !l.Rate().IsZero() {
		t.Fatal("nil limiter has a rate")
	}
}

// TestLimiterInMemory: without a cache the limiter is GCRA per instance: the limit at
// once, then one request per emission interval.
func TestLimiterInMemory(t *testing.T) {
	rate := Rate{Limit: 4, Period: time.Second}
	l := NewLimiter(nil, "writes", rate)
	now := time.Now().UnixNano()
	for i := range rate.Limit {
		d := l.local.allow("k", now, rate)
		if !d.Allowed || d.Remaining != rate.Limit-1-i || !d.Local {
			t.Fatalf("request %d: %+v", i+1, d)
		}
		if want := time.Duration(i+1) * rate.Period / 4; d.Reset != want {
			t.Fatalf("request %d: reset %v, want %v", i+1, d.Reset, want)
		}
	}
	d := l.local.allow("k", now, rate)
	if d.Allowed || d.RetryAfter != 250*time.Millisecond || d.Reset != time.Second {
		t.Fatalf("over the limit: %+v, want refused, retry after 250ms, reset 1s", d)
	}
	if d := l.local.allow("k", now+int64(249*time.Millisecond), rate); d.Allowed {
		t.Fatalf("before the interval: %+v", d)
	}
	if d := l.local.allow("k", now+int64(250*time.Millisecond), rate); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after the interval: %+v", d)
	}
	// A refusal is not counted: the client that keeps knocking is not locked out longer.
	if d := l.local.allow("k", now+int64(500*time.Millisecond), rate); !d.Allowed {
		t.Fatalf("after another interval: %+v", d)
	}
	if d := l.local.allow("k", now+int64(10*time.Second), rate); !d.Allowed || d.Remaining != rate.Limit-1 {
		t.Fatalf("long after: %+v, want the whole limit again", d)
	}
	if d := l.Allow(t.Context(), "fresh"); !d.Allowed || !d.Local || d.Remaining != rate.Limit-1 {
		t.Fatalf("Allow without a cache: %+v", d)
	}
}

// TestLimiterMemoryBounded: expired keys are swept, and a flood of live keys never holds
// more than limitMaxKeys.
func TestLimiterMemoryBounded(t *testing.T) {
	rate := Rate{Limit: 1, Period: time.Second}
	var m limitMemory
	now := time.Now().UnixNano()
	for i := range 3 * limitMaxKeys {
		m.allow(strconv.Itoa(i), now, rate)
		if len(m.tat) > limitMaxKeys {
			t.Fatalf("%d keys held after %d, want at most %d", len(m.tat), i+1, limitMaxKeys)
		}
	}
	// Once they expired, the next sweep (at the latest when the map is full again)
	// drops them all.
	later := now + int64(2*time.Second)
	for i := range limitMaxKeys {
		m.allow("later"+strconv.Itoa(i), later, rate)
		if len(m.tat) > limitMaxKeys {
			t.Fatalf("%d keys held, want at most %d", len(m.tat), limitMaxKeys)
		}
	}
	for k, v := range m.tat {
		if v <= later {
			t.Fatalf("expired key %s kept", k)
		}
	}
}

func TestWriteHeaders(t *testing.T) {
	cases := []struct {
		name string
		d    Decision
		want map[string]string
	}{
		{"Allowed", Decision{Allowed: true, Limit: 60, Remaining: 59, Reset: 1500 * time.Millisecond},
			map[string]string{"RateLimit-Limit": "60", "RateLimit-Remaining": "59", "RateLimit-Reset": "2", "Retry-After": ""}},
		{"RefusedRoundsUp", Decision{Limit: 60, Reset: 59*time.Second + time.Millisecond, RetryAfter: 100 * time.Millisecond},
			map[string]string{"RateLimit-Limit": "60", "RateLimit-Remaining": "0", "RateLimit-Reset": "60", "Retry-After": "1"}},
		{"RefusedWholeSeconds", Decision{Limit: 1, Reset: 3 * time.Second, RetryAfter: 3 * time.Second},
			map[string]string{"RateLimit-Reset": "3", "Retry-After": "3"}},
		{"NoLimit", Decision{Allowed: true},
			map[string]string{"RateLimit-Limit": "", "RateLimit-Remaining": "", "RateLimit-Reset": "", "Retry-After": ""}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			WriteHeaders(w, c.d)
			for k, v := range c.want {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestAdmitRefuses: over the limit, Admit answers 429 JSON with Retry-After and the
// RateLimit headers; under it, it only adds the headers.
func TestAdmitRefuses(t *testing.T) {
	l := NewLimiter(nil, "writes", Rate{Limit: 1, Period: time.Minute})
	w := httptest.NewRecorder()
	if !l.Admit(w, httptest.NewRequest(http.MethodPost, "/urls", nil), "addr:192.0.2.1") {
		t.Fatal("first request refused")
	}
	if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("RateLimit-Remaining") != "0" {
		t.Fatalf("admitted: %d %q, headers %v", w.Code, w.Body, w.Header())
	}
	w = httptest.NewRecorder()
	if l.Admit(w, httptest.NewRequest(http.MethodPost, "/urls", nil), "addr:192.0.2.1") {
		t.Fatal("second request admitted")
	}
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", w.Code)
	}
	var body struct{ Error string }
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	if w.Header().Get("Retry-After") != "60" || w.Header().Get("RateLimit-Limit") != "1" ||
		w.Header().Get("RateLimit-Remaining") != "0" || w.Header().Get("RateLimit-Reset") != "60" {
		t.Fatalf("headers %v", w.Header())
	}
	// Refuse of a decision without a limit still says when to retry.
	w = httptest.NewRecorder()
	Refuse(w, httptest.NewRequest(http.MethodGet, "/x", nil), Decision{})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || w.Header().Get("RateLimit-Limit") != "" {
		t.Fatalf("Refuse without a limit: %d, headers %v", w.Code, w.Header())
	}
}

// BenchmarkLimiterAllow is one Allow: counted in Valkey (a script round trip), and in
// memory (with no cache, or while Valkey is down), over many keys and over one.
func BenchmarkLimiterAllow(b *testing.B) {
	rate := Rate{Limit: 1_000_000, Period: time.Second}
	b.Run("Valkey", func(b *testing.B) {
		l := NewLimiter(cachetest.New(b), "bench", rate)
		limitBenchParallel(b, l, 1024)
	})
	// Many requests at once, as a busy instance has: valkey-go pipelines their calls on
	// one connection, so throughput is far above one call per round trip.
	b.Run("ValkeyConcurrent32", func(b *testing.B) {
		l := NewLimiter(cachetest.New(b), "bench", rate)
		b.SetParallelism(16) // 16 per CPU
		limitBenchParallel(b, l, 1024)
	})
	b.Run("MemoryManyKeys", func(b *testing.B) {
		limitBenchParallel(b, NewLimiter(nil, "bench", rate), 1024)
	})
	b.Run("MemoryOneKey", func(b *testing.B) {
		limitBenchParallel(b, NewLimiter(nil, "bench", rate), 1)
	})
}

// limitBenchParallel reports, beside the time, the share of calls refused and of calls
// counted locally: with Valkey, a call that misses its deadline (a starved CPU) falls back
// to memory, and the cache then leaves Valkey alone for a second.
func limitBenchParallel(b *testing.B, l *Limiter, keys int) {
	names := make([]string, keys)
	for i := range names {
		names[i] = "addr:192.0.2." + strconv.Itoa(i)
	}
	var refused, local atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			d := l.Allow(b.Context(), names[i%keys])
			if !d.Allowed {
				refused.Add(1)
			}
			if d.Local {
				local.Add(1)
			}
			i++
		}
	})
	b.ReportMetric(float64(refused.Load())/float64(b.N), "refused/op")
	b.ReportMetric(float64(local.Load())/float64(b.N), "local/op")
}
