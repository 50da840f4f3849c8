//go:build e2e

package function

import (
	"context"
	"fmt"
	"github.com/urlshort/shortener/shared/domain"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// eventCounts returns the audit log's rows by event_type, and the outbox depth.
func eventCounts(t testing.TB, st *store.Store) (map[string]int64, int64) {
	t.Helper()
	counts, pending, err := countEvents(st)
	if err != nil {
		t.Fatal(err)
	}
	return counts, pending
}

// countEvents is eventCounts for goroutines other than the test's, which must not call
// t.Fatal.
func countEvents(st *store.Store) (map[string]int64, int64, error) {
	counts := map[string]int64{}
	evs, _, err := st.FindEvents(context.Background(), emptyFilter)
	if err != nil {
		return nil, 0, err
	}
	for _, e := range evs {
		counts[e.EventType]++
	}
	pending, _, err := st.OutboxStats(context.Background())
	if err != nil {
		return nil, 0, err
	}
	return counts, pending, nil
}

// waitLog waits until the log holds at least want of every type and the outbox is
// empty, then fails unless it holds exactly want, and still does a second later: an
// event stored twice or one nobody asked for is a failure, not a longer wait.
func waitLog(t testing.TB, st *store.Store, within time.Duration, want map[string]int64) {
	t.Helper()
	reached := func(counts map[string]int64, pending int64) bool {
		for typ, n := range want {
			if counts[typ] < n {
				return false
			}
		}
		return pending == 0
	}
	counts, pending := eventCounts(t, st)
	for deadline := time.Now().Add(within); !reached(counts, pending) && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		counts, pending = eventCounts(t, st)
	}
	if fmt.Sprint(counts) != fmt.Sprint(want) || pending != 0 {
		t.Fatalf("log %v, outbox %d; want %v and 0", counts, pending, want)
	}
	time.Sleep(time.Second)
	if counts, pending := eventCounts(t, st); fmt.Sprint(counts) != fmt.Sprint(want) || pending != 0 {
		t.Fatalf("a second after it matched: log %v, outbox %d; want %v and 0", counts, pending, want)
	}
}

// pipeline is a writer plus the mutating functions, on one database and Valkey.
type pipeline struct {
	bin, db    string
	env        []string
	writerPort string
	st         *store.Store
}

func newPipeline(t testing.TB) *pipeline {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test starts processes")
	}
	p := &pipeline{bin: buildBinary(t), db: storetest.URL(t), writerPort: freePort(t)}
	redisURL, _ := startRedis(t)
	p.env = []string{"DATABASE_URL=" + p.db, "VALKEY_URL=" + redisURL, "VALKEY_KEY_PREFIX=ev:", "LOG_LEVEL=warn",
		"OUTBOX_RELAY_INTERVAL=300ms", "K_SINK=http://127.0.0.1:" + p.writerPort + "/"}
	var err error
	if p.st, err = store.Open(context.Background(), store.Options{URL: p.db}, events.NewAuditor("test")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.st.Close)
	return p
}

// writer starts the events-writer on its fixed port, so the sink address survives restarts.
func (p *pipeline) writer(t testing.TB) *proc {
	return startProcAt(t, p.bin, "events-writer", p.env, p.writerPort)
}

func stopProc(t testing.TB, p *proc, sig syscall.Signal) {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	waitExit(t, p, sig)
}

// waitExit waits for a signalled process to exit and returns how it did.
func waitExit(t testing.TB, p *proc, sig syscall.Signal) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(40 * time.Second):
		t.Fatalf("%s did not stop on %v", p.name, sig)
		return nil
	}
}

