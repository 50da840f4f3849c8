package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
)

// environment is what every server process of the run shares.
type environment struct {
	bin      string
	adminKey string   // ADMIN_API_KEY of every function whose func.yaml takes one from a Secret
	deps     []string // DATABASE_URL=… and VALKEY_URL=… from devdeps
	prefix   string   // a Valkey key prefix of the run's own
}

// dep returns devdeps's value of key ("" if it printed none: no Redis).
func (e *environment) dep(key string) string {
	for _, kv := range e.deps {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// processEnv is the environment of function name's process: the inherited one without
// anything the server reads, then func.yaml's literal values, then the local servers in
// place of the cluster's references (the sentinels' cluster DNS names become VALKEY_URL;
// the read replica is the primary here).
func (e *environment) processEnv(name string, d *deployed, addr string) ([]string, error) {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "FUNCTION", k == "K_SERVICE", k == "K_SINK", k == "LISTEN_ADDRESS", k == "GOMAXPROCS",
			k == "GOMEMLIMIT", k == "GOGC", strings.HasPrefix(k, "DATABASE_"), strings.HasPrefix(k, "VALKEY_"),
			strings.HasPrefix(k, "DB_"), k == "LOG_LEVEL", k == "CACHE_TTL":
			continue
		}
		env = append(env, kv)
	}
	if d == nil {
		// The all-in-one server of the set-up.
		env = append(env, "FUNCTION=", "K_SERVICE=", "LOG_LEVEL=warn")
	} else {
		for k, v := range d.Envs {
			if strings.HasPrefix(k, "VALKEY_SENTINEL") {
				continue
			}
			env = append(env, k+"="+v)
		}
		env = append(env, "K_SERVICE="+name, "GOMAXPROCS=1")
		if d.Refs["ADMIN_API_KEY"] {
			env = append(env, "ADMIN_API_KEY="+e.adminKey)
		}
		for _, k := range []string{"RATE_LIMIT_WRITES", "RATE_LIMIT_REDIRECTS"} {
			if d.Envs[k] != "" {
				// A per-key or per-address limit would refuse a benchmark that is one
				// client with one key; the limiter still runs, at the highest rate it takes.
				env = append(env, k+"="+unlimited)
			}
		}
		if d.MemoryLimit != "" {
			limit, err := memoryLimitBytes(d.MemoryLimit)
			if err != nil {
				return nil, err
			}
			// What config.TuneRuntime sets from the container's cgroup limit.
			env = append(env, "GOMEMLIMIT="+strconv.FormatInt(limit*8/10, 10))
		}
	}
	wantsCache := d == nil || d.Refs["VALKEY_PASSWORD"] || d.Envs["VALKEY_SENTINEL_ADDRS"] != ""
	if v := e.dep("VALKEY_URL"); v != "" && wantsCache {
		env = append(env, "VALKEY_URL="+v, "VALKEY_KEY_PREFIX="+e.prefix)
	}
	db := e.dep("DATABASE_URL")
	env = append(env, "DATABASE_URL="+db, "LISTEN_ADDRESS="+addr)
	if d != nil && d.Refs["DATABASE_RO_URL"] {
		env = append(env, "DATABASE_RO_URL="+db)
	}
	return env, nil
}

// unlimited is the highest rate access.ParseRate takes.
const unlimited = "1000000/s"

// overrides says how the run departs from func.yaml for name, for the output file.
func overrides(d *deployed) []string {
	out := []string{"GOMAXPROCS=1", "DATABASE_URL (and DATABASE_RO_URL) → the local PostgreSQL"}
	if d.Refs["VALKEY_PASSWORD"] || d.Envs["VALKEY_SENTINEL_ADDRS"] != "" {
		out = append(out, "VALKEY_SENTINEL_* → VALKEY_URL, the local Redis")
	}
	if d.Refs["ADMIN_API_KEY"] {
		out = append(out, "ADMIN_API_KEY → a random one, sent as Authorization: Bearer on every request")
	}
	for _, k := range []string{"RATE_LIMIT_WRITES", "RATE_LIMIT_REDIRECTS"} {
		if v := d.Envs[k]; v != "" {
			out = append(out, k+" "+v+" → "+unlimited+" (one client, one key)")
		}
	}
	for k := range d.Refs {
		switch k {
		case "DATABASE_URL", "DATABASE_RO_URL", "VALKEY_PASSWORD", "ADMIN_API_KEY":
		default:
			out = append(out, k+" unset (a cluster reference)")
		}
	}
	slices.Sort(out[2:])
	return out
}

// process is one running server.
type process struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bytes.Buffer
}

