package events_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// received is one request the sink got.
type received struct {
	header http.Header
	event  cloudevents.Event
	status int
}

// sink is an httptest CloudEvents receiver. status decides each answer; it defaults to
// 202 Accepted.
type sink struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status func(ev cloudevents.Event, n int) int // n counts requests from 1
	// writer, when set, stores what the sink accepts, as the events-writer does: only
	// that takes an event out of the outbox.
	writer *store.Store
}

func newSink(t *testing.T, status func(ev cloudevents.Event, n int) int) *sink {
	t.Helper()
	s := &sink{status: status}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := cehttp.NewEventFromHTTPRequest(r)
		if err != nil {
			t.Errorf("sink: not a CloudEvent: %v", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		n := len(s.got) + 1
		code := http.StatusAccepted
		if s.status != nil {
			code = s.status(*ev, n)
		}
		s.got = append(s.got, received{header: r.Header.Clone(), event: *ev, status: code})
		writer := s.writer
		s.mu.Unlock()
		if writer != nil && code/100 == 2 {
			a, err := events.FromCloudEvent(*ev)
			if err == nil {
				_, err = writer.StoreEvents(r.Context(), []domain.Audit{a})
			}
			if err != nil {
				t.Errorf("sink: store: %v", err)
			}
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// acker is a fake of the publisher's two-method Acker that records what it was told.
type acker struct {
	mu     sync.Mutex
	acked  []string
	resets int
}

func (a *acker) MarkSent(_ context.Context, ids []string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acked = append(a.acked, ids...)
	return nil
}

func (a *acker) ResetOutboxBackoff(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resets++
	return nil
}

func (a *acker) snapshot() ([]string, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.acked...), a.resets
}

func newPublisher(t *testing.T, url string, ack events.Acker) (*events.Publisher, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	p, err := events.NewPublisher(url, nil, ack, m)
	if err != nil {
		t.Fatal(err)
	}
	return p, m
}

// value reads a counter or gauge.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue() + d.GetGauge().GetValue()
}

// testDB is a real store on a fresh database, with a raw connection for what the store
// has no method for (making outbox rows due at once).
type testDB struct {
	*store.Store
	conn *pgx.Conn
}

func newDB(t *testing.T) testDB {
	t.Helper()
	url := storetest.URL(t)
	st, err := store.Open(t.Context(), store.Options{URL: url, MaxConns: 10}, events.NewAuditor("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return testDB{st, conn}
}

func (db testDB) makeDue(t *testing.T) {
	t.Helper()
	if _, err := db.conn.Exec(t.Context(), `UPDATE outbox SET next_attempt_at = now()`); err != nil {
		t.Fatal(err)
	}
}

func (db testDB) pending(t *testing.T) int64 {
	t.Helper()
	n, _, err := db.OutboxStats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// eventually polls cond for up to two seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Second); ; {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within 2 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
