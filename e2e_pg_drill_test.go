//go:build e2e

package function

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/urlshort/shortener/shared/store/storetest"
)

// pgServer is a private PostgreSQL cluster the test can stop, freeze and restart: the
// outage drills cannot do that to the machine's shared server.
type pgServer struct {
	data, port, opts string
}

// pgTool finds a PostgreSQL server binary in Debian's versioned folder, or on PATH.
func pgTool(t testing.TB, name string) string {
	t.Helper()
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	sort.Strings(found)
	if len(found) > 0 {
		return found[len(found)-1]
	}
	p, err := exec.LookPath(name)
	if err != nil {
		storetest.Unavailable(t, "PostgreSQL server binaries ("+name+")", err)
	}
	return p
}

// pgRun runs a PostgreSQL tool, as user postgres when the test runs as root (the server
// refuses to run as root).
func pgRun(t testing.TB, name string, args ...string) {
	t.Helper()
	bin := pgTool(t, name)
	cmd := exec.Command(bin, args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// startPG initialises a cluster in a temporary folder and starts it on a free port with
// the settings given (-c name=value ...), fsync off: the drills test availability, not
// durability.
func startPG(t testing.TB, settings ...string) *pgServer {
	t.Helper()
	root := t.TempDir()
	s := &pgServer{data: filepath.Join(root, "data"), port: freePort(t)}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", "postgres:postgres", root).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v: %s", err, out)
		}
		_ = os.Chmod(filepath.Dir(root), 0o755) // t.TempDir's parent is 0700
	}
	pgRun(t, "initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	s.opts = strings.Join(append([]string{"-p", s.port, "-k", s.data, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"},
		settings...), " ")
	s.start(t)
	t.Cleanup(func() {
		s.thaw(t)
		s.stop(t)
	})
	return s
}

func (s *pgServer) url() string {
	return "postgres://postgres@127.0.0.1:" + s.port + "/postgres?sslmode=disable"
}

func (s *pgServer) start(t testing.TB) {
	t.Helper()
	pgRun(t, "pg_ctl", "-D", s.data, "-l", filepath.Join(s.data, "server.log"), "-o", s.opts, "-w", "start")
}

// stop stops the server the way a crash does (immediate mode: no checkpoint, every
// connection cut); a stopped server is left alone.
func (s *pgServer) stop(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(s.data, "postmaster.pid")); err == nil {
		pgRun(t, "pg_ctl", "-D", s.data, "-m", "immediate", "-w", "stop")
	}
}

// processes lists the postmaster and its children.
func (s *pgServer) processes(t testing.TB) []int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.data, "postmaster.pid"))
	if err != nil {
		return nil
	}
	pm, _ := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	pids := []int{pm}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range stats {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pm) {
			pid, _ := strconv.Atoi(strings.Fields(string(b))[0])
			pids = append(pids, pid)
		}
	}
	return pids
}

// freeze stops every server process (SIGSTOP): connections stay open and nothing answers,
// as in a hung host or a network partition.
func (s *pgServer) freeze(t testing.TB) { s.signal(t, syscall.SIGSTOP) }

func (s *pgServer) thaw(t testing.TB) { s.signal(t, syscall.SIGCONT) }

func (s *pgServer) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	for _, pid := range s.processes(t) {
		_ = syscall.Kill(pid, sig)
	}
}

// metric reads one unlabelled sample from a process's /metrics.
func metric(t testing.TB, base, name string) float64 {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("metric %s not in /metrics", name)
	return 0
}

// flood is what runFlood saw: the User-Agents answered 302, the slowest answer, and
// every other answer or error, counted.
type flood struct {
	answered []string
	slowest  time.Duration
	others   map[string]int // status or error → count
}

