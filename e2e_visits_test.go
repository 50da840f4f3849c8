//go:build e2e

package function

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
)

// clicksOf counts a URL's click events in the log.
func (p *pipeline) clicksOf(id int64) (int64, error) {
	_, n, err := p.st.FindEvents(context.Background(), domain.EventFilter{URLID: &id, EventType: domain.EventClick, Page: domain.Page{Number: 1, PerPage: 1}})
	return n, err
}

// spread sends n redirects of code from clients goroutines, round robin over the bases,
// and calls hook once, from the client that sent the at-th request, while the others go
// on. It returns the answers by status; -1 counts requests that got no answer.
func spread(bases []string, code string, n, clients int, at int64, hook func()) map[int]int64 {
	var mu sync.Mutex
	got := map[int]int64{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if i == at && hook != nil {
					hook()
				}
				status := -1
				if r, err := noFollow.Get(bases[int(i)%len(bases)] + "/" + code); err == nil {
					status = r.StatusCode
					r.Body.Close()
				}
				mu.Lock()
				got[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return got
}

// TestMaxVisitsExactAcrossInstances: a link with max_visits 1000, four redirect processes
// and 64 concurrent clients sending 2,000 redirects, with Valkey stopped halfway through:
// exactly 1,000 are answered 302, the rest 404 for the visit limit, and the log holds
// exactly 1,000 click events, which the link's visits and statistics equal.
func TestMaxVisitsExactAcrossInstances(t *testing.T) {
	p := newPipeline(t)
	redisURL, stopRedis := startRedis(t)
	env := append(append([]string{}, p.env...), "VALKEY_URL="+redisURL, "VALKEY_KEY_PREFIX=mv:")
	startProcAt(t, p.bin, "events-writer", env, p.writerPort)
	users := startProc(t, p.bin, "users", env)
	urls := startProc(t, p.bin, "urls", env)
	var bases []string
	for range 4 {
		bases = append(bases, startProc(t, p.bin, "redirect", env).base)
	}
	_, user, _ := call(t, "POST", users.base+"/users", map[string]any{"username": "mv", "email": "mv@example.com"})
	code, u, _ := call(t, "POST", urls.base+"/urls", map[string]any{
		"user_id": user["id"], "original_url": "https://example.com/limited", "max_visits": 1000})
	if code != 201 || u["max_visits"] != float64(1000) {
		t.Fatalf("create: %d %v", code, u)
	}
	short := u["short_code"].(string)
	for _, b := range bases { // every instance caches the link before the run
		if r, err := noFollow.Head(b + "/" + short); err != nil || r.StatusCode != 302 {
			t.Fatalf("HEAD before the run: %v %v", r, err)
		}
	}
	stopped := time.Time{}
	got := spread(bases, short, 2000, 64, 1000, func() { stopRedis(); stopped = time.Now() })
	if got[302] != 1000 || got[404] != 1000 || len(got) != 2 {
		t.Fatalf("answers %v, want exactly 1000 302s and 1000 404s (Valkey stopped at %v)", got, stopped)
	}
	r, err := http.Get(bases[0] + "/" + short)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	r.Body.Close()
	if r.StatusCode != 404 || body["error"] != "short code reached its visit limit" {
		t.Errorf("past the limit: %d %v", r.StatusCode, body)
	}
	waitLog(t, p.st, 60*time.Second, map[string]int64{"user_created": 1, "created": 1, "click": 1000})
	id := int64(u["id"].(float64))
	wantVisits(t, urls.base, id, 1000)
}

// wantVisits checks that a URL's visits and its statistics show clicks.
func wantVisits(t *testing.T, base string, id, clicks int64) {
	t.Helper()
	_, u, _ := call(t, "GET", fmt.Sprintf("%s/urls/%d", base, id), nil)
	if u["visits"] != float64(clicks) {
		t.Errorf("url %d: visits %v, want %d", id, u["visits"], clicks)
	}
	code, st, _ := call(t, "GET", fmt.Sprintf("%s/urls/%d/stats", base, id), nil)
	var daily float64
	days, _ := st["daily"].([]any)
	for _, d := range days {
		daily += d.(map[string]any)["clicks"].(float64)
	}
	if code != 200 || st["clicks"] != float64(clicks) || daily != float64(clicks) {
		t.Errorf("url %d stats: %d clicks %v, daily sum %v; want %d", id, code, st["clicks"], daily, clicks)
	}
}

// TestVisitsEqualTheLogAfterAMixedRun: redirects from two processes over five links whose
// items every instance has cached, the events-writer restarted in the middle, and click
// events delivered twice: afterwards every link's visits, its statistics and its user's
// equal the click events in the log.
func TestVisitsEqualTheLogAfterAMixedRun(t *testing.T) {
	p := newPipeline(t)
	w := p.writer(t)
	users := startProc(t, p.bin, "users", p.env)
	urls := startProc(t, p.bin, "urls", p.env)
	redirs := []string{startProc(t, p.bin, "redirect", p.env).base, startProc(t, p.bin, "redirect", p.env).base}
	_, user, _ := call(t, "POST", users.base+"/users", map[string]any{"username": "mix", "email": "mix@example.com"})
	var ids []int64
	var codes []string
	for i := range 5 {
		_, u, _ := call(t, "POST", urls.base+"/urls", map[string]any{"user_id": user["id"], "original_url": fmt.Sprintf("https://example.com/%d", i)})
		ids, codes = append(ids, int64(u["id"].(float64))), append(codes, u["short_code"].(string))
		if _, got, _ := call(t, "GET", fmt.Sprintf("%s/urls/%d", urls.base, ids[i]), nil); got["visits"] != float64(0) {
			t.Fatalf("a new link has visits %v", got["visits"])
		}
	}
	call(t, "GET", urls.base+"/urls", nil) // the list too is cached with visits 0

	var found atomic.Int64
	var wg sync.WaitGroup
	for i, code := range codes {
		wg.Go(func() {
			got := spread(redirs, code, 200+50*i, 8, 100, func() {
				if i == 0 { // one writer restart, in the middle of every link's clicks
					stopProc(t, w, syscall.SIGTERM)
					w = p.writer(t)
				}
			})
			found.Add(got[302])
		})
	}
	wg.Wait()
	waitLog(t, p.st, 60*time.Second, map[string]int64{"user_created": 1, "created": 5, "click": found.Load()})

	// Deliveries of stored clicks again, as a broker retry would send them.
	raw, err := pgx.Connect(context.Background(), p.db)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(context.Background())
	clicks, _, err := p.st.FindEvents(context.Background(), domain.EventFilter{EventType: domain.EventClick, Page: domain.Page{Number: 1, PerPage: 40}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range clicks {
		var det map[string]any
		_ = json.Unmarshal(e.Details, &det)
		data, _ := json.Marshal(map[string]any{"url_id": e.URLID, "user_id": e.UserID, "event_type": "click",
			"timestamp": e.Timestamp, "details": det})
		var eventID string
		if err := raw.QueryRow(context.Background(), `SELECT event_id FROM events WHERE id = $1`, e.ID).Scan(&eventID); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", w.base+"/", strings.NewReader(string(data)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", eventID)
		req.Header.Set("Ce-Source", "/shortener/redirect")
		req.Header.Set("Ce-Type", "dev.urlshort.url.clicked")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode/100 != 2 {
			t.Fatalf("redelivery of %s: %v %v", eventID, res, err)
		}
		res.Body.Close()
	}
	waitLog(t, p.st, 10*time.Second, map[string]int64{"user_created": 1, "created": 5, "click": found.Load()})

	var total int64
	for _, id := range ids {
		n, err := p.clicksOf(id)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		wantVisits(t, urls.base, id, n)
	}
	res, err := http.Get(urls.base + "/urls")
	if err != nil {
		t.Fatal(err)
	}
	var list []map[string]any
	_ = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if len(list) != 5 {
		t.Fatalf("list of %d urls", len(list))
	}
	for _, u := range list {
		n, _ := p.clicksOf(int64(u["id"].(float64)))
		if u["visits"] != float64(n) {
			t.Errorf("list: url %v visits %v, want %d", u["id"], u["visits"], n)
		}
	}
	_, st, _ := call(t, "GET", fmt.Sprintf("%s/users/%v/stats", users.base, user["id"]), nil)
	if st["clicks"] != float64(total) || total != found.Load() {
		t.Errorf("user stats: %v clicks, log %d, answered %d", st["clicks"], total, found.Load())
	}
}
