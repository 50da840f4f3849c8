package health_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/routing"
)

// readiness is the body of GET /ready.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	Error  string            `json:"error"`
}

func TestLive(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Health, grouptest.Options{})
	r := e.Do(t, "GET", "/health", nil)
	if r.Status != 200 || !reflect.DeepEqual(r.Object(t), map[string]any{"status": "ok"}) {
		t.Fatalf("GET /health: %v", r)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	// Liveness calls no dependency: it answers with PostgreSQL gone.
	e.CloseStore()
	if r := e.Do(t, "GET", "/health", nil); r.Status != 200 {
		t.Errorf("GET /health with PostgreSQL closed: %v", r)
	}
}

func TestReady(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		opt        grouptest.Options
		closeStore bool
		status     int
		want       readiness
	}{
		{"BothUp", grouptest.Options{}, false, 200,
			readiness{Status: "ok", Checks: map[string]string{"postgres": "ok", "valkey": "ok"}}},
		{"DegradedWithoutValkey", grouptest.Options{NoCache: true}, false, 200,
			readiness{Status: "degraded", Checks: map[string]string{"postgres": "ok", "valkey": "degraded"}}},
		{"DegradedWithValkeyDown", grouptest.Options{CacheURL: "redis://127.0.0.1:1/0"}, false, 200,
			readiness{Status: "degraded", Checks: map[string]string{"postgres": "ok", "valkey": "degraded"}}},
		{"UnavailableWithStoreClosed", grouptest.Options{}, true, 503,
			readiness{Status: "unavailable", Checks: map[string]string{"postgres": "unavailable", "valkey": "ok"}, Error: "postgres is unreachable"}},
		{"UnavailableWithNothing", grouptest.Options{NoCache: true}, true, 503,
			readiness{Status: "unavailable", Checks: map[string]string{"postgres": "unavailable", "valkey": "degraded"}, Error: "postgres is unreachable"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := grouptest.Mount(t, routing.Health, c.opt)
			if c.closeStore {
				e.CloseStore()
			}
			r := e.Do(t, "GET", "/ready", nil)
			var got readiness
			r.Decode(t, &got)
			if r.Status != c.status || !reflect.DeepEqual(got, c.want) {
				t.Fatalf("GET /ready: %v, want %d %+v", r, c.status, c.want)
			}
			if ra := r.Header.Get("Retry-After"); (c.status == 503) != (ra == "1") {
				t.Errorf("status %d with Retry-After %q", r.Status, ra)
			}
			// Each check's outcome is what shortener_dependency_up reports.
			m := string(e.Do(t, "GET", "/metrics", nil).Body)
			for dep, state := range c.want.Checks {
				up := "0"
				if state == "ok" {
					up = "1"
				}
				if line := `shortener_dependency_up{dependency="` + dep + `"} ` + up; !strings.Contains(m, line+"\n") {
					t.Errorf("metrics lack %q", line)
				}
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Health, grouptest.Options{})
	e.Do(t, "GET", "/health", nil)
	r := e.Do(t, "GET", "/metrics", nil)
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", r.Status, r.Header.Get("Content-Type"))
	}
	body := string(r.Body)
	for _, want := range []string{
		"# TYPE shortener_http_requests_total counter\n",
		`shortener_http_requests_total{code="200",method="GET",route="GET /health"} 1` + "\n",
		"# TYPE shortener_build_info gauge\n",
		"# TYPE shortener_db_pool_max_connections gauge\n",
		"# TYPE go_goroutines gauge\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Ids and paths are never label values: only route patterns are.
	e.Do(t, "GET", "/no/such/path", nil)
	body = string(e.Do(t, "GET", "/metrics", nil).Body)
	if strings.Contains(body, "/no/such/path") || !strings.Contains(body, `route="unmatched"`) {
		t.Errorf("an unmatched path is not counted as route \"unmatched\"")
	}
}

func TestWrongMethod(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Health, grouptest.Options{})
	for _, path := range []string{"/health", "/ready", "/metrics"} {
		r := e.Do(t, "POST", path, "{}")
		if r.Status != 405 || r.Header.Get("Allow") != "GET, HEAD" || r.Object(t)["error"] == nil {
			t.Errorf("POST %s: %v (Allow %q)", path, r, r.Header.Get("Allow"))
		}
	}
}
