//go:build e2e

package function

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/cache/cachetest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// drillResult is one redirect answered during the drill.
type drillResult struct {
	inst, code int // indexes into the instances and codes
	start, end time.Time
	status     int
	hit        bool
	err        bool
}

// TestDrillValkeyFrozen freezes Valkey (SIGSTOP: connections stay open, nothing answers)
// under redirect traffic on two redirect instances whose client-side caches hold three
// codes, deactivates one URL and deletes another through the urls function while it is
// frozen, and thaws it seconds later. After the writes returned, no instance may answer
// 302 for either code, during the freeze or after it; the untouched code keeps answering
// 302 throughout (from PostgreSQL while Valkey cannot be trusted, from the cache again
// afterwards); and the audit log holds exactly one click per 302 answered.
func TestDrillValkeyFrozen(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end drill starts processes")
	}
	bin := buildBinary(t)
	db := storetest.URL(t)
	valkey := cachetest.StartServer(t)
	env := []string{"DATABASE_URL=" + db, "VALKEY_URL=" + valkey.URL, "VALKEY_KEY_PREFIX=drill:", "LOG_LEVEL=warn",
		"OUTBOX_RELAY_INTERVAL=300ms"}
	writer := startProc(t, bin, "events-writer", env)
	env = append(env, "K_SINK="+writer.base+"/")
	users := startProc(t, bin, "users", env)
	urls := startProc(t, bin, "urls", env)
	redir := []*proc{startProc(t, bin, "redirect", env), startProc(t, bin, "redirect", env)}
	st, err := store.Open(context.Background(), store.Options{URL: db}, events.NewAuditor("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)

	code, user, _ := call(t, "POST", users.base+"/users", map[string]any{"username": "drill", "email": "drill@example.com"})
	if code != 201 {
		t.Fatalf("create user: %d %v", code, user)
	}
	const keep, deactivate, del = 0, 1, 2
	var codes []string
	var ids []int64
	for i := range 3 {
		code, u, _ := call(t, "POST", urls.base+"/urls", map[string]any{"user_id": user["id"], "original_url": fmt.Sprintf("https://example.com/drill/%d", i)})
		if code != 201 {
			t.Fatalf("create url: %d %v", code, u)
		}
		codes, ids = append(codes, u["short_code"].(string)), append(ids, int64(u["id"].(float64)))
	}

	client := &http.Client{
		Timeout:       5 * time.Second,
		Transport:     &http.Transport{MaxIdleConnsPerHost: 16},
		CheckRedirect: noFollow.CheckRedirect,
	}
	get := func(inst, c int) drillResult {
		r := drillResult{inst: inst, code: c, start: time.Now()}
		res, err := client.Get(redir[inst].base + "/" + codes[c])
		r.end = time.Now()
		if err != nil {
			r.err = true
			return r
		}
		res.Body.Close()
		r.status, r.hit = res.StatusCode, res.Header.Get("X-Cache") == "HIT"
		return r
	}
	// Warm-up: every instance answers every code from its cache. These redirects are
	// clicks too, so they are counted with the drill's.
	var warm []drillResult
	for inst := range redir {
		for c := range codes {
			waitFor(t, 5*time.Second, "warm cache", func() bool {
				r := get(inst, c)
				warm = append(warm, r)
				return r.status == http.StatusFound && r.hit
			})
		}
	}

	// Traffic: four clients per instance, each cycling over the three codes.
	stop := make(chan struct{})
	var (
		mu      sync.Mutex
		results []drillResult
		wg      sync.WaitGroup
	)
	for inst := range redir {
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []drillResult
				for i := w; ; i++ {
					select {
					case <-stop:
						mu.Lock()
						results = append(results, mine...)
						mu.Unlock()
						return
					default:
					}
					mine = append(mine, get(inst, i%len(codes)))
				}
			}()
		}
	}

	time.Sleep(time.Second)
	frozen := time.Now()
	valkey.Freeze(t)
	time.Sleep(100 * time.Millisecond)
	writeStart := time.Now()
	if code, body, _ := call(t, "PUT", fmt.Sprintf("%s/urls/%d", urls.base, ids[deactivate]), map[string]any{"is_active": false}); code != 200 {
		t.Fatalf("deactivate while Valkey is frozen: %d %v", code, body)
	}
	deactivated := time.Now()
	if code, body, _ := call(t, "DELETE", fmt.Sprintf("%s/urls/%d", urls.base, ids[del]), nil); code != 204 {
		t.Fatalf("delete while Valkey is frozen: %d %v", code, body)
	}
	written := time.Now()
	t.Logf("writes while frozen: deactivate %v, delete %v", deactivated.Sub(writeStart), written.Sub(deactivated))
	time.Sleep(5 * time.Second)
	thawed := time.Now()
	valkey.Thaw(t)
	// Long enough for the old entries to be read back (they were, for up to 22 s, before
	// the fix) and for the cache to be trusted again (1 s after Valkey answers).
	time.Sleep(5 * time.Second)
	close(stop)
	wg.Wait()
	ended := time.Now()

	// No 302 for a changed code from a request sent after the write that changed it returned.
	changedAt := map[int]time.Time{deactivate: deactivated, del: written}
	stale := map[int]int{}
	var lastStale time.Time
	for _, r := range results {
		if at, ok := changedAt[r.code]; ok && r.status == http.StatusFound && r.start.After(at) {
			stale[r.code]++
			if r.end.After(lastStale) {
				lastStale = r.end
			}
		}
	}
	if len(stale) > 0 {
		t.Errorf("stale redirects after the writes returned: %d for the deactivated code, %d for the deleted one; the last %v after the thaw",
			stale[deactivate], stale[del], lastStale.Sub(thawed))
	}

	// The untouched code answers 302 throughout, never an error, and from the cache again
	// once Valkey is back.
	phases := []struct {
		name     string
		from, to time.Time
	}{{"before", time.Time{}, frozen}, {"frozen", frozen, thawed}, {"thawed", thawed, ended}}
	for _, ph := range phases {
		var lat []time.Duration
		hits, bad := 0, 0
		for _, r := range results {
			if r.code != keep || r.start.Before(ph.from) || (!ph.to.IsZero() && !r.start.Before(ph.to)) {
				continue
			}
			if r.err || r.status != http.StatusFound {
				bad++
			}
			if r.hit {
				hits++
			}
			lat = append(lat, r.end.Sub(r.start))
		}
		if len(lat) == 0 {
			t.Errorf("%s: no redirect of the untouched code answered", ph.name)
			continue
		}
		slices.Sort(lat)
		span := ph.to.Sub(ph.from)
		if ph.from.IsZero() {
			span = time.Second
		}
		t.Logf("%-6s untouched code: %5d answered (%4.0f/s), %5d cache hits, p50 %v, p99 %v, max %v",
			ph.name, len(lat), float64(len(lat))/span.Seconds(), hits, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
		if bad > 0 {
			t.Errorf("%s: %d redirects of the untouched code were not a 302", ph.name, bad)
		}
		if lat[len(lat)-1] > time.Second {
			t.Errorf("%s: a redirect of the untouched code took %v", ph.name, lat[len(lat)-1])
		}
	}
	for inst := range redir {
		var last drillResult
		for _, r := range results {
			if r.inst == inst && r.code == keep {
				last = r
			}
		}
		if !last.hit {
			t.Errorf("instance %d: the untouched code is not answered from the cache 5 s after the thaw", inst)
		}
	}

	// What Valkey holds for the changed codes is no longer the entry from before the
	// writes (version 1, their creation): the writer's replays, or the readers' repairs,
	// landed.
	if v := respDo(t, valkey.URL, "GET", "drill:code:"+codes[keep]); !strings.HasPrefix(v, "1|D") {
		t.Errorf("Valkey holds %q for the untouched code, want its version-1 entry", v)
	}
	for _, c := range []int{deactivate, del} {
		v := respDo(t, valkey.URL, "GET", "drill:code:"+codes[c])
		if strings.HasPrefix(v, "1|") {
			t.Errorf("Valkey still holds the entry from before the write for code %d: %q", c, v)
		}
		t.Logf("Valkey holds %q for changed code %d", v, c)
	}

	// A path that can never be a code is refused before any look-up: nothing of it is
	// kept in Valkey (it used to be cached as missing, a key as long as the path).
	impossible := strings.Repeat("x", 100_000)
	for inst := range redir {
		if code, _, _ := call(t, "GET", redir[inst].base+"/"+impossible, nil); code == http.StatusFound || code >= 500 {
			t.Errorf("instance %d: impossible code answered %d", inst, code)
		}
	}
	if n := respDo(t, valkey.URL, "EXISTS", "drill:code:"+impossible); n != ":0" {
		t.Errorf("an impossible code was cached: EXISTS = %s", n)
	}

	// The audit log: one click per 302 answered, for every code, and nothing more.
	want := map[int64]int64{}
	for _, r := range append(warm, results...) {
		if r.status == http.StatusFound {
			want[ids[r.code]]++
		}
	}
	clicks := func() map[int64]int64 {
		got := map[int64]int64{}
		for _, id := range ids {
			_, n, err := st.FindEvents(context.Background(), domain.EventFilter{URLID: &id, EventType: domain.EventClick, Page: domain.Page{Number: 1, PerPage: 1}})
			if err != nil {
				t.Fatal(err)
			}
			got[id] = n
		}
		return got
	}
	var got map[int64]int64
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, pending := eventCounts(t, st)
		if got = clicks(); fmt.Sprint(got) == fmt.Sprint(want) && pending == 0 {
			break
		}
	}
	time.Sleep(500 * time.Millisecond) // nothing more may arrive: exactly once
	if got = clicks(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("clicks in the log %v, want %v (one per 302)", got, want)
	}
	counts, pending := eventCounts(t, st)
	if counts["created"] != 3 || counts["updated"] != 1 || counts["deleted"] != 1 || pending != 0 {
		t.Errorf("audit log %v with %d in the outbox; want 3 created, 1 updated, 1 deleted, 0 pending", counts, pending)
	}
	t.Logf("clicks per URL %v; drill took %v from the freeze", want, ended.Sub(frozen))
}

// respDo sends one command to a Valkey/Redis URL and returns its reply: the first line,
// or a bulk string's value (short ones: the drill's values fit a line). The drill looks
// at the server without going through the code under test.
func respDo(t testing.TB, url string, args ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "redis://"), "/0"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	line, err := rd.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if line = strings.TrimSpace(line); strings.HasPrefix(line, "$") && line != "$-1" {
		if line, err = rd.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		line = strings.TrimSpace(line)
	}
	return line
}