// TestEventsSurviveWriterOutage stops the events-writer for 30 s while 500 mutations and
// 2,000 redirects run: once it is back, every event is in the log exactly once and the
// outbox is empty.
func TestEventsSurviveWriterOutage(t *testing.T) {
	p := newPipeline(t)
	w := p.writer(t)
	users := startProc(t, p.bin, "users", p.env)
	urls := startProc(t, p.bin, "urls", p.env)
	redir := startProc(t, p.bin, "redirect", p.env)

	_, user, _ := call(t, "POST", users.base+"/users", map[string]any{"username": "out", "email": "out@example.com"})
	stopProc(t, w, syscall.SIGTERM)
	down := time.Now()

	var codes []string
	var ids []any
	for i := 0; i < 250; i++ { // 250 creates + 250 updates = 500 mutations
		code, u, _ := call(t, "POST", urls.base+"/urls", map[string]any{"user_id": user["id"], "original_url": fmt.Sprintf("https://example.com/%d", i)})
		if code != 201 {
			t.Fatalf("create while the writer is down: %d", code)
		}
		codes, ids = append(codes, u["short_code"].(string)), append(ids, u["id"])
	}
	for _, id := range ids {
		if code, _, _ := call(t, "PUT", fmt.Sprintf("%s/urls/%v", urls.base, id), map[string]any{"title": "t"}); code != 200 {
			t.Fatalf("update while the writer is down: %d", code)
		}
	}
	b := burstWith(redir.base, codes, 2000, 0, nil)
	// A request without an answer may or may not have made a click, so the count below
	// would mean nothing; with every function up there is none.
	if b.failed != 0 || b.found == 0 {
		t.Fatalf("burst while the writer is down: %+v", b)
	}
	if d := 30*time.Second - time.Since(down); d > 0 {
		time.Sleep(d)
	}
	if counts, pending := eventCounts(t, p.st); pending == 0 || counts["created"] != 0 {
		t.Fatalf("with the writer down: log %v, outbox %d", counts, pending)
	}
	p.writer(t)
	// One mutation after the restart shows the emitters the sink is back.
	call(t, "PUT", fmt.Sprintf("%s/urls/%v", urls.base, ids[0]), map[string]any{"title": "back"})
	// One click for every redirect answered 302, exactly once each.
	want := map[string]int64{"user_created": 1, "created": 250, "updated": 251, "click": b.found}
	waitLog(t, p.st, 60*time.Second, want)
	t.Logf("burst: %d answered 302, %d otherwise, %d unanswered; log %v", b.found, b.other, b.failed, want)
}

// burst sends n redirects over the codes from 16 clients and returns how many were 302.
func burst(t testing.TB, base string, codes []string, n int) int64 {
	t.Helper()
	return burstWith(base, codes, n, 0, nil).found
}

// burstResult is what a burst's requests got.
type burstResult struct {
	found  int64 // answered 302, each of which records one click
	other  int64 // answered with another status
	failed int64 // not answered: the server went away, or the client gave up
	// inFlight and foundAtHook are how many other requests were under way, and how many
	// 302s had been answered, when the hook returned.
	inFlight, foundAtHook int64
}

// burstWith sends n redirects over the codes from 16 clients. When hook is not nil it is
// called once, by the client whose answer was the at-th 302, while the other clients go
// on; it must not call t.Fatal.
func burstWith(base string, codes []string, n int, at int64, hook func()) burstResult {
	var found, other, failed, inFlight atomic.Int64
	var res burstResult
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				inFlight.Add(1)
				r, err := noFollow.Get(base + "/" + codes[int(i)%len(codes)])
				inFlight.Add(-1)
				if err != nil {
					failed.Add(1)
					continue // the server went away mid-burst
				}
				r.Body.Close()
				if r.StatusCode != http.StatusFound {
					other.Add(1)
					continue
				}
				if found.Add(1) == at && hook != nil {
					hook()
					res.inFlight, res.foundAtHook = inFlight.Load(), found.Load()
				}
			}
		}()
	}
	wg.Wait()
	res.found, res.other, res.failed = found.Load(), other.Load(), failed.Load()
	return res
}

