//go:build e2e

// The end-to-end tests run the real binary as separate processes (several instances of a
// function, restarts, killed and frozen dependencies), as Knative runs it. They take
// minutes, so they build only with the e2e tag: make e2e runs them, and make test runs
// make e2e.

package function

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/store/storetest"
)

// proc is one function running as its own process, as Knative would run it.
type proc struct {
	name, base string
	cmd        *exec.Cmd
	log        *bytes.Buffer
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// binary is the local runner, built once for every end-to-end test of the run.
var binary struct {
	once sync.Once
	path string
	err  error
}

// buildBinary builds the local runner the first time a test asks, into a folder removed
// when the tests end (TestMain), and hands every later caller the same file.
func buildBinary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "shortener-e2e-")
		if err != nil {
			binary.err = err
			return
		}
		binDir = dir
		binary.path = filepath.Join(dir, "shortener")
		if out, err := exec.Command("go", "build", "-o", binary.path, "./functions/cmd/shortener").CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("%v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatalf("build: %v", binary.err)
	}
	return binary.path
}

// binDir holds the built binary; TestMain removes it.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// startRedis starts a private redis-server the test can stop.
func startRedis(t testing.TB) (url string, stop func()) {
	t.Helper()
	bin, err := exec.LookPath("valkey-server")
	if err != nil {
		if bin, err = exec.LookPath("redis-server"); err != nil {
			storetest.Unavailable(t, "redis-server binary", err)
		}
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(stop)
	for i := 0; i < 50; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			return "redis://127.0.0.1:" + port + "/0", stop
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("redis-server did not start")
	return "", nil
}

func startProc(t testing.TB, bin, function string, env []string) *proc {
	t.Helper()
	return startProcAt(t, bin, function, env, freePort(t))
}

func startProcAt(t testing.TB, bin, function string, env []string, port string) *proc {
	t.Helper()
	p := &proc{name: function, base: "http://127.0.0.1:" + port, log: &bytes.Buffer{}}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(), append(env, "FUNCTION="+function, "K_SERVICE=", "LISTEN_ADDRESS=127.0.0.1:"+port)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("--- %s log:\n%s", p.name, tail(p.log.String(), 3000))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get(p.base + "/ready"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become ready:\n%s", function, p.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

var noFollow = &http.Client{
	Timeout:       5 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func call(t testing.TB, method, url string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	return callKeyed(t, "", method, url, body)
}

// callKeyed is call with an API key (none when empty).
func callKeyed(t testing.TB, key, method, url string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return res.StatusCode, m, res.Header
}

// TestEndToEnd runs every route group as its own process (two redirect instances, like a
// scaled-out Knative service) with the events-writer as their sink, and drives them over
// HTTP: a deactivation must reach the other redirect instance within the same second,
// mutations must reach the audit log through the writer, and with Valkey stopped mid-run
// redirects and reads must keep answering from PostgreSQL.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts processes")
	}
	bin := buildBinary(t)
	db := storetest.URL(t)
	redisURL, stopRedis := startRedis(t)
	env := []string{"DATABASE_URL=" + db, "VALKEY_URL=" + redisURL, "VALKEY_KEY_PREFIX=e2e:", "LOG_LEVEL=warn", "OUTBOX_RELAY_INTERVAL=500ms"}
	writer := startProc(t, bin, "events-writer", env)
	env = append(env, "K_SINK="+writer.base+"/")
	procs := map[string]*proc{"events-writer": writer}
	for _, f := range []string{"health", "users", "urls", "events"} {
		procs[f] = startProc(t, bin, f, env)
	}
	redirA := startProc(t, bin, "redirect", env)
	redirB := startProc(t, bin, "redirect", env)

	for name, p := range procs {
		if code, _, _ := call(t, "GET", p.base+"/metrics", nil); code != 200 {
			t.Errorf("%s /metrics: %d", name, code)
		}
	}
	if code, _, _ := call(t, "GET", procs["health"].base+"/users", nil); code != 404 {
		t.Errorf("health serves /users: %d", code)
	}
	if code, _, _ := call(t, "POST", redirA.base+"/", map[string]any{}); code != 405 && code != 404 {
		t.Errorf("redirect serves the writer's route: %d", code)
	}

	code, user, _ := call(t, "POST", procs["users"].base+"/users", map[string]any{"username": "e2e", "email": "e2e@example.com"})
	if code != 201 {
		t.Fatalf("create user: %d %v", code, user)
	}
	code, url, _ := call(t, "POST", procs["urls"].base+"/urls", map[string]any{"user_id": user["id"], "original_url": "https://example.com/e2e"})
	if code != 201 {
		t.Fatalf("create url: %d %v", code, url)
	}
	short := "/" + url["short_code"].(string)
	// Every 302 records one click; redirect counts them so the audit check below expects
	// exactly the clicks the test caused, however many polls the invalidation took.
	clicks := 0
	redirect := func(p *proc, path string) (int, http.Header) {
		code, _, h := call(t, "GET", p.base+path, nil)
		if code == http.StatusFound {
			clicks++
		}
		return code, h
	}
	for _, p := range []*proc{redirA, redirB, redirA, redirB} {
		if code, h := redirect(p, short); code != 302 || h.Get("Location") != "https://example.com/e2e" {
			t.Fatalf("redirect via %s: %d %v", p.base, code, h)
		}
	}
	// Both instances now hold the code in their client-side cache; a write through the
	// urls function must reach both at once.
	if code, _, _ := call(t, "PUT", fmt.Sprintf("%s/urls/%v", procs["urls"].base, url["id"]), map[string]any{"is_active": false}); code != 200 {
		t.Fatalf("deactivate: %d", code)
	}
	for _, p := range []*proc{redirA, redirB} {
		lag := waitFor(t, time.Second, "deactivation seen by "+p.base, func() bool {
			code, _ := redirect(p, short)
			return code == 404
		})
		t.Logf("deactivation seen by %s after %v", p.base, lag)
	}
	if code, _, _ := call(t, "PUT", fmt.Sprintf("%s/urls/%v", procs["urls"].base, url["id"]), map[string]any{"is_active": true}); code != 200 {
		t.Fatalf("reactivate: %d", code)
	}
	waitFor(t, time.Second, "reactivation", func() bool {
		code, _ := redirect(redirB, short)
		return code == 302
	})

	// The audit log gets every mutation's events through the writer, and one click per 302
	// answered above: none missing, none extra.
	want := map[string]int{"user_created": 1, "created": 1, "updated": 2, "click": clicks}
	auditLog := func() map[string]int {
		n := map[string]int{}
		res, err := http.Get(fmt.Sprintf("%s/events?user_id=%v", procs["events"].base, user["id"]))
		if err != nil {
			return n
		}
		defer res.Body.Close()
		var evs []map[string]any
		_ = json.NewDecoder(res.Body).Decode(&evs)
		for _, e := range evs {
			n[fmt.Sprint(e["event_type"])]++
		}
		return n
	}
	reached := func(got map[string]int) bool {
		for typ, c := range want {
			if got[typ] < c {
				return false
			}
		}
		return true
	}
	got := auditLog()
	for deadline := time.Now().Add(5 * time.Second); !reached(got) && time.Now().Before(deadline); got = auditLog() {
		time.Sleep(50 * time.Millisecond)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit log %v, want %v (%d redirects answered 302)", got, want, clicks)
	}
	// An extra event could still be on its way: look once more after twice the relay
	// interval.
	time.Sleep(time.Second)
	if got := auditLog(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit log %v a second after it matched, want %v", got, want)
	}
	t.Logf("audit log %v", got)

	// Valkey goes away: everything keeps answering from PostgreSQL.
	stopRedis()
	code, url2, _ := call(t, "POST", procs["urls"].base+"/urls", map[string]any{"user_id": user["id"], "original_url": "https://example.com/nocache"})
	if code != 201 {
		t.Fatalf("create url without valkey: %d", code)
	}
	for i := 0; i < 5; i++ {
		for _, path := range []string{short, "/" + url2["short_code"].(string)} {
			if code, _, _ := call(t, "GET", redirA.base+path, nil); code != 302 {
				t.Fatalf("redirect %s without valkey: %d", path, code)
			}
		}
		if code, _, _ := call(t, "GET", fmt.Sprintf("%s/urls/%v", procs["urls"].base, url["id"]), nil); code != 200 {
			t.Fatalf("read without valkey: %d", code)
		}
	}
	if _, body, _ := call(t, "GET", redirA.base+"/ready", nil); body["status"] != "degraded" {
		t.Errorf("ready without valkey: %v", body)
	}
	call(t, "PUT", fmt.Sprintf("%s/urls/%v", procs["urls"].base, url["id"]), map[string]any{"is_active": false})
	if code, _, _ := call(t, "GET", redirA.base+short, nil); code != 404 {
		t.Errorf("deactivation without valkey: %d", code)
	}

	// SIGTERM: every process stops cleanly.
	for _, p := range append([]*proc{redirA, redirB}, procs["users"], procs["urls"], procs["events"], procs["health"], writer) {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s exited with %v", p.name, err)
			}
		case <-time.After(40 * time.Second):
			t.Errorf("%s did not stop after SIGTERM", p.name)
		}
	}
}