// start execs a server for name (d nil: all in one) and returns it with the time from
// exec to its readiness endpoint answering 200.
func (e *environment) start(ctx context.Context, name string, d *deployed) (*process, time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, 0, err
	}
	env, err := e.processEnv(name, d, addr)
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(e.bin)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	p := &process{cmd: cmd, addr: addr, stderr: &stderr}
	client := &http.Client{Timeout: time.Second}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	deadline := t0.Add(60 * time.Second)
	for {
		res, err := client.Get("http://" + addr + "/health/readiness")
		if err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p, time.Since(t0), nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			p.stop()
			return nil, 0, fmt.Errorf("%s not ready after %v: %s", name, time.Since(t0).Round(time.Millisecond), tail(stderr.String()))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop ends the process as Knative does (SIGTERM, then SIGKILL).
func (p *process) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// fixtures are the rows the workloads use.
type fixtures struct {
	userID, urlID int64
	code          string
}

// setUp starts the all-in-one server once, which applies the migrations, and creates a
// user and a URL through the API.
func setUp(ctx context.Context, e *environment) (*fixtures, error) {
	p, _, err := e.start(ctx, "all", nil)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	var user struct {
		ID int64 `json:"id"`
	}
	email := fmt.Sprintf("capacity-%d@example.com", time.Now().UnixNano())
	if err := postJSON("http://"+p.addr+"/users", map[string]any{"username": "capacity", "email": email}, &user); err != nil {
		return nil, err
	}
	var url struct {
		ID   int64  `json:"id"`
		Code string `json:"short_code"`
	}
	if err := postJSON("http://"+p.addr+"/urls", map[string]any{"user_id": user.ID, "original_url": "https://example.com/capacity"}, &url); err != nil {
		return nil, err
	}
	return &fixtures{userID: user.ID, urlID: url.ID, code: url.Code}, nil
}

func postJSON(url string, body, into any) error {
	b, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		msg, _ := io.ReadAll(res.Body)
		return fmt.Errorf("POST %s: %d %s", url, res.StatusCode, msg)
	}
	return json.NewDecoder(res.Body).Decode(into)
}

// timeStarts starts name's process starts+1 times and returns the start-to-ready times
// of all but the first (which pays for the binary's first read from disk).
func timeStarts(ctx context.Context, e *environment, name string, d *deployed, starts int) (StartToReady, error) {
	var ms []float64
	for i := range starts + 1 {
		p, took, err := e.start(ctx, name, d)
		if err != nil {
			return StartToReady{}, err
		}
		p.stop()
		if i > 0 {
			ms = append(ms, float64(took.Microseconds())/1000)
		}
	}
	slices.Sort(ms)
	return StartToReady{P50: round2(quantile(ms, 0.5)), Min: round2(ms[0]), Max: round2(ms[len(ms)-1]), Runs: len(ms)}, nil
}

// load is one function's request.
type load struct {
	describe string
	request  func(base string) (*http.Request, error)
	ok       func(status int) bool
}

// workload is the request each function is measured with: the one it exists for.
func workload(name string, fx *fixtures) load {
	get := func(path string, want int) load {
		return load{
			describe: "GET " + path,
			request:  func(base string) (*http.Request, error) { return http.NewRequest(http.MethodGet, base+path, nil) },
			ok:       func(s int) bool { return s == want },
		}
	}
	switch name {
	case "redirect":
		l := get("/"+fx.code, http.StatusFound)
		l.describe = "GET /{short_code} (cached)"
		return l
	case "urls":
		body := fmt.Sprintf(`{"user_id": %d, "original_url": "https://example.com/a/long/path?utm_source=capacity"}`, fx.userID)
		return load{
			describe: "POST /urls",
			request: func(base string) (*http.Request, error) {
				r, err := http.NewRequest(http.MethodPost, base+"/urls", strings.NewReader(body))
				if err == nil {
					r.Header.Set("Content-Type", "application/json")
				}
				return r, err
			},
			ok: func(s int) bool { return s == http.StatusCreated },
		}
	case "users":
		l := get(fmt.Sprintf("/users/%d", fx.userID), http.StatusOK)
		l.describe = "GET /users/{id}"
		return l
	case "events":
		return get("/events?per_page=20", http.StatusOK)
	case "events-writer":
		return load{
			describe: "POST / (an audit CloudEvent)",
			request: func(base string) (*http.Request, error) {
				uid := fx.userID
				ev, err := events.ToCloudEvent(domain.Audit{
					EventID: uuid.NewString(), Source: events.Source("users"), UserID: &uid,
					EventType: domain.EventUserUpdated, Timestamp: time.Now().UTC().Truncate(time.Microsecond),
					Details: json.RawMessage(`{"fields":["username"]}`),
				})
				if err != nil {
					return nil, err
				}
				r, err := http.NewRequest(http.MethodPost, base+"/", nil)
				if err != nil {
					return nil, err
				}
				return r, cehttp.WriteRequest(context.Background(), binding.ToMessage(&ev), r)
			},
			ok: func(s int) bool { return s >= 200 && s < 300 },
		}
	default: // health
		return get("/ready", http.StatusOK)
	}
}

