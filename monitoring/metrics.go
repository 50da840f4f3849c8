// Package monitoring holds the observability configuration of the URL shortener
// (Prometheus rules and scrape configuration, Alertmanager, Grafana, Loki/Alloy) and the
// tests that check it with the real tools. This file is the catalogue those tests compare
// every PromQL query against: a metric name a rule or dashboard uses must either be
// exposed by our functions (OwnMetrics, and then the live test finds it in a real scrape)
// or be named on the allow-list of metrics that other software produces
// (ExternalMetrics), with the reason it is not ours.
package monitoring

import "strings"

// OwnMetrics are the metric families our functions expose on /metrics, by family name
// (a histogram's _bucket, _sum and _count series belong to its family). The names are the
// integrator's instrumentation contract; the live test checks them against a real scrape.
var OwnMetrics = map[string]string{
	"shortener_http_requests_total":                    "counter",
	"shortener_http_request_duration_seconds":          "histogram",
	"shortener_http_requests_in_flight":                "gauge",
	"shortener_redirects_total":                        "counter",
	"shortener_cache_requests_total":                   "counter",
	"shortener_cache_client_side_hits_total":           "counter",
	"shortener_dependency_up":                          "gauge",
	"shortener_events_emitted_total":                   "counter",
	"shortener_events_acknowledged_total":              "counter",
	"shortener_events_delivery_failures_total":         "counter",
	"shortener_outbox_pending_events":                  "gauge",
	"shortener_outbox_oldest_pending_age_seconds":      "gauge",
	"shortener_events_writer_stored_total":             "counter",
	"shortener_events_writer_duplicates_total":         "counter",
	"shortener_events_writer_rejected_total":           "counter",
	"shortener_events_writer_failures_total":           "counter",
	"shortener_clicks_buffered":                        "gauge",
	"shortener_clicks_lost_total":                      "counter",
	"shortener_db_pool_acquired_connections":           "gauge",
	"shortener_db_pool_idle_connections":               "gauge",
	"shortener_db_pool_total_connections":              "gauge",
	"shortener_db_pool_max_connections":                "gauge",
	"shortener_db_pool_acquires_total":                 "counter",
	"shortener_db_pool_empty_acquires_total":           "counter",
	"shortener_db_pool_acquire_duration_seconds_total": "counter",
	"shortener_build_info":                             "gauge",
	"shortener_cache_invalidation_failures_total":      "counter",
	"shortener_cache_invalidations_replayed_total":     "counter",
	"shortener_cache_invalidations_dropped_total":      "counter",
	"shortener_cache_invalidations_pending":            "gauge",
	// From client_golang's Go and process collectors, registered by every function.
	"process_cpu_seconds_total":     "counter",
	"process_resident_memory_bytes": "gauge",
	"go_goroutines":                 "gauge",
}

// DurationBuckets are the classic bucket bounds (le) of
// shortener_http_request_duration_seconds, as shared/metrics DurationBuckets sets them in
// the functions' module, which this module does not import. The live test checks that a
// real scrape has exactly these; the offline tests check that every le a rule, dashboard
// or promtool test names is one of them, so a bucket change that forgets a query fails.
var DurationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
}

// ExternalMetrics is the allow-list of metric names that rules and dashboards may use
// although no function of ours produces them, with who does. The live test does not look
// for them in the functions' scrapes.
var ExternalMetrics = map[string]string{
	// Prometheus itself: one series per scrape target, and the state of alerting rules.
	"up":     "Prometheus (scrape health of every target)",
	"ALERTS": "Prometheus (pending and firing alerts)",

	// kube-state-metrics (kube-prometheus-stack).
	"kube_pod_deletion_timestamp":        "kube-state-metrics (pods being deleted; ServiceDown ignores them)",
	"kube_pod_container_resource_limits": "kube-state-metrics (container limits for HighCPU/HighMemory)",

	// Knative queue-proxy, Knative Serving v0.50 (knative.dev/serving pkg/queue/request_metric.go:
	// OpenTelemetry histogram kn.serving.invocation.duration, unit s, exported to Prometheus as below).
	"kn_serving_invocation_duration_seconds_bucket": "Knative queue-proxy (request duration in front of the function)",

	// CloudNativePG instance exporter (port metrics, 9187).
	"cnpg_collector_up":       "CloudNativePG (1 if PostgreSQL is up)",
	"cnpg_backends_total":     "CloudNativePG default monitoring queries (backends)",
	"cnpg_pg_replication_lag": "CloudNativePG default monitoring queries (replica lag, seconds)",

	// redis_exporter next to Valkey and its Sentinels.
	"redis_up":                           "redis_exporter (Valkey node reachable)",
	"redis_connected_clients":            "redis_exporter",
	"redis_memory_used_bytes":            "redis_exporter",
	"redis_keyspace_hits_total":          "redis_exporter",
	"redis_keyspace_misses_total":        "redis_exporter",
	"redis_sentinel_master_ok_sentinels": "redis_exporter on a Sentinel",
	"redis_sentinel_master_ok_slaves":    "redis_exporter on a Sentinel",
}

// OwnFamily returns the family in OwnMetrics that a series name belongs to, accepting the
// _bucket, _sum and _count series of histograms, and whether there is one.
func OwnFamily(name string) (string, bool) {
	if _, ok := OwnMetrics[name]; ok {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, found := strings.CutSuffix(name, suffix)
		if found && OwnMetrics[base] == "histogram" {
			return base, true
		}
	}
	return "", false
}
