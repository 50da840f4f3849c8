// Package metrics defines every Prometheus metric of the functions, on a registry per
// process that exposes only the families of what that function does (Part). Labels never
// carry a short code, URL or user id.
package metrics

import (
	"context"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the registry and the collectors the code updates.
type Metrics struct {
	Registry *prometheus.Registry

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	Redirects      *prometheus.CounterVec // result: found | not_found
	CacheRequests  *prometheus.CounterVec // use: redirect | item | list; result: hit | miss | error
	ClientSideHits prometheus.Counter
	DependencyUp   *prometheus.GaugeVec // dependency: postgres | valkey
	EventsEmitted  *prometheus.CounterVec
	EventsAcked    prometheus.Counter
	EventsFailed   prometheus.Counter
	WriterStored   *prometheus.CounterVec
	WriterDupes    prometheus.Counter
	WriterRejected prometheus.Counter
	WriterFailures prometheus.Counter
	ClicksBuffered prometheus.Gauge
	ClicksLost     prometheus.Counter

	parts         Part    // the families Registry exposes besides the common ones
	invalidations factory // where CacheInvalidations registers

	redirectFound, redirectNotFound prometheus.Counter
	cacheResults                    map[string]*[3]prometheus.Counter // use → hit, miss, error
	requestSeries                   sync.Map                          // requestKey → *requestSeries
}

// DurationBuckets are the upper bounds, in seconds, of the request duration histogram's
// classic buckets. A redirect answered from the client-side cache takes microseconds
// inside the process, a write a few milliseconds, so the buckets start at 10 µs, where
// Prometheus's default ones (from 5 ms) put every redirect into the first bucket and no
// percentile of it could be read; they end at 10 s, past the 2 s the HighLatency alert
// watches. Steps of 1, 2.5, 5 keep each bucket within 2.5 times the last, so a quantile
// interpolated inside one is off by less than that. The alert rules, their promtool
// tests and the dashboards read these bounds (le="0.001" among them); change them
// together.
var DurationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, // 10 µs … 500 µs
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, // 1 ms … 500 ms
	1, 2.5, 5, 10,
}

// Part is a set of metric families that only the functions doing that work report, so a
// function's /metrics holds its own families and no zeros of another's. Every function
// reports the common families besides: HTTP requests, the connection pool, dependency
// checks, build information and the Go and process collectors.
type Part uint

const (
	// Redirects are redirect look-ups, their cache look-ups (use "redirect") and the
	// client-side cache hits.
	Redirects Part = 1 << iota
	// CacheReads are the read-through cache look-ups of items and lists (use "item",
	// "list").
	CacheReads
	// CacheWrites are the cache writes that did not reach Valkey at once
	// (CacheInvalidations): a function that invalidates or fills the cache.
	CacheWrites
	// Events are the audit events written to the outbox and delivered to the sink.
	Events
	// Clicks are the clicks held in memory before the outbox.
	Clicks
	// Writer is what the events-writer stored, found duplicate, refused or failed.
	Writer
	// Outbox is the outbox depth and its oldest event's age, queried from PostgreSQL on
	// every scrape (RegisterDB).
	Outbox

	// Common is no part: only the families every function reports.
	Common Part = 0
	// All is every part.
	All = Redirects | CacheReads | CacheWrites | Events | Clicks | Writer | Outbox
)

// New builds every family on a fresh registry: NewFor(All).
func New() *Metrics { return NewFor(All) }