// runFlood sends redirects for the codes from clients goroutines until stop closes, each
// with a User-Agent of its own, so that every click in the log names the request that
// made it.
func runFlood(base string, codes []string, clients int, stop <-chan struct{}) flood {
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: noFollow.CheckRedirect,
		Transport:     &http.Transport{MaxIdleConnsPerHost: clients},
	}
	var (
		mu  sync.Mutex
		out = flood{others: map[string]int{}}
		wg  sync.WaitGroup
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []string
			var slowest time.Duration
			other := map[string]int{}
			for i := 0; ; i++ {
				select {
				case <-stop:
					mu.Lock()
					out.answered = append(out.answered, mine...)
					out.slowest = max(out.slowest, slowest)
					for k, v := range other {
						out.others[k] += v
					}
					mu.Unlock()
					return
				default:
				}
				ua := fmt.Sprintf("drill-%d-%d", c, i)
				req, _ := http.NewRequest("GET", base+"/"+codes[i%len(codes)], nil)
				req.Header.Set("User-Agent", ua)
				start := time.Now()
				res, err := client.Do(req)
				slowest = max(slowest, time.Since(start))
				if err != nil {
					other[err.Error()]++
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusFound {
					mine = append(mine, ua)
				} else {
					other[strconv.Itoa(res.StatusCode)]++
				}
			}
		}()
	}
	wg.Wait()
	client.CloseIdleConnections()
	return out
}

// storedClicks returns how many times each drill User-Agent's click is in the audit log.
func storedClicks(t testing.TB, db *pgx.Conn) map[string]int {
	t.Helper()
	rows, err := db.Query(context.Background(),
		`SELECT details->>'user_agent' FROM events WHERE event_type = 'click' AND details->>'user_agent' LIKE 'drill-%'`)
	if err != nil {
		t.Fatal(err)
	}
	uas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	n := make(map[string]int, len(uas))
	for _, ua := range uas {
		n[ua]++
	}
	return n
}

// TestDrillPostgresDownUnderRedirectFlood stops PostgreSQL (a crash: immediate shutdown)
// under a redirect flood long enough to fill the click queue: every cached code keeps
// answering 302 within a bounded time. After PostgreSQL is back, the audit log is exact:
// every click is stored once or counted in shortener_clicks_lost_total, never both, and
// none is stored for a redirect that was not answered.
func TestDrillPostgresDownUnderRedirectFlood(t *testing.T) {
	redirectFloodDrill(t, (*pgServer).stop, (*pgServer).start)
}

// TestDrillPostgresFrozenUnderRedirectFlood is the same drill with PostgreSQL frozen
// (SIGSTOP) rather than down: connections stay open and nothing answers, so every write
// waits for its deadline instead of failing at once.
func TestDrillPostgresFrozenUnderRedirectFlood(t *testing.T) {
	redirectFloodDrill(t, (*pgServer).freeze, (*pgServer).thaw)
}