// TestDuplicateDeliveryStoredOnce posts the same CloudEvent twice, as a broker retry
// would: both are acknowledged and the log has it once. A malformed event is a 400.
func TestDuplicateDeliveryStoredOnce(t *testing.T) {
	p := newPipeline(t)
	w := p.writer(t)
	users := startProc(t, p.bin, "users", p.env)
	_, user, _ := call(t, "POST", users.base+"/users", map[string]any{"username": "dup", "email": "dup@example.com"})
	waitFor(t, 3*time.Second, "user_created stored", func() bool {
		c, _ := eventCounts(t, p.st)
		return c["user_created"] == 1
	})
	post := func(id, typ, data string) int {
		req, _ := http.NewRequest("POST", w.base+"/", strings.NewReader(data))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Ce-Specversion", "1.0")
		req.Header.Set("Ce-Id", id)
		req.Header.Set("Ce-Source", "/shortener/test")
		req.Header.Set("Ce-Type", typ)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	data := fmt.Sprintf(`{"url_id":null,"user_id":%v,"event_type":"user_updated","timestamp":"2026-11-21T08:15:00Z","details":{"fields":["username"]}}`, user["id"])
	for i := 0; i < 2; i++ {
		if code := post("0193f1c2-0000-7000-8000-000000000001", "dev.urlshort.user.updated", data); code/100 != 2 {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	if c, _ := eventCounts(t, p.st); c["user_updated"] != 1 {
		t.Errorf("redelivered event stored %d times", c["user_updated"])
	}
	for name, c := range map[string][3]string{
		"UnknownType":  {"x-1", "dev.urlshort.nope", data},
		"NotJSON":      {"x-2", "dev.urlshort.user.updated", "nope"},
		"TypeMismatch": {"x-3", "dev.urlshort.url.created", data},
	} {
		if code := post(c[0], c[1], c[2]); code != 400 {
			t.Errorf("%s: %d, want 400 (never retried)", name, code)
		}
	}
	req, _ := http.NewRequest("POST", w.base+"/", strings.NewReader("{}"))
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 400 {
		t.Errorf("not a CloudEvent: %v %v", res.StatusCode, err)
	}
}

// TestKilledAfterCommitEventsStillArrive SIGKILLs a mutating function whose events could
// not be delivered: a restarted instance's relay delivers them.
func TestKilledAfterCommitEventsStillArrive(t *testing.T) {
	p := newPipeline(t)
	users := startProc(t, p.bin, "users", p.env) // the writer is not up: deliveries fail
	for i := 0; i < 20; i++ {
		if code, _, _ := call(t, "POST", users.base+"/users", map[string]any{"username": "k", "email": fmt.Sprintf("k%d@example.com", i)}); code != 201 {
			t.Fatalf("create: %d", code)
		}
	}
	stopProc(t, users, syscall.SIGKILL)
	if _, pending := eventCounts(t, p.st); pending != 20 {
		t.Fatalf("outbox holds %d events after the kill, want 20", pending)
	}
	p.writer(t)
	startProc(t, p.bin, "users", p.env)
	waitFor(t, 30*time.Second, "the relay delivers what the killed process committed", func() bool {
		c, pending := eventCounts(t, p.st)
		return c["user_created"] == 20 && pending == 0
	})
}

// TestSIGTERMFlushesClicks terminates a redirect instance in the middle of a burst, from
// within it, while other redirects are in flight: the clicks it answered were only in its
// memory (a batch size and flush interval the burst cannot reach), it exits cleanly, and
// every redirect that was answered 302 has its click in the log exactly once.
func TestSIGTERMFlushesClicks(t *testing.T) {
	p := newPipeline(t)
	p.writer(t)
	users := startProc(t, p.bin, "users", p.env)
	urls := startProc(t, p.bin, "urls", p.env)
	redir := startProc(t, p.bin, "redirect", append(p.env, "CLICK_FLUSH_INTERVAL=1h", "CLICK_BATCH_SIZE=100000"))
	_, user, _ := call(t, "POST", users.base+"/users", map[string]any{"username": "term", "email": "term@example.com"})
	_, u, _ := call(t, "POST", urls.base+"/urls", map[string]any{"user_id": user["id"], "original_url": "https://example.com/term"})
	// The creation events out of the way, an outbox row or click in the log before the
	// signal can only be a click flushed early.
	waitLog(t, p.st, 5*time.Second, map[string]int64{"user_created": 1, "created": 1})

	// Far more redirects than answer before the signal even on a slow machine, so the
	// signal cannot come after the burst; those past it fail fast (connection refused).
	const n, signalAt = 10000, 300
	var before string // what the log held when the signal was sent, if not nothing
	b := burstWith(redir.base, []string{u["short_code"].(string)}, n, signalAt, func() {
		if counts, pending, err := countEvents(p.st); err != nil || counts["click"] != 0 || pending != 0 {
			before = fmt.Sprintf("log %v, outbox %d, err %v", counts, pending, err)
		}
		_ = redir.cmd.Process.Signal(syscall.SIGTERM)
	})
	if err := waitExit(t, redir, syscall.SIGTERM); err != nil {
		t.Errorf("redirect exited with %v after SIGTERM", err)
	}
	if b.found < signalAt {
		t.Fatalf("only %d redirects answered, the signal was never sent: %+v", b.found, b)
	}
	if b.inFlight == 0 {
		t.Fatalf("no redirect in flight when SIGTERM was sent: %+v", b)
	}
	if before != "" {
		t.Fatalf("clicks left the redirect before SIGTERM (%s): the test would not show the flush", before)
	}
	waitLog(t, p.st, 10*time.Second, map[string]int64{"user_created": 1, "created": 1, "click": b.found})
	t.Logf("SIGTERM after %d of %d redirects answered 302, with %d in flight; %d more answered 302 after it, %d not answered; %d clicks stored",
		b.foundAtHook, n, b.inFlight, b.found-b.foundAtHook, b.failed, b.found)
}

var emptyFilter = domain.EventFilter{}

// BenchmarkEventPipeline measures, with every function a separate process and the
// events-writer as their sink: the lag from a mutation's 201 to its event being readable
// through GET /events (p50, p99), and how many clicks per second reach the log while a
// redirect instance serves a burst.
func BenchmarkEventPipeline(b *testing.B) {
	p := newPipeline(b)
	p.writer(b)
	users := startProc(b, p.bin, "users", p.env)
	urls := startProc(b, p.bin, "urls", p.env)
	events := startProc(b, p.bin, "events", p.env)
	redir := startProc(b, p.bin, "redirect", p.env)
	_, user, _ := call(b, "POST", users.base+"/users", map[string]any{"username": "bench", "email": "bench@example.com"})

	var lags []time.Duration
	var codes []string
	for i := 0; i < 200; i++ {
		_, u, _ := call(b, "POST", urls.base+"/urls", map[string]any{"user_id": user["id"], "original_url": fmt.Sprintf("https://example.com/%d", i)})
		codes = append(codes, u["short_code"].(string))
		lags = append(lags, waitFor(b, 5*time.Second, "event visible", func() bool {
			res, err := http.Get(fmt.Sprintf("%s/events?url_id=%v&event_type=created", events.base, u["id"]))
			if err != nil {
				return false
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			return res.StatusCode == 200 && string(raw) != "[]"
		}))
	}
	slices.Sort(lags)

	start := time.Now()
	const clicks = 20000
	answered := burst(b, redir.base, codes, clicks)
	waitFor(b, 60*time.Second, "clicks stored", func() bool {
		c, pending := eventCounts(b, p.st)
		return c["click"] == answered && pending == 0
	})
	rate := float64(answered) / time.Since(start).Seconds()
	for b.Loop() {
		// The measurements above are the result; the loop body is empty on purpose.
	}
	// Reported after the loop: b.Loop's timer reset drops metrics reported before it.
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "lag-p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "lag-p99-ms")
	b.ReportMetric(rate, "clicks-stored/s")
}