// NewFor builds the metrics on a fresh registry that exposes the common families and
// those of parts. The collectors of the other parts exist too, so that code shared by
// several functions updates them without a check, but they are on no registry and so
// never scraped.
func NewFor(parts Part) *Metrics {
	reg := prometheus.NewRegistry()
	unscraped := prometheus.NewRegistry()
	on := func(p Part) factory {
		if parts&p != 0 {
			return promauto(reg)
		}
		return promauto(unscraped)
	}
	f := promauto(reg)
	m := &Metrics{
		Registry:     reg,
		parts:        parts,
		requests:     f.counterVec("shortener_http_requests_total", "HTTP requests answered, by route pattern, method and status code.", "route", "method", "code"),
		duration:     f.histogramVec("shortener_http_request_duration_seconds", "Time to answer HTTP requests, by route pattern, method and status code.", DurationBuckets, "route", "method", "code"),
		inFlight:     f.gauge("shortener_http_requests_in_flight", "HTTP requests being answered."),
		DependencyUp: f.gaugeVec("shortener_dependency_up", "Whether a dependency answered its last check (1) or not (0).", "dependency"),

		Redirects:      on(Redirects).counterVec("shortener_redirects_total", "Redirect look-ups by result (found, not_found).", "result"),
		CacheRequests:  on(Redirects|CacheReads).counterVec("shortener_cache_requests_total", "Cache look-ups by use (redirect, item, list) and result (hit, miss, error).", "use", "result"),
		ClientSideHits: on(Redirects).counter("shortener_cache_client_side_hits_total", "Redirect look-ups answered from this process's client-side cache, without a network round trip."),
		EventsEmitted:  on(Events).counterVec("shortener_events_emitted_total", "Audit events written to the outbox, by CloudEvent type.", "type"),
		EventsAcked:    on(Events).counter("shortener_events_acknowledged_total", "Audit events the sink acknowledged."),
		EventsFailed:   on(Events).counter("shortener_events_delivery_failures_total", "Audit event deliveries that failed and were left to the relay."),
		WriterStored:   on(Writer).counterVec("shortener_events_writer_stored_total", "Events the events-writer stored, by CloudEvent type.", "type"),
		WriterDupes:    on(Writer).counter("shortener_events_writer_duplicates_total", "Redelivered events the events-writer had stored already."),
		WriterRejected: on(Writer).counter("shortener_events_writer_rejected_total", "Malformed or unknown events the events-writer refused (not retried)."),
		WriterFailures: on(Writer).counter("shortener_events_writer_failures_total", "Events the events-writer could not store (retried by the sender)."),
		ClicksBuffered: on(Clicks).gauge("shortener_clicks_buffered", "Clicks waiting in memory to be written to the outbox."),
		ClicksLost:     on(Clicks).counter("shortener_clicks_lost_total", "Clicks that could not be written to the outbox and were dropped."),
	}
	m.invalidations = on(CacheWrites)
	// Children resolved once: a label look-up per request costs a hash and a lock. Only
	// the uses of this function's parts, so no other function's series shows as zeros.
	m.redirectFound, m.redirectNotFound = m.Redirects.WithLabelValues("found"), m.Redirects.WithLabelValues("not_found")
	m.cacheResults = map[string]*[3]prometheus.Counter{}
	for use, p := range map[string]Part{"redirect": Redirects, "item": CacheReads, "list": CacheReads} {
		if parts&p == 0 {
			continue
		}
		r := &[3]prometheus.Counter{}
		for i, res := range []string{"hit", "miss", "error"} {
			r[i] = m.CacheRequests.WithLabelValues(use, res)
		}
		m.cacheResults[use] = r
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
	)
	return m
}

func buildInfo() prometheus.Collector {
	version, revision, goVersion := "unknown", "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "shortener_build_info",
		Help:        "Build information of the running binary; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goVersion},
	})
	g.Set(1)
	return g
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// RequestStarted counts a request in flight until RequestDone.
func (m *Metrics) RequestStarted() { m.inFlight.Inc() }

// RequestDone ends what RequestStarted counted.
func (m *Metrics) RequestDone() { m.inFlight.Dec() }

// ObserveRequest counts one answered request and its duration by route pattern, method
// and status code. The router calls it once per request: promhttp's three wrappers
// allocate a label map and a response writer each, which the redirect hot path cannot
// afford.
func (m *Metrics) ObserveRequest(route, method string, code int, d time.Duration) {
	k := requestKey{route, methodLabel(method), code}
	o, ok := m.requestSeries.Load(k)
	if !ok {
		status := strconv.Itoa(code)
		o, _ = m.requestSeries.LoadOrStore(k, &requestSeries{
			count:    m.requests.WithLabelValues(k.route, k.method, status),
			duration: m.duration.WithLabelValues(k.route, k.method, status),
		})
	}
	s := o.(*requestSeries)
	s.count.Inc()
	s.duration.Observe(d.Seconds())
}

