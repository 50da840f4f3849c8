package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type factory struct{ reg prometheus.Registerer }

func promauto(reg prometheus.Registerer) factory { return factory{reg} }

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

// histogramVec makes a histogram with the classic buckets given. No native histogram
// beside them: it would cost the redirect path about 60 ns a request (BENCHMARKS.md,
// "Request duration buckets") for a format no Prometheus of ours ingests yet; setting
// NativeHistogramBucketFactor here is all it takes once one does.
func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

var (
	poolAcquired = prometheus.NewDesc("shortener_db_pool_acquired_connections", "Connections in use.", nil, nil)
	poolIdle     = prometheus.NewDesc("shortener_db_pool_idle_connections", "Idle connections.", nil, nil)
	poolTotal    = prometheus.NewDesc("shortener_db_pool_total_connections", "Open connections.", nil, nil)
	poolMax      = prometheus.NewDesc("shortener_db_pool_max_connections", "The pool's connection limit.", nil, nil)
	poolAcquires = prometheus.NewDesc("shortener_db_pool_acquires_total", "Connections acquired from the pool.", nil, nil)
	poolEmpty    = prometheus.NewDesc("shortener_db_pool_empty_acquires_total", "Acquires that had to wait because the pool was empty.", nil, nil)
	poolWait     = prometheus.NewDesc("shortener_db_pool_acquire_duration_seconds_total", "Time spent acquiring connections.", nil, nil)
	outboxDepth  = prometheus.NewDesc("shortener_outbox_pending_events", "Audit events in the outbox not yet acknowledged by the sink.", nil, nil)
	outboxAge    = prometheus.NewDesc("shortener_outbox_oldest_pending_age_seconds", "Age of the oldest unacknowledged audit event (0 when none).", nil, nil)
)

// poolStatsCollector reads the connection pool when scraped, so the numbers are never
// stale.
type poolStatsCollector struct{ pool func() PoolStats }

func poolCollector(pool func() PoolStats) prometheus.Collector { return poolStatsCollector{pool} }

func (c poolStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolTotal, poolMax, poolAcquires, poolEmpty, poolWait} {
		ch <- d
	}
}

func (c poolStatsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool()
	if s == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(s.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolEmpty, prometheus.CounterValue, float64(s.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolWait, prometheus.CounterValue, s.AcquireDuration().Seconds())
}

// outboxStatsCollector queries the outbox when scraped. It is one query per scrape of
// each process that has it, which is why only one function registers it.
type outboxStatsCollector struct{ outbox OutboxStats }

func outboxCollector(outbox OutboxStats) prometheus.Collector { return outboxStatsCollector{outbox} }

func (c outboxStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDepth
	ch <- outboxAge
}

func (c outboxStatsCollector) Collect(ch chan<- prometheus.Metric) {
	// A scrape must not hang on a dead database: the outbox numbers are skipped then.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if pending, oldest, err := c.outbox(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(outboxDepth, prometheus.GaugeValue, float64(pending))
		ch <- prometheus.MustNewConstMetric(outboxAge, prometheus.GaugeValue, oldest.Seconds())
	}
}