// redirectFloodDrill runs the redirect flood drill with an outage of PostgreSQL that
// restore ends.
func redirectFloodDrill(t *testing.T, outage, restore func(*pgServer, testing.TB)) {
	if testing.Short() {
		t.Skip("drill starts processes")
	}
	pg := startPG(t, "-c", "max_connections=50")
	bin := buildBinary(t)
	redisURL, _ := startRedis(t)
	srv := startProc(t, bin, "", []string{"DATABASE_URL=" + pg.url(), "VALKEY_URL=" + redisURL,
		"LOG_LEVEL=warn", "OUTBOX_RELAY_INTERVAL=300ms"})

	_, user, _ := call(t, "POST", srv.base+"/users", map[string]any{"username": "drill", "email": "drill@example.com"})
	var codes []string
	for i := range 4 {
		code, u, _ := call(t, "POST", srv.base+"/urls", map[string]any{"user_id": user["id"], "original_url": fmt.Sprintf("https://example.com/drill/%d", i)})
		if code != 201 {
			t.Fatalf("create url: %d %v", code, u)
		}
		codes = append(codes, u["short_code"].(string))
	}
	for range 3 { // fills Valkey, then this instance's client-side cache
		for _, c := range codes {
			if code, _, _ := call(t, "GET", srv.base+"/"+c, nil); code != 302 {
				t.Fatalf("warm %s: %d", c, code)
			}
		}
	}

	outage(pg, t)
	down := time.Now()
	stop := make(chan struct{})
	done := make(chan flood)
	go func() { done <- runFlood(srv.base, codes, 32, stop) }()
	// Flood until the queue has overflowed, and for a while past it: the freeze the
	// drills found began there.
	var lostDown float64
	for lostDown == 0 && time.Since(down) < 15*time.Second {
		time.Sleep(250 * time.Millisecond)
		lostDown = metric(t, srv.base, "shortener_clicks_lost_total")
	}
	time.Sleep(3 * time.Second)
	close(stop)
	f := <-done
	t.Logf("PostgreSQL out %v: %d redirects answered (%.0f/s), slowest %v, %v clicks lost so far, other answers %v",
		time.Since(down).Round(time.Millisecond), len(f.answered), float64(len(f.answered))/time.Since(down).Seconds(),
		f.slowest, lostDown, f.others)
	if len(f.others) > 0 {
		t.Errorf("redirects of cached codes with PostgreSQL out answered other than 302: %v", f.others)
	}
	if f.slowest > 2*time.Second {
		t.Errorf("slowest redirect with PostgreSQL out took %v", f.slowest)
	}
	if lostDown == 0 {
		t.Fatalf("the click queue never overflowed in %v (%d redirects): the drill did not reach the fault", time.Since(down), len(f.answered))
	}

	restore(pg, t)
	db, err := pgx.Connect(context.Background(), pg.url())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	answered := make(map[string]bool, len(f.answered))
	for _, ua := range f.answered {
		answered[ua] = true
	}
	var stored map[string]int
	var lost float64
	waitFor(t, 20*time.Second, "every answered redirect's click stored or counted lost", func() bool {
		stored, lost = storedClicks(t, db), metric(t, srv.base, "shortener_clicks_lost_total")
		return float64(len(stored))+lost >= float64(len(answered)) && metric(t, srv.base, "shortener_clicks_buffered") == 0
	})
	time.Sleep(500 * time.Millisecond) // nothing more may arrive
	stored, lost = storedClicks(t, db), metric(t, srv.base, "shortener_clicks_lost_total")
	doubled, foreign := 0, 0
	for ua, n := range stored {
		if n > 1 {
			doubled++
		}
		if !answered[ua] {
			foreign++
		}
	}
	t.Logf("%d redirects answered: %d clicks stored, %.0f counted lost", len(answered), len(stored), lost)
	if doubled > 0 || foreign > 0 {
		t.Errorf("%d clicks stored more than once, %d stored for redirects never answered", doubled, foreign)
	}
	if float64(len(stored))+lost != float64(len(answered)) {
		t.Errorf("stored %d + lost %.0f != answered %d", len(stored), lost, len(answered))
	}
	// And the rest of the API is back.
	if code, _, _ := call(t, "POST", srv.base+"/urls", map[string]any{"user_id": user["id"], "original_url": "https://example.com/drill/after"}); code != 201 {
		t.Errorf("create url after PostgreSQL returned: %d", code)
	}
}