// requestKey names one series of the request metrics. Routes are patterns and methods
// and codes few, so the set stays small.
type requestKey struct {
	route, method string
	code          int
}

// requestSeries are the children of one requestKey, looked up once: a label look-up
// hashes every label and takes a lock.
type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// methodLabel keeps the label set bounded: a client can send any method token.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// CacheResult counts one cache look-up; use is "redirect", "item" or "list". The
// children of the uses of this Metrics' parts were resolved by NewFor; another use is
// counted the slow way, in a family that may not be scraped.
func (m *Metrics) CacheResult(use string, hit bool, err error) {
	i := 1 // miss
	switch {
	case err != nil:
		i = 2
	case hit:
		i = 0
	}
	if r := m.cacheResults[use]; r != nil {
		r[i].Inc()
		return
	}
	m.CacheRequests.WithLabelValues(use, [3]string{"hit", "miss", "error"}[i]).Inc()
}

// Redirect counts one redirect look-up by whether it found an active code.
func (m *Metrics) Redirect(found bool) {
	if found {
		m.redirectFound.Inc()
	} else {
		m.redirectNotFound.Inc()
	}
}

// SetUp records a dependency check.
func (m *Metrics) SetUp(dependency string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.DependencyUp.WithLabelValues(dependency).Set(v)
}

// PoolStats is what the pgx pool reports; the store's pool satisfies it.
type PoolStats interface {
	AcquiredConns() int32
	IdleConns() int32
	TotalConns() int32
	MaxConns() int32
	AcquireCount() int64
	EmptyAcquireCount() int64
	AcquireDuration() time.Duration
}

// OutboxStats reports the outbox depth and the age of its oldest event.
type OutboxStats func(ctx context.Context) (pending int64, oldest time.Duration, err error)

// RegisterDB adds the connection-pool collector and, when this Metrics reports the Outbox
// part, the outbox collector; both are read at scrape time. Only then does a scrape
// query the outbox table.
func (m *Metrics) RegisterDB(pool func() PoolStats, outbox OutboxStats) {
	m.Registry.MustRegister(poolCollector(pool))
	if m.parts&Outbox != 0 {
		m.Registry.MustRegister(outboxCollector(outbox))
	}
}

// Cache writes that did not reach Valkey at once (the cache package doc says why they are
// kept and replayed). Kept apart: the cache reports them through an observer.

// CacheInvalidations makes the metrics of cache writes that did not reach Valkey at once,
// registered when this Metrics reports the CacheWrites part, and returns the observer
// the cache reports to (cache.SetInvalidationObserver). Call it once per Metrics.
func (m *Metrics) CacheInvalidations() func(event string, pending int) {
	f := m.invalidations
	failed := f.counter("shortener_cache_invalidation_failures_total", "Cache invalidations and list bumps that did not reach Valkey when their write was made; each is kept and replayed.")
	replayed := f.counter("shortener_cache_invalidations_replayed_total", "Pending cache writes (invalidations, list bumps, fills read during an outage) that reached Valkey later.")
	dropped := f.counterVec("shortener_cache_invalidations_dropped_total", "Pending cache writes given up, by reason: full (too many pending; the old entry may be served until its TTL) or expired (after the TTL, when every older entry had expired).", "reason")
	pending := f.gauge("shortener_cache_invalidations_pending", "Cache writes this process holds because Valkey did not take them yet; while any is pending it reads nothing from Valkey.")
	full, expired := dropped.WithLabelValues("full"), dropped.WithLabelValues("expired")
	return func(event string, n int) {
		switch event {
		case "failed":
			failed.Inc()
		case "replayed":
			replayed.Inc()
		case "dropped":
			full.Inc()
		case "expired":
			expired.Inc()
		}
		pending.Set(float64(n))
	}
}
