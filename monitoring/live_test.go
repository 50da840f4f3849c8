package monitoring

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The functions, in the order the live test starts them: the events-writer first, so the
// emitters can deliver to it (K_SINK), the way the broker would on the cluster.
var liveFunctions = []string{"events-writer", "redirect", "urls", "users", "events", "health"}

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
const defaultValkeyURL = "redis://127.0.0.1:6379/0"

// fn is one running function process.
type fn struct {
	name string
	addr string
	cmd  *exec.Cmd
	log  *logBuffer
}

func (f *fn) url(path string) string { return "http://" + f.addr + path }

// logBuffer collects a process's output; the test reads it while the process writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLive starts a real Prometheus (Debian's) scraping the real functions, each in its own
// process, after a little traffic. It checks that every target is up, that every metric a
// rule or dashboard uses and that we claim to expose exists in the scrape, that the rules
// load and evaluate without error in a real Prometheus, that every dashboard query runs,
// and that the log keys the Alloy pipeline extracts appear in the functions' real logs.
func TestLive(t *testing.T) {
	if testing.Short() {
		t.Skip("live test skipped with -short")
	}
	prom := requireTool(t, "prometheus", "prometheus", "/usr/bin/prometheus")
	dbURL := envOr("DATABASE_URL", defaultDatabaseURL)
	valkeyURL := envOr("VALKEY_URL", defaultValkeyURL)
	if err := answers(dbURL, 5432); err != nil {
		missing(t, "no PostgreSQL at %s (set DATABASE_URL): %v", redact(dbURL), err)
	}
	if err := answers(valkeyURL, 6379); err != nil {
		missing(t, "no Valkey/Redis at %s (set VALKEY_URL): %v", redact(valkeyURL), err)
	}

	tmp := t.TempDir()
	bin := buildShortener(t, tmp)

	fns := map[string]*fn{}
	for _, name := range liveFunctions {
		env := []string{
			"FUNCTION=" + name,
			"DATABASE_URL=" + dbURL,
			"VALKEY_URL=" + valkeyURL,
			"OUTBOX_RELAY_INTERVAL=1s",
		}
		if name != "events-writer" {
			env = append(env, "K_SINK="+fns["events-writer"].url("/"))
		}
		fns[name] = startFunction(t, bin, name, env)
	}

	driveTraffic(t, fns)

	// A Prometheus scraping every function every second, labelled the way the
	// Kubernetes scrape configuration labels pods, with the real rule file loaded.
	promPort := freePort(t)
	rulesAbs, _ := filepath.Abs(rulesPath)
	var targets strings.Builder
	for _, name := range liveFunctions {
		fmt.Fprintf(&targets, `
      - targets: [%q]
        labels: {namespace: shortener, function: %q, pod: %q, container: user-container, revision: %q}`,
			fns[name].addr, name, name+"-local", name+"-local")
	}
	promCfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: shortener-functions
    static_configs:%s
`, rulesAbs, targets.String())
	cfgPath := filepath.Join(tmp, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(promCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	promLog := &logBuffer{}
	pcmd := exec.Command(prom,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(tmp, "tsdb"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(promPort),
		"--log.level=warn",
	)
	pcmd.Stdout, pcmd.Stderr = promLog, promLog
	if err := pcmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() { stop(pcmd) })
	api := "http://127.0.0.1:" + strconv.Itoa(promPort)
	waitFor(t, 30*time.Second, "Prometheus ready", func() error { return getOK(api + "/-/ready") }, promLog)

	// Every target up, after a few scrapes.
	waitFor(t, 30*time.Second, "every target up", func() error {
		var res struct {
			Data struct {
				ActiveTargets []struct {
					Labels    map[string]string `json:"labels"`
					Health    string            `json:"health"`
					LastError string            `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err := getJSON(api+"/api/v1/targets", &res); err != nil {
			return err
		}
		if len(res.Data.ActiveTargets) != len(liveFunctions) {
			return fmt.Errorf("%d targets, want %d", len(res.Data.ActiveTargets), len(liveFunctions))
		}
		for _, tg := range res.Data.ActiveTargets {
			if tg.Health != "up" {
				return fmt.Errorf("target %s is %s: %s", tg.Labels["function"], tg.Health, tg.LastError)
			}
		}
		return nil
	}, promLog)
	// Traffic once more now that Prometheus watches, then time for scrapes and rule runs.
	driveTraffic(t, fns)
	time.Sleep(4 * time.Second)

	t.Run("MetricNamesInScrape", func(t *testing.T) {
		var res struct {
			Data []string `json:"data"`
		}
		if err := getJSON(api+"/api/v1/label/__name__/values", &res); err != nil {
			t.Fatal(err)
		}
		scraped := map[string]bool{}
		for _, n := range res.Data {
			scraped[n] = true
		}
		used := usedMetricNames(t)
		var names []string
		for n := range used {
			names = append(names, n)
		}
		sort.Strings(names)
		checked := 0
		for _, n := range names {
			if _, own := OwnFamily(n); !own {
				continue
			}
			checked++
			if !scraped[n] {
				t.Errorf("%s is used but no function exposes it; used by:\n  %s", n, strings.Join(used[n], "\n  "))
			}
		}
		t.Logf("%d metric names of ours used by rules and dashboards, all checked against %d scraped names", checked, len(scraped))
		// The catalogue itself must not claim metrics the functions do not have.
		for fam, typ := range OwnMetrics {
			name := fam
			if typ == "histogram" {
				name = fam + "_bucket"
			}
			if !scraped[name] {
				t.Errorf("OwnMetrics lists %s (%s), but no function exposes %s", fam, typ, name)
			}
		}
	})

	t.Run("RulesEvaluate", func(t *testing.T) {
		var res struct {
			Data struct {
				Groups []struct {
					Name  string `json:"name"`
					Rules []struct {
						Name           string `json:"name"`
						Health         string `json:"health"`
						LastError      string `json:"lastError"`
						State          string `json:"state"`
						LastEvaluation string `json:"lastEvaluation"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := getJSON(api+"/api/v1/rules", &res); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, g := range res.Data.Groups {
			for _, r := range g.Rules {
				n++
				if r.Health != "ok" {
					t.Errorf("rule %s/%s health %q: %s", g.Name, r.Name, r.Health, r.LastError)
				}
				if r.State == "firing" {
					t.Logf("note: %s is firing against the local functions", r.Name)
				}
			}
		}
		if want := len(ruleQueries(t)); n != want {
			t.Errorf("Prometheus loaded %d rules, the rule file has %d", n, want)
		}
	})

	t.Run("DashboardQueriesRun", func(t *testing.T) {
		for _, q := range dashboardQueries(t) {
			var res struct {
				Status    string `json:"status"`
				Error     string `json:"error"`
				ErrorType string `json:"errorType"`
			}
			err := getJSON(api+"/api/v1/query?query="+url.QueryEscape(grafanaVars.Replace(q.expr)), &res)
			if err != nil || res.Status != "success" {
				t.Errorf("%s: %v %s %s\n  %s", q.where, err, res.ErrorType, res.Error, q.expr)
			}
		}
	})

	t.Run("RedirectDurationsBelowOneMillisecond", func(t *testing.T) {
		// The buckets a real scrape has are DurationBuckets, and redirects fill one of
		// those up to 1 ms: the sub-millisecond latency the dashboards show is measured,
		// not interpolated inside a 0-5 ms bucket.
		var res struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
					Value  [2]any            `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		q := `shortener_http_request_duration_seconds_bucket{function="redirect", route="GET /{short_code}", code="302"}`
		if err := getJSON(api+"/api/v1/query?query="+url.QueryEscape(q), &res); err != nil || res.Status != "success" {
			t.Fatalf("%s: %v %s", q, err, res.Status)
		}
		var bounds []float64
		var fast, all float64 // the count of the fullest bucket up to 1 ms; of +Inf
		counts := map[float64]float64{}
		for _, r := range res.Data.Result {
			le, err := strconv.ParseFloat(r.Metric["le"], 64)
			if err != nil {
				t.Fatalf("le=%q: %v", r.Metric["le"], err)
			}
			s, _ := r.Value[1].(string)
			n, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("le=%q value %v: %v", r.Metric["le"], r.Value[1], err)
			}
			if math.IsInf(le, 1) {
				all = n
			} else {
				bounds = append(bounds, le)
				counts[le] = n
			}
			if le <= 0.001 {
				fast = max(fast, n)
			}
		}
		slices.Sort(bounds)
		var dist strings.Builder
		for _, b := range bounds {
			fmt.Fprintf(&dist, " le=%g:%g", b, counts[b])
		}
		t.Logf("GET /{short_code} 302, %g in all:%s", all, dist.String())
		if !slices.Equal(bounds, DurationBuckets) {
			t.Errorf("the redirect's duration buckets are %v, want DurationBuckets %v", bounds, DurationBuckets)
		}
		if fast == 0 {
			t.Errorf("none of %g redirects counted in a bucket up to 1 ms (le <= 0.001)", all)
		}
	})

	t.Run("LogKeysInLogs", func(t *testing.T) {
		seen := map[string]bool{}
		lines := 0
		for _, name := range liveFunctions {
			sc := bufio.NewScanner(strings.NewReader(fns[name].log.String()))
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				var m map[string]any
				if json.Unmarshal(sc.Bytes(), &m) != nil {
					continue
				}
				lines++
				for k := range m {
					seen[k] = true
				}
			}
		}
		for _, k := range alloyLogKeys(t) {
			if !seen[k] {
				t.Errorf("the log pipeline extracts %q, but no JSON log line of the functions has it (%d lines read)", k, lines)
			}
		}
	})

	if t.Failed() {
		for _, name := range liveFunctions {
			t.Logf("--- %s log (tail):\n%s", name, tail(fns[name].log.String(), 3000))
		}
		t.Logf("--- prometheus log:\n%s", tail(promLog.String(), 3000))
	}
}

// buildShortener builds the integrator's binary from the repository root (..).
func buildShortener(t *testing.T, dir string) string {
	t.Helper()
	if _, err := os.Stat("../functions/cmd/shortener"); err != nil {
		missing(t, "../functions/cmd/shortener does not exist yet; nothing to run")
	}
	goBin := findTool("go", "/usr/local/go/bin/go")
	if goBin == "" {
		missing(t, "no go command to build the functions")
	}
	bin := filepath.Join(dir, "shortener")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./functions/cmd/shortener")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./functions/cmd/shortener: %v\n%s", err, out)
	}
	return bin
}

