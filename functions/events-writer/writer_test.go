package eventswriter_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
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
