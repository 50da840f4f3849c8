package eventswriter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	eventswriter "github.com/urlshort/shortener/functions/events-writer"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
	"github.com/urlshort/shortener/shared/web"
)

// writer mounts the events-writer on a real store, as the function does.
func writer(t *testing.T, st *store.Store) *httptest.Server {
	t.Helper()
	m := metrics.New()
	rt := web.NewRouter(m, "events-writer")
	rt.Handle(eventswriter.Routes(eventswriter.Deps{Store: st, Metrics: m})...)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv
}

// post sends an audit event as the broker would: a CloudEvent in binary HTTP mode.
func post(t *testing.T, srv *httptest.Server, a domain.Audit) int {
	t.Helper()
	ev, err := events.ToCloudEvent(a)
	if err != nil {
		t.Fatal(err)
	}
	return postEvent(t, srv, binding.ToMessage(&ev))
}

func postEvent(t *testing.T, srv *httptest.Server, msg binding.Message) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", nil)
	if err := cehttp.WriteRequest(context.Background(), msg, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func audit(userID int64, details string) domain.Audit {
	return domain.Audit{
		EventID: uuid.NewString(), Source: events.Source("users"), UserID: &userID,
		EventType: domain.EventUserCreated, Timestamp: time.Now().UTC().Truncate(time.Microsecond),
		Details: json.RawMessage(details),
	}
}

func logged(t *testing.T, st *store.Store) int64 {
	t.Helper()
	_, n, err := st.FindEvents(t.Context(), domain.EventFilter{Page: domain.Page{Number: 1, PerPage: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestReceive(t *testing.T) {
	st := storetest.New(t, "events-writer")
	srv := writer(t, st)

	t.Run("StoredThenDuplicateIsStillSuccess", func(t *testing.T) {
		a := audit(7, `{}`)
		before := logged(t, st)
		for range 2 {
			if got := post(t, srv, a); got != http.StatusAccepted {
				t.Fatalf("status %d, want 202", got)
			}
		}
		if got := logged(t, st) - before; got != 1 {
			t.Fatalf("%d rows stored for one event delivered twice, want 1", got)
		}
	})
	t.Run("MalformedIsBadRequest", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(`{"not":"a cloudevent"}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", res.StatusCode)
		}
	})
	t.Run("ValuesTheLogRefusesAreBadRequest", func(t *testing.T) {
		// The database can never store this event: a 503 would have the broker retry it
		// forever, a 400 sends it to the dead-letter sink.
		before := logged(t, st)
		if got := post(t, srv, audit(7, `{"k":"\u0000"}`)); got != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", got)
		}
		if logged(t, st) != before {
			t.Fatal("a refused event left a row")
		}
	})
}

func TestPingDrainsTheOutbox(t *testing.T) {
	url := storetest.URL(t)
	st, err := store.Open(t.Context(), store.Options{URL: url}, events.NewAuditor("users"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	srv := writer(t, st)
	audits := []domain.Audit{audit(1, `{}`), audit(2, `{}`), audit(3, `{}`)}
	if err := st.WriteAudits(t.Context(), audits); err != nil {
		t.Fatal(err)
	}
	// Fresh rows are left to their writer for a grace period; the test skips the wait.
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `UPDATE outbox SET next_attempt_at = now()`); err != nil {
		t.Fatal(err)
	}
	if got := logged(t, st); got != 0 {
		t.Fatalf("%d events in the log before the ping", got)
	}
	if got := postEvent(t, srv, ping()); got != http.StatusAccepted {
		t.Fatalf("ping: status %d, want 202", got)
	}
	if got := logged(t, st); got != 3 {
		t.Fatalf("%d events in the log after the ping, want 3", got)
	}
	if got := postEvent(t, srv, ping()); got != http.StatusAccepted || logged(t, st) != 3 {
		t.Fatalf("second ping: status %d, %d events; want 202 and still 3", got, logged(t, st))
	}
}

// ping is what Knative's PingSource sends.
func ping() binding.Message {
	ev := cloudevents.NewEvent()
	ev.SetID(uuid.NewString())
	ev.SetType(events.TypePing)
	ev.SetSource("/apis/v1/namespaces/shortener/pingsources/outbox-drain")
	return binding.ToMessage(&ev)
}

func TestStoreDownIsRetryable(t *testing.T) {
	st := storetest.New(t, "events-writer")
	srv := writer(t, st)
	st.Close() // every call now fails the way an unreachable database does
	if got := post(t, srv, audit(7, `{}`)); got != http.StatusServiceUnavailable {
		t.Fatalf("store down: status %d, want 503 so the broker retries", got)
	}
}

// TestConcurrentClicksOfOneLink: 400 clicks of one link delivered by 64 concurrent
// requests (a viral link), each of 80 of them twice, and one the log refuses among them:
// every good one is acknowledged and stored once, the bad one alone is 400, and the
// link's statistics count exactly the stored clicks.
func TestConcurrentClicksOfOneLink(t *testing.T) {
	st := storetest.New(t, "events-writer")
	srv := writer(t, st)
	ctx := t.Context()
	u, err := st.CreateUser(ctx, "viral", "viral@example.com")
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.CreateURL(ctx, domain.NewURL{UserID: u.Value.ID, OriginalURL: "https://example.com/viral"})
	if err != nil {
		t.Fatal(err)
	}
	var audits []domain.Audit
	for i := range 400 {
		a := audit(u.Value.ID, `{"short_code":"v","user_agent":"curl/8.0"}`)
		a.EventType, a.URLID, a.Source = domain.EventClick, &l.Value.ID, events.Source("redirect")
		audits = append(audits, a)
		if i%5 == 0 {
			audits = append(audits, a)
		}
	}
	bad := audit(u.Value.ID, `{"k":"\u0000"}`)
	audits = append(audits[:200], append([]domain.Audit{bad}, audits[200:]...)...)
	var next atomic.Int64
	var wg sync.WaitGroup
	statuses := make([]int, len(audits))
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(audits)); i = next.Add(1) - 1 {
				statuses[i] = post(t, srv, audits[i])
			}
		})
	}
	wg.Wait()
	for i, s := range statuses {
		want := http.StatusAccepted
		if audits[i].EventID == bad.EventID {
			want = http.StatusBadRequest
		}
		if s != want {
			t.Fatalf("event %d: status %d, want %d", i, s, want)
		}
	}
	stats, err := st.URLStats(ctx, l.Value.ID, domain.StatsRange{})
	if err != nil || stats.Clicks != 400 || stats.BotClicks != 400 {
		t.Fatalf("stats %+v (%v), want 400 clicks, all bots (curl)", stats, err)
	}
	if n := logged(t, st); n != 400 { // the user's and URL's own events wait in the outbox
		t.Fatalf("log holds %d events, want the 400 clicks", n)
	}
}

// BenchmarkHotLinkClicks: clicks of one link delivered by 64 concurrent requests, the
// case in which a transaction per request would queue every click on the link's rollup
// rows.
func BenchmarkHotLinkClicks(b *testing.B) {
	st := storetest.New(b, "events-writer")
	m := metrics.New()
	rt := web.NewRouter(m, "events-writer")
	rt.Handle(eventswriter.Routes(eventswriter.Deps{Store: st, Metrics: m})...)
	srv := httptest.NewServer(rt)
	defer srv.Close()
	u, _ := st.CreateUser(b.Context(), "hot", "hot@example.com")
	l, _ := st.CreateURL(b.Context(), domain.NewURL{UserID: u.Value.ID, OriginalURL: "https://example.com/hot"})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(32) // 64 clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a := audit(u.Value.ID, `{"short_code":"h","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"}`)
			a.EventType, a.URLID, a.Source = domain.EventClick, &l.Value.ID, events.Source("redirect")
			ev, _ := events.ToCloudEvent(a)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", nil)
			_ = cehttp.WriteRequest(context.Background(), binding.ToMessage(&ev), req)
			res, err := client.Do(req)
			if err != nil || res.StatusCode != http.StatusAccepted {
				b.Errorf("delivery: %v %v", res, err)
				return
			}
			res.Body.Close()
		}
	})
}