// startFunction starts one function on a free loopback port and waits for GET /health.
func startFunction(t *testing.T, bin, name string, env []string) *fn {
	t.Helper()
	f := &fn{name: name, addr: "127.0.0.1:" + strconv.Itoa(freePort(t)), log: &logBuffer{}}
	f.cmd = exec.Command(bin)
	f.cmd.Env = append(os.Environ(), append(env, "LISTEN_ADDRESS="+f.addr)...)
	f.cmd.Stdout = f.log
	f.cmd.Stderr = f.log
	if err := f.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() { stop(f.cmd) })
	waitFor(t, 60*time.Second, name+" GET /health 200", func() error { return getOK(f.url("/health")) }, f.log)
	return f
}

// driveTraffic makes the labelled counters exist: a user, a URL, redirects found and not
// found, reads of the URL (a cache miss then a hit), and the other functions' reads.
func driveTraffic(t *testing.T, fns map[string]*fn) {
	t.Helper()
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	var user struct {
		ID int64 `json:"id"`
	}
	postJSON(t, fns["users"].url("/users"),
		fmt.Sprintf(`{"username":"m","email":"m-%s@example.com"}`, hex.EncodeToString(suffix[:])), http.StatusCreated, &user)
	var u struct {
		ID        int64  `json:"id"`
		ShortCode string `json:"short_code"`
	}
	postJSON(t, fns["urls"].url("/urls"),
		fmt.Sprintf(`{"user_id":%d,"original_url":"https://example.com/"}`, user.ID), http.StatusCreated, &u)
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	// Twenty, so that most are answered from the client-side cache, in microseconds: the
	// Redirects panels and the live check of the duration buckets need such samples.
	for range 20 {
		expect(t, noFollow, fns["redirect"].url("/"+u.ShortCode), http.StatusFound)
	}
	expect(t, noFollow, fns["redirect"].url("/urls/"+u.ShortCode+"/redirect"), http.StatusFound)
	expect(t, noFollow, fns["redirect"].url("/zz-no-such-code"), http.StatusNotFound)
	for range 2 {
		expect(t, noFollow, fns["urls"].url(fmt.Sprintf("/urls/%d", u.ID)), http.StatusOK)
	}
	expect(t, noFollow, fns["urls"].url(fmt.Sprintf("/urls?user_id=%d", user.ID)), http.StatusOK)
	expect(t, noFollow, fns["users"].url(fmt.Sprintf("/users/%d", user.ID)), http.StatusOK)
	expect(t, noFollow, fns["events"].url(fmt.Sprintf("/events?url_id=%d", u.ID)), http.StatusOK)
	expect(t, noFollow, fns["health"].url("/ready"), http.StatusOK)
}

func postJSON(t *testing.T, u, body string, want int, out any) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s %s: status %d, want %d: %s", u, body, resp.StatusCode, want, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("POST %s: %v: %s", u, err, b)
	}
}

func expect(t *testing.T, c *http.Client, u string, want int) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d: %s", u, resp.StatusCode, want, b)
	}
}

func getOK(u string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", u, resp.StatusCode)
	}
	return nil
}

func getJSON(u string, v any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %d %v: %s", u, resp.StatusCode, err, tail(string(b), 300))
	}
	return nil
}

// waitFor polls check until it succeeds or the timeout passes, then fails with the last
// error and the tail of the process log.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() error, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: %v\nlog:\n%s", what, err, tail(log.String(), 3000))
}

// stop ends a process this test started: SIGTERM, then SIGKILL after 10 s.
func stop(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// answers dials the host of a postgres:// or redis:// URL.
func answers(raw string, defaultPort int) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), strconv.Itoa(defaultPort))
	}
	c, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// redact hides a password in a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
