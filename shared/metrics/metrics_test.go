package metrics_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/urlshort/shortener/shared/metrics"
)

// TestOutboxQueriedOnlyWithItsPart: a scrape queries the outbox only where the Outbox
// part is reported, once per scrape there, and a failing query leaves out its gauges.
func TestOutboxQueriedOnlyWithItsPart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		parts   metrics.Part
		queries int64
	}{{"Common", metrics.Common, 0}, {"Redirects", metrics.Redirects | metrics.Events, 0}, {"Outbox", metrics.Outbox, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			m := metrics.NewFor(tc.parts)
			var queries atomic.Int64
			m.RegisterDB(func() metrics.PoolStats { return nil }, func(context.Context) (int64, time.Duration, error) {
				queries.Add(1)
				return 3, 2 * time.Second, nil
			})
			for range 2 {
				if _, err := m.Registry.Gather(); err != nil {
					t.Fatal(err)
				}
			}
			if n := queries.Load(); n != tc.queries {
				t.Errorf("%d outbox queries in 2 scrapes, want %d", n, tc.queries)
			}
			n, err := count(m.Registry, "shortener_outbox_pending_events")
			if err != nil {
				t.Fatal(err)
			}
			if want := min(tc.queries, 1); int64(n) != want {
				t.Errorf("%d outbox depth series, want %d", n, want)
			}
		})
	}
	m := metrics.NewFor(metrics.Outbox)
	m.RegisterDB(func() metrics.PoolStats { return nil }, func(context.Context) (int64, time.Duration, error) {
		return 0, 0, errors.New("database down")
	})
	if n, err := count(m.Registry, "shortener_outbox_pending_events", "shortener_outbox_oldest_pending_age_seconds"); err != nil || n != 0 {
		t.Errorf("with the outbox query failing: %d series, %v; want none", n, err)
	}
}

// TestCacheResultOfAnotherUse: a look-up of a use this Metrics did not resolve is still
// counted, and one that was resolved goes to its own child.
func TestCacheResultOfAnotherUse(t *testing.T) {
	m := metrics.NewFor(metrics.Redirects)
	m.CacheResult("redirect", true, nil)
	m.CacheResult("item", false, nil)
	m.CacheResult("item", false, errors.New("timeout"))
	for _, tc := range []struct {
		use, result string
		want        float64
	}{{"redirect", "hit", 1}, {"redirect", "miss", 0}, {"item", "miss", 1}, {"item", "error", 1}} {
		if got := value(t, m.CacheRequests.WithLabelValues(tc.use, tc.result)); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.use, tc.result, got, tc.want)
		}
	}
}

// TestUnreportedPartsStillCount: the collectors of a part a function does not report
// work (shared code updates them) but are not scraped.
func TestUnreportedPartsStillCount(t *testing.T) {
	m := metrics.NewFor(metrics.Common)
	m.ClicksLost.Inc()
	m.Redirect(true)
	observe := m.CacheInvalidations()
	observe("failed", 1)
	if value(t, m.ClicksLost) != 1 {
		t.Error("ClicksLost did not count")
	}
	n, err := count(m.Registry, "shortener_clicks_lost_total", "shortener_redirects_total", "shortener_cache_invalidation_failures_total")
	if err != nil || n != 0 {
		t.Errorf("a Common registry exposes %d series of other parts (%v)", n, err)
	}
	all := metrics.New()
	all.CacheInvalidations()("failed", 1)
	if n, err := count(all.Registry, "shortener_cache_invalidation_failures_total", "shortener_clicks_lost_total"); err != nil || n != 2 {
		t.Errorf("New exposes %d of the 2 series (%v)", n, err)
	}
}

// count is the number of series of the named families the registry exposes.
func count(reg prometheus.Gatherer, names ...string) (int, error) {
	mfs, err := reg.Gather()
	n := 0
	for _, mf := range mfs {
		for _, name := range names {
			if mf.GetName() == name {
				n += len(mf.GetMetric())
			}
		}
	}
	return n, err
}

// value reads a counter, registered or not.
func value(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestRequestDurationResolvesMicroseconds: a request answered in 30 µs is counted in a
// bucket below 1 ms (where the default buckets started at 5 ms), and every bound of
// DurationBuckets is exposed for the rules to read.
func TestRequestDurationResolvesMicroseconds(t *testing.T) {
	m := metrics.NewFor(metrics.Common)
	m.ObserveRequest("GET /{short_code}", "GET", 302, 30*time.Microsecond)
	m.ObserveRequest("GET /{short_code}", "GET", 302, 3*time.Second)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var h *dto.Histogram
	for _, mf := range mfs {
		if mf.GetName() == "shortener_http_request_duration_seconds" && len(mf.GetMetric()) == 1 {
			h = mf.GetMetric()[0].GetHistogram()
		}
	}
	if h == nil {
		t.Fatal("no shortener_http_request_duration_seconds series")
	}
	if got := len(h.GetBucket()); got != len(metrics.DurationBuckets) {
		t.Fatalf("%d classic buckets, want %d", got, len(metrics.DurationBuckets))
	}
	for i, b := range h.GetBucket() {
		if b.GetUpperBound() != metrics.DurationBuckets[i] {
			t.Errorf("bucket %d: le=%v, want %v", i, b.GetUpperBound(), metrics.DurationBuckets[i])
		}
		var want uint64
		switch {
		case b.GetUpperBound() >= 3:
			want = 2
		case b.GetUpperBound() >= 30e-6:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("le=%v counts %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

// BenchmarkObserveRequest is the metrics cost of one answered redirect: its counter and
// its histogram. BENCHMARKS.md compares the buckets with Prometheus's default ones and
// with a native histogram beside them.
func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.NewFor(metrics.Redirects)
	for b.Loop() {
		m.ObserveRequest("GET /{short_code}", "GET", 302, 20*time.Microsecond)
	}
}