// measureLoad starts name's process and drives it with conc requests in flight: a
// warm-up, then the measured run.
func measureLoad(ctx context.Context, e *environment, name string, d *deployed, w load, conc int, warmup, duration time.Duration) (Function, error) {
	p, _, err := e.start(ctx, name, d)
	if err != nil {
		return Function{}, err
	}
	defer p.stop()
	base := "http://" + p.addr
	client := &http.Client{
		Timeout:       30 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: conc * 2, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if d.Envs["AUTH_MODE"] != "" {
		inner := w.request
		w.request = func(base string) (*http.Request, error) {
			r, err := inner(base)
			if err == nil {
				r.Header.Set("Authorization", "Bearer "+e.adminKey)
			}
			return r, err
		}
	}
	if _, _, err := drive(ctx, client, base, w, conc, warmup); err != nil && !errors.As(err, new(errUnexpected)) {
		return Function{}, fmt.Errorf("warm-up: %w: %s", err, tail(p.stderr.String()))
	}
	cpu0, err := cpuSeconds(p.cmd.Process.Pid)
	if err != nil {
		return Function{}, err
	}
	t0 := time.Now()
	lat, bad, err := drive(ctx, client, base, w, conc, duration)
	elapsed := time.Since(t0)
	var unexpected errUnexpected
	if err != nil && !(errors.As(err, &unexpected) && bad*100 <= len(lat)) {
		return Function{}, err
	}
	cpu1, err := cpuSeconds(p.cmd.Process.Pid)
	if err != nil {
		return Function{}, err
	}
	if len(lat) == 0 {
		return Function{}, fmt.Errorf("no request completed")
	}
	slices.Sort(lat)
	return Function{
		Request: w.describe, Metric: d.Metric, Target: d.Target, Utilization: d.Utilization,
		AsDeployed: overrides(d), LoadConcurrency: conc, Seconds: round2(elapsed.Seconds()), Requests: len(lat), Unexpected: bad,
		RequestsPerSecond: round2(float64(len(lat)) / elapsed.Seconds()),
		CPUSeconds:        round2(cpu1 - cpu0),
		RequestsPerCPU:    round2(float64(len(lat)) / (cpu1 - cpu0)),
		LatencyP50Ms:      round3(quantile(lat, 0.5)), LatencyP90Ms: round3(quantile(lat, 0.9)),
		LatencyP99Ms: round3(quantile(lat, 0.99)), LatencyMaxMs: round3(lat[len(lat)-1]),
	}, nil
}

// drive runs conc clients in a closed loop for d and returns every latency in
// milliseconds and how many answers had an unexpected status.
func drive(ctx context.Context, client *http.Client, base string, w load, conc int, d time.Duration) ([]float64, int, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var all []float64
	bad := 0
	var firstErr error
	firstBad := ""
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			myBad := 0
			for ctx.Err() == nil {
				req, err := w.request(base)
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				t := time.Now()
				res, err := client.Do(req)
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mine = append(mine, float64(time.Since(t).Nanoseconds())/1e6)
				if !w.ok(res.StatusCode) {
					myBad++
					mu.Lock()
					if firstBad == "" {
						firstBad = fmt.Sprintf("%d %s", res.StatusCode, body)
					}
					mu.Unlock()
				}
			}
			mu.Lock()
			all = append(all, mine...)
			bad += myBad
			mu.Unlock()
		}()
	}
	wg.Wait()
	if bad > 0 && firstErr == nil {
		firstErr = errUnexpected{bad, len(all), firstBad}
	}
	return all, bad, firstErr
}

// errUnexpected reports answers with a status the workload does not expect, with the
// first of them.
type errUnexpected struct {
	bad, all int
	first    string
}

func (e errUnexpected) Error() string {
	return fmt.Sprintf("%d of %d answers unexpected, the first: %s", e.bad, e.all, e.first)
}

// cpuSeconds is the CPU time (user + system) process pid has used, from /proc/<pid>/stat,
// whose times are in USER_HZ ticks: 100 a second on every Linux ABI.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces; count after it.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, fields[11], fields[12])
	}
	return (utime + stime) / 100, nil
}

// quantile returns the q-quantile of sorted values (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
