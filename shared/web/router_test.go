package web_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/web"
)

// newRouter returns a router with two routes, served by an httptest.Server so the
// requests go through a real HTTP stack.
func newRouter(t *testing.T) (*httptest.Server, *metrics.Metrics) {
	t.Helper()
	captureLogs(t) // keep the request log lines out of the test output
	m := metrics.New()
	rt := web.NewRouter(m, "test")
	rt.Handle(
		web.Route{Pattern: "GET /items/{id}", Handler: func(w http.ResponseWriter, r *http.Request) {
			id, err := web.PathID(r, "id", "item")
			if err != nil {
				web.Error(w, r, err)
				return
			}
			web.JSON(w, http.StatusOK, map[string]any{"id": id, "request_id": web.RequestID(r)})
		}},
		web.Route{Pattern: "POST /items", Handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
		}},
	)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv, m
}

func do(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRouterErrorsAreJSON(t *testing.T) {
	srv, _ := newRouter(t)
	cases := []struct {
		name   string
		method string
		path   string
		status int
		allow  []string
	}{
		{"UnknownPathIs404", http.MethodGet, "/nope", http.StatusNotFound, nil},
		{"RootIs404", http.MethodGet, "/", http.StatusNotFound, nil},
		{"BadIDIs404", http.MethodGet, "/items/abc", http.StatusNotFound, nil},
		{"WrongMethodIs405", http.MethodDelete, "/items/1", http.StatusMethodNotAllowed, []string{"GET", "HEAD"}},
		{"WrongMethodOnCollectionIs405", http.MethodGet, "/items", http.StatusMethodNotAllowed, []string{"POST"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, srv.URL+tc.path, nil)
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d (body %s)", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if !strings.HasPrefix(body, `{"error":`) {
				t.Errorf("body = %s, want a JSON error", body)
			}
			allow := resp.Header.Get("Allow")
			for _, m := range tc.allow {
				if !strings.Contains(allow, m) {
					t.Errorf("Allow = %q, lacks %s", allow, m)
				}
			}
			if tc.allow == nil && allow != "" {
				t.Errorf("Allow = %q on a 404", allow)
			}
		})
	}
}