// TestDrillPostgresConnectionLimit holds every connection slot of PostgreSQL the
// function's pool does not have yet, while clients drive the API hard enough that the
// pool wants more (DB_MAX_CONNS above the slots left): every answer is 2xx, 4xx or a 503
// with Retry-After, never a 500. Once the slots are released requests succeed again, and the
// audit log has every acknowledged mutation exactly once and nothing else.
func TestDrillPostgresConnectionLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("drill starts processes")
	}
	pg := startPG(t, "-c", "max_connections=12", "-c", "superuser_reserved_connections=0")
	bin := buildBinary(t)
	redisURL, _ := startRedis(t)
	srv := startProc(t, bin, "", []string{"DATABASE_URL=" + pg.url(), "VALKEY_URL=" + redisURL,
		"LOG_LEVEL=warn", "OUTBOX_RELAY_INTERVAL=300ms", "DB_MAX_CONNS=8"})

	_, user, _ := call(t, "POST", srv.base+"/users", map[string]any{"username": "limit", "email": "limit@example.com"})
	var urlIDs []int64
	var codes []string
	for i := range 4 {
		_, u, _ := call(t, "POST", srv.base+"/urls", map[string]any{"user_id": user["id"], "original_url": fmt.Sprintf("https://example.com/limit/%d", i)})
		urlIDs, codes = append(urlIDs, int64(u["id"].(float64))), append(codes, u["short_code"].(string))
	}
	a := newAcks()
	a.users[int64(user["id"].(float64))] = true
	for _, id := range urlIDs {
		a.created[id] = true
	}

	// Take every slot the server has left.
	var held []*pgx.Conn
	release := func() {
		for _, c := range held {
			c.Close(context.Background())
		}
		held = nil
	}
	defer release()
	for {
		c, err := pgx.Connect(context.Background(), pg.url())
		if err != nil {
			if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "53300" {
				t.Fatalf("connect: %v, want too_many_connections", err)
			}
			break
		}
		held = append(held, c)
	}
	t.Logf("holding %d of 12 slots; the function's pool has the rest, and may grow to 8", len(held))

	var n atomic.Int64 // numbers every request of the drill: emails and User-Agents stay unique
	run := func(d time.Duration) *tally {
		tl := &tally{codes: map[string]int{}, bad: map[string]int{}}
		var wg sync.WaitGroup
		end := time.Now().Add(d)
		for range 24 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(end) {
					drive(t, srv.base, int(n.Add(1)), user["id"], urlIDs, codes, a, tl)
				}
			}()
		}
		wg.Wait()
		return tl
	}
	during := run(4 * time.Second)
	t.Logf("at the connection limit: %v", during.codes)
	if len(during.bad) > 0 {
		t.Errorf("answers neither 2xx/4xx nor 503 with Retry-After: %v", during.bad)
	}
	if during.codes["503"] == 0 && len(during.bad) == 0 {
		t.Errorf("no 503 at the connection limit: the drill did not reach the fault (%v)", during.codes)
	}

	release()
	// The freed slots come back as their backends exit, and the pool refills on demand:
	// recovery is when a burst as wide as the drill's is answered whole, then it must hold.
	waitFor(t, 10*time.Second, "the API answers a full burst after the release", func() bool {
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range 24 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Never cached: only PostgreSQL can answer it.
				if res, err := http.Get(srv.base + "/events?per_page=1&page=1"); err == nil {
					res.Body.Close()
					if res.StatusCode == http.StatusOK {
						ok.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		return ok.Load() == 24
	})
	after := run(2 * time.Second)
	t.Logf("after the slots were released: %v", after.codes)
	if len(after.bad) > 0 || after.codes["503"] > 0 {
		t.Errorf("after the release: %v (bad %v)", after.codes, after.bad)
	}

	// The audit log: every acknowledged mutation once, and nothing that was refused.
	db, err := pgx.Connect(context.Background(), pg.url())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	want := a.want()
	var got string
	waitFor(t, 20*time.Second, "the audit log has every acknowledged mutation", func() bool {
		got = auditSummary(t, db)
		return got == want
	})
	time.Sleep(500 * time.Millisecond) // nothing more may arrive: exactly once
	if got = auditSummary(t, db); got != want {
		t.Errorf("audit log\n got %s\nwant %s", got, want)
	}
}

// acks are the mutations the API acknowledged, by what the audit log must show.
type acks struct {
	mu      sync.Mutex
	users   map[int64]bool  // user_created by user id
	created map[int64]bool  // created by url id
	updated map[int64]int   // updated by url id
	clicks  map[string]bool // click by User-Agent
}

func newAcks() *acks {
	return &acks{users: map[int64]bool{}, created: map[int64]bool{}, updated: map[int64]int{}, clicks: map[string]bool{}}
}

// want renders the acknowledged mutations the way auditSummary renders the log.
func (a *acks) want() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var lines []string
	for id := range a.users {
		lines = append(lines, fmt.Sprintf("user_created user=%d x1", id))
	}
	for id := range a.created {
		lines = append(lines, fmt.Sprintf("created url=%d x1", id))
	}
	for id, n := range a.updated {
		lines = append(lines, fmt.Sprintf("updated url=%d x%d", id, n))
	}
	for ua := range a.clicks {
		lines = append(lines, fmt.Sprintf("click %s x1", ua))
	}
	sort.Strings(lines)
	return fmt.Sprintf("%d lines: %s", len(lines), strings.Join(lines, "; "))
}

