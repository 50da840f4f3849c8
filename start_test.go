package function

import (
	"bufio"
	"bytes"
	"encoding/json"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/urlshort/shortener/shared/routing"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// lockedBuffer is a log destination a test reads while the log's flusher writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestStartLogsConfigurationOnce: Start logs the configuration it runs with in one line,
// every variable named, the database password masked. Not parallel: the log is the
// process's default logger, which another test's Start would replace.
func TestStartLogsConfigurationOnce(t *testing.T) {
	u, err := url.Parse(storetest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, has := u.User.Password(); !has {
		// The test server trusts local connections, so a password is ignored, not refused.
		u.User = url.UserPassword(u.User.Username(), "s3cret-in-url")
	}
	out := &lockedBuffer{}
	f := New()
	f.logOut = out
	start(t, f, map[string]string{"DATABASE_URL": u.String(), "LOG_LEVEL": "info", "CACHE_TTL": "7s"})
	if err := f.logs.Flush(); err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", sc.Text())
		}
		if line["msg"] == "configuration" {
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d configuration lines, want 1; log:\n%s", len(lines), out.String())
	}
	pw, _ := u.User.Password()
	if strings.Contains(out.String(), pw) {
		t.Errorf("the log holds the database password:\n%s", out.String())
	}
	cfg, _ := lines[0]["config"].(map[string]any)
	masked := strings.Replace(u.String(), ":"+pw+"@", ":xxxxx@", 1)
	if cfg["DATABASE_URL"] != masked || cfg["CACHE_TTL"] != "7s" || cfg["FUNCTION"] != "" {
		t.Errorf("logged DATABASE_URL %v, CACHE_TTL %v, FUNCTION %q; want %s, 7s and empty", cfg["DATABASE_URL"], cfg["CACHE_TTL"], cfg["FUNCTION"], masked)
	}
}

// Metric families by who reports them. Vector families show only once a series exists,
// so the sets below are what a function exposes before it did any of its own work.
var (
	commonFamilies = []string{
		"shortener_build_info", "shortener_dependency_up",
		"shortener_http_request_duration_seconds", "shortener_http_requests_in_flight", "shortener_http_requests_total",
		"shortener_db_pool_acquire_duration_seconds_total", "shortener_db_pool_acquired_connections",
		"shortener_db_pool_acquires_total", "shortener_db_pool_empty_acquires_total",
		"shortener_db_pool_idle_connections", "shortener_db_pool_max_connections", "shortener_db_pool_total_connections",
	}
	redirectFamilies = []string{"shortener_redirects_total", "shortener_cache_client_side_hits_total"}
	cacheFamilies    = []string{"shortener_cache_requests_total"}
	cacheWriteFams   = []string{
		"shortener_cache_invalidation_failures_total", "shortener_cache_invalidations_dropped_total",
		"shortener_cache_invalidations_pending", "shortener_cache_invalidations_replayed_total",
	}
	eventFamilies  = []string{"shortener_events_acknowledged_total", "shortener_events_delivery_failures_total"}
	clickFamilies  = []string{"shortener_clicks_buffered", "shortener_clicks_lost_total"}
	writerFamilies = []string{"shortener_events_writer_duplicates_total", "shortener_events_writer_failures_total", "shortener_events_writer_rejected_total"}
	outboxFamilies = []string{"shortener_outbox_oldest_pending_age_seconds", "shortener_outbox_pending_events"}
)

// TestEachFunctionReportsItsOwnMetrics starts every function and compares the shortener_
// families of its /metrics with exactly those of the work it does: users has no redirect
// or click families, only the events-writer (and the all-in-one server, which drains the
// outbox itself) counts the outbox, and the cache look-ups show only the uses served.
func TestEachFunctionReportsItsOwnMetrics(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		families [][]string
		uses     []string // of shortener_cache_requests_total
	}{
		routing.Health:       {},
		routing.Events:       {},
		routing.Users:        {[][]string{cacheFamilies, cacheWriteFams, eventFamilies}, []string{"item", "list"}},
		routing.URLs:         {[][]string{cacheFamilies, cacheWriteFams, eventFamilies}, []string{"item", "list"}},
		routing.Redirect:     {[][]string{redirectFamilies, cacheFamilies, cacheWriteFams, eventFamilies, clickFamilies}, []string{"redirect"}},
		routing.EventsWriter: {[][]string{writerFamilies, outboxFamilies}, nil},
		"":                   {[][]string{redirectFamilies, cacheFamilies, cacheWriteFams, eventFamilies, clickFamilies, outboxFamilies}, []string{"item", "list", "redirect"}},
	}
	for _, name := range routing.All {
		if _, ok := cases[name]; !ok {
			t.Errorf("function %s has no expected metric families here", name)
		}
	}
	for name, c := range cases {
		label := name
		if label == "" {
			label = "all-in-one"
		}
		t.Run(label, func(t *testing.T) {
			t.Parallel()
			a := startAPI(t, map[string]string{"FUNCTION": name})
			if r := a.do("GET", "/ready", "", nil); r.status != 200 {
				t.Fatalf("ready: %d %s", r.status, r.body)
			}
			body := string(a.do("GET", "/metrics", "", nil).body)
			var got []string
			uses := map[string]bool{}
			for line := range strings.Lines(body) {
				if fam, ok := strings.CutPrefix(line, "# TYPE "); ok {
					if fam, _, _ = strings.Cut(fam, " "); strings.HasPrefix(fam, "shortener_") {
						got = append(got, fam)
					}
				}
				if rest, ok := strings.CutPrefix(line, "shortener_cache_requests_total{"); ok {
					_, use, _ := strings.Cut(rest, `use="`)
					use, _, _ = strings.Cut(use, `"`)
					uses[use] = true
				}
			}
			want := slices.Concat(append(c.families, commonFamilies)...)
			slices.Sort(got)
			slices.Sort(want)
			for _, f := range want {
				if !slices.Contains(got, f) {
					t.Errorf("lacks %s", f)
				}
			}
			for _, f := range got {
				if !slices.Contains(want, f) {
					t.Errorf("reports %s, which is not its own", f)
				}
			}
			gotUses := slices.Sorted(maps.Keys(uses))
			if !slices.Equal(gotUses, c.uses) {
				t.Errorf("cache look-ups by use %v, want %v", gotUses, c.uses)
			}
			if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_cpu_seconds_total") {
				t.Error("lacks the Go and process collectors")
			}
		})
	}
}