func TestRouterServesRoutes(t *testing.T) {
	srv, _ := newRouter(t)
	resp, body := do(t, http.MethodGet, srv.URL+"/items/7", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"id":7`) {
		t.Fatalf("GET /items/7 = %d %s", resp.StatusCode, body)
	}
	resp, _ = do(t, http.MethodPost, srv.URL+"/items", nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /items = %d", resp.StatusCode)
	}
}

func TestRouterRequestID(t *testing.T) {
	srv, _ := newRouter(t)
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	t.Run("Echoed", func(t *testing.T) {
		resp, body := do(t, http.MethodGet, srv.URL+"/items/1", http.Header{"X-Request-Id": {"abc-123"}})
		if got := resp.Header.Get("X-Request-Id"); got != "abc-123" {
			t.Errorf("X-Request-Id = %q, want the incoming one", got)
		}
		if !strings.Contains(body, `"request_id":"abc-123"`) {
			t.Errorf("handler saw %s, want the incoming id in its context", body)
		}
	})
	t.Run("EchoedOnUnmatched", func(t *testing.T) {
		resp, _ := do(t, http.MethodGet, srv.URL+"/nope", http.Header{"X-Request-Id": {"xyz"}})
		if got := resp.Header.Get("X-Request-Id"); got != "xyz" {
			t.Errorf("X-Request-Id = %q, want xyz", got)
		}
	})
	t.Run("GeneratedWhenAbsent", func(t *testing.T) {
		r1, body := do(t, http.MethodGet, srv.URL+"/items/1", nil)
		r2, _ := do(t, http.MethodGet, srv.URL+"/items/1", nil)
		id1, id2 := r1.Header.Get("X-Request-Id"), r2.Header.Get("X-Request-Id")
		if !generated.MatchString(id1) || !generated.MatchString(id2) {
			t.Fatalf("generated ids %q, %q are not 16 hex digits", id1, id2)
		}
		if id1 == id2 {
			t.Errorf("two requests got the same id %q", id1)
		}
		if !strings.Contains(body, id1) {
			t.Errorf("handler saw %s, want %s", body, id1)
		}
	})
	t.Run("ReplacedWhenTooLong", func(t *testing.T) {
		resp, _ := do(t, http.MethodGet, srv.URL+"/items/1", http.Header{"X-Request-Id": {strings.Repeat("a", 65)}})
		if got := resp.Header.Get("X-Request-Id"); !generated.MatchString(got) {
			t.Errorf("X-Request-Id = %q, want a fresh one", got)
		}
	})
	t.Run("NoneOutsideARequest", func(t *testing.T) {
		if id := web.RequestID(httptest.NewRequest(http.MethodGet, "/", nil)); id != "" {
			t.Errorf("RequestID = %q, want empty", id)
		}
	})
}

// TestRouterMetrics: each route is counted under its pattern (never the path, which
// carries ids), unmatched requests under "unmatched".
func TestRouterMetrics(t *testing.T) {
	srv, m := newRouter(t)
	do(t, http.MethodGet, srv.URL+"/items/1", nil)
	do(t, http.MethodGet, srv.URL+"/items/2", nil)
	do(t, http.MethodGet, srv.URL+"/secret-code", nil)
	do(t, http.MethodDelete, srv.URL+"/items/3", nil)
	do(t, "PURGE", srv.URL+"/items/4", nil) // any token is a method; labels stay bounded

	want := map[string]float64{
		`code=200,method=GET,route=GET /items/{id}`: 2,
		`code=404,method=GET,route=unmatched`:       1,
		`code=405,method=DELETE,route=unmatched`:    1,
		`code=405,method=OTHER,route=unmatched`:     1,
	}
	got := counters(t, m, "shortener_http_requests_total")
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	for k := range got {
		if strings.Contains(k, "secret-code") || strings.Contains(k, "/items/1") {
			t.Errorf("a path leaked into a label: %s", k)
		}
	}
	if _, ok := histograms(t, m, "shortener_http_request_duration_seconds")[`code=200,method=GET,route=GET /items/{id}`]; !ok {
		t.Error("no duration observed for GET /items/{id}")
	}
}

// counters returns the values of a counter family keyed by "name=value,..." of its labels.
// TestRouterInFlight: a request counts as in flight while its handler runs, and no longer
// once it is answered.
func TestRouterInFlight(t *testing.T) {
	captureLogs(t)
	m := metrics.New()
	rt := web.NewRouter(m, "test")
	inside := make(chan float64, 1)
	rt.Handle(web.Route{Pattern: "GET /probe", Handler: func(w http.ResponseWriter, r *http.Request) {
		inside <- family(t, m, "shortener_http_requests_in_flight")[""].GetGauge().GetValue()
	}})
	rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/probe", nil))
	if got := <-inside; got != 1 {
		t.Errorf("in flight during the request = %v, want 1", got)
	}
	if got := family(t, m, "shortener_http_requests_in_flight")[""].GetGauge().GetValue(); got != 0 {
		t.Errorf("in flight after the request = %v, want 0", got)
	}
}

func counters(t *testing.T, m *metrics.Metrics, name string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for k, mt := range family(t, m, name) {
		out[k] = mt.GetCounter().GetValue()
	}
	return out
}

func histograms(t *testing.T, m *metrics.Metrics, name string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for k, mt := range family(t, m, name) {
		out[k] = mt.GetHistogram().GetSampleCount()
	}
	return out
}

// family returns the metrics of one family keyed by "name=value,..." of their labels.
func family(t *testing.T, m *metrics.Metrics, name string) map[string]*dto.Metric {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.Metric{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			var kv []string
			for _, l := range mt.GetLabel() {
				kv = append(kv, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(kv, ",")] = mt
		}
	}
	return out
}

// TestRouterQuietRoutes: a Quiet route's successes are logged at debug level only; its
// refusals and every other route's answers at info.
func TestRouterQuietRoutes(t *testing.T) {
	rt := func() *web.Router {
		rt := web.NewRouter(metrics.New(), "test")
		rt.Handle(
			web.Route{Pattern: "GET /{short_code}", Quiet: true, Handler: func(w http.ResponseWriter, r *http.Request) {
				if r.PathValue("short_code") == "gone" {
					web.Error(w, r, domain.Errorf(domain.NotFound, "short code not found"))
					return
				}
				w.WriteHeader(http.StatusFound)
			}},
			web.Route{Pattern: "GET /health", Handler: func(w http.ResponseWriter, r *http.Request) {}},
		)
		return rt
	}
	serve := func(rt *web.Router, path string) {
		rt.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}

	info := captureLogs(t)
	r := rt()
	serve(r, "/abc")
	if info.Len() != 0 {
		t.Errorf("a quiet route's 302 was logged at info: %s", info)
	}
	serve(r, "/gone")
	serve(r, "/health")
	if n := strings.Count(info.String(), `"msg":"request"`); n != 2 {
		t.Errorf("%d info lines for a quiet 404 and a loud 200, want 2: %s", n, info)
	}

	var debug bytes.Buffer
	slog.SetDefault(slog.New(slog.NewJSONHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug})))
	serve(rt(), "/abc")
	if !strings.Contains(debug.String(), `"level":"DEBUG","msg":"request"`) || !strings.Contains(debug.String(), `"status":302`) {
		t.Errorf("a quiet route's 302 was not logged at debug: %s", debug.String())
	}
}