// auditSummary renders the drill's events in the log, with how often each is there.
func auditSummary(t testing.TB, db *pgx.Conn) string {
	t.Helper()
	const q = `
		SELECT event_type, CASE event_type
			WHEN 'user_created' THEN 'user=' || user_id
			WHEN 'click' THEN details->>'user_agent'
			ELSE 'url=' || url_id END, count(*)
		FROM events
		WHERE event_type IN ('user_created', 'created', 'updated')
		   OR (event_type = 'click' AND details->>'user_agent' LIKE 'limit-%')
		GROUP BY 1, 2`
	rows, err := db.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var typ, key string
		var n int
		if err := rows.Scan(&typ, &key, &n); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%s %s x%d", typ, key, n))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return fmt.Sprintf("%d lines: %s", len(lines), strings.Join(lines, "; "))
}

// tally counts answers by status, and those that break the rule by route and answer.
type tally struct {
	mu    sync.Mutex
	codes map[string]int
	bad   map[string]int
}

func (tl *tally) add(what string, res *http.Response) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.codes[strconv.Itoa(res.StatusCode)]++
	switch {
	case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") == "":
		tl.bad[what+": 503 without Retry-After"]++
	case res.StatusCode >= 500 && res.StatusCode != http.StatusServiceUnavailable:
		tl.bad[fmt.Sprintf("%s: %d", what, res.StatusCode)]++
	}
}

// drive sends the n-th request of the drill's mix: creates, updates, reads, redirects.
func drive(t testing.TB, base string, n int, userID any, urlIDs []int64, codes []string, a *acks, tl *tally) {
	var method, route, path, body string
	urlID := urlIDs[n%len(urlIDs)]
	switch n % 8 {
	case 0:
		method, route, body = "POST", "/users", fmt.Sprintf(`{"username":"u%d","email":"u%d@example.com"}`, n, n)
	case 1:
		method, route, body = "POST", "/urls", fmt.Sprintf(`{"user_id":%v,"original_url":"https://example.com/n/%d"}`, userID, n)
	case 2:
		method, route, path, body = "PUT", "/urls/{id}", fmt.Sprintf("/urls/%d", urlID), fmt.Sprintf(`{"title":"t%d"}`, n)
	case 3:
		method, route, path = "GET", "/urls/{id}", fmt.Sprintf("/urls/%d", urlID)
	case 4:
		method, route, path = "GET", "/urls", fmt.Sprintf("/urls?user_id=%v&page=1&per_page=5", userID)
	case 5:
		method, route, path = "GET", "/events", fmt.Sprintf("/events?url_id=%d", urlID)
	case 6:
		method, route, path = "GET", "/users", "/users?page=1&per_page=5"
	default:
		method, route, path = "GET", "/{short_code}", "/"+codes[n%len(codes)]
	}
	if path == "" {
		path = route
	}
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	ua := fmt.Sprintf("limit-%d", n)
	req.Header.Set("User-Agent", ua)
	res, err := noFollow.Do(req)
	if err != nil {
		tl.mu.Lock()
		tl.bad[fmt.Sprintf("%s %s: %v", method, route, err)]++
		tl.mu.Unlock()
		return
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	tl.add(method+" "+route, res)
	if res.StatusCode/100 != 2 && res.StatusCode != http.StatusFound {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case method == "POST":
		var created struct{ ID int64 }
		if err := json.Unmarshal(raw, &created); err != nil || created.ID == 0 {
			t.Errorf("%s %s: no id in %s", method, route, raw)
			return
		}
		if route == "/users" {
			a.users[created.ID] = true
		} else {
			a.created[created.ID] = true
		}
	case method == "PUT":
		a.updated[urlID]++
	case res.StatusCode == http.StatusFound:
		a.clicks[ua] = true
	}
}
