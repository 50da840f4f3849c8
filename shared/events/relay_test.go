package events_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
)

// TestRelayRetriesUntilDelivered: a sink that fails first leaves the events in the
// outbox, leased; once they are due again and the sink works, one pass delivers them and
// the outbox empties.
func TestRelayRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	var failing atomic.Bool
	failing.Store(true)
	s := newSink(t, func(cloudevents.Event, int) int {
		if failing.Load() {
			return http.StatusInternalServerError
		}
		return http.StatusAccepted
	})
	s.writer = db.Store
	p, _ := newPublisher(t, s.URL, db.Store)
	relay := events.NewRelay(db.Store, p, time.Hour)

	var ids []string
	for i := range 3 {
		auditsW, err := db.CreateUser(ctx, "u", fmt.Sprintf("u%d@example.com", i))
		audits := auditsW.Audits
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, audits[0].EventID)
	}
	t.Run("FreshRowsLeftToTheirWriter", func(t *testing.T) {
		relay.Pass(ctx)
		if n := len(s.requests()); n != 0 {
			t.Errorf("relay sent %d events still in their grace period", n)
		}
	})
	db.makeDue(t)
	t.Run("FailureKeepsEvents", func(t *testing.T) {
		relay.Pass(ctx)
		if n := len(s.requests()); n != 3 {
			t.Fatalf("sink got %d requests, want 3", n)
		}
		if p := db.pending(t); p != 3 {
			t.Errorf("pending = %d, want 3", p)
		}
	})
	t.Run("LeaseHoldsOffRetry", func(t *testing.T) {
		failing.Store(false)
		relay.Pass(ctx)
		if n := len(s.requests()); n != 3 {
			t.Errorf("relay retried at once (%d requests); the lease should hold it off", n)
		}
	})
	t.Run("DueAgainDelivered", func(t *testing.T) {
		db.makeDue(t)
		relay.Pass(ctx)
		if p := db.pending(t); p != 0 {
			t.Errorf("pending = %d, want 0", p)
		}
		var delivered []string
		for _, r := range s.requests() {
			if r.status == http.StatusAccepted {
				delivered = append(delivered, r.event.ID())
			}
		}
		slices.Sort(delivered)
		slices.Sort(ids)
		if !slices.Equal(delivered, ids) {
			t.Errorf("delivered %v, want each of %v once", delivered, ids)
		}
	})
}

// TestRelayAfterRecovery: when the sink recovers, a fresh event's delivery resets the
// backoff of the failed ones, so the next relay pass sends them without waiting it out.
func TestRelayAfterRecovery(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	var failing atomic.Bool
	failing.Store(true)
	s := newSink(t, func(cloudevents.Event, int) int {
		if failing.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	s.writer = db.Store
	p, _ := newPublisher(t, s.URL, db.Store)
	relay := events.NewRelay(db.Store, p, time.Hour)
	for i := range 2 {
		if _, err := db.CreateUser(ctx, "u", fmt.Sprintf("u%d@example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	db.makeDue(t)
	relay.Pass(ctx) // fails: both leased with a backoff
	failing.Store(false)
	auditsW, err := db.CreateUser(ctx, "fresh", "fresh@example.com")
	audits := auditsW.Audits
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Send(ctx, audits); n != 1 {
		t.Fatalf("fresh send = %d, want 1", n)
	}
	relay.Pass(ctx)
	if pending := db.pending(t); pending != 0 {
		t.Errorf("pending = %d after recovery, want 0", pending)
	}
}

// TestRelayRun: Run passes at start and on every tick until its context ends.
func TestRelayRun(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := newSink(t, nil)
	s.writer = db.Store
	p, _ := newPublisher(t, s.URL, db.Store)
	relay := events.NewRelay(db.Store, p, 20*time.Millisecond)
	if _, err := db.CreateUser(t.Context(), "u", "u@example.com"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	// Made due while Run is going: a tick, not just the first pass, has to find it.
	db.makeDue(t)
	eventually(t, "relay delivers", func() bool { return db.pending(t) == 0 })
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := s.requests(); len(got) != 1 || got[0].event.Type() != events.TypeUserCreated {
		t.Errorf("sink got %v", got)
	}
}

// TestPublisherWithStore: the normal path, a mutation's audits published right after
// commit, empties the outbox of a real store.
func TestPublisherWithStore(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := newSink(t, nil)
	s.writer = db.Store
	p, m := newPublisher(t, s.URL, db.Store)
	uW, err := db.CreateUser(t.Context(), "u", "u@example.com")
	u, a1 := uW.Value, uW.Audits
	if err != nil {
		t.Fatal(err)
	}
	urlW, err := db.CreateURL(t.Context(), domain.NewURL{UserID: u.ID, OriginalURL: "https://example.com/"})
	url, a2 := urlW.Value, urlW.Audits
	if err != nil {
		t.Fatal(err)
	}
	a3W, err := db.UpdateURL(t.Context(), url.ID, domain.URLPatch{Title: ptr("t"), IsActive: ptr(false)})
	a3 := a3W.Audits
	if err != nil {
		t.Fatal(err)
	}
	p.Publish(slices.Concat(a1, a2, a3))
	p.Wait(t.Context())
	if pending := db.pending(t); pending != 0 {
		t.Errorf("pending = %d, want 0", pending)
	}
	if v := value(t, m.EventsAcked); v != 4 {
		t.Errorf("acknowledged = %v, want 4", v)
	}
}

// TestRelayPassTakesEveryBatch: one pass keeps claiming until nothing is due, past the
// size of one claim (500).
func TestRelayPassTakesEveryBatch(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := newSink(t, nil)
	s.writer = db.Store
	p, _ := newPublisher(t, s.URL, db.Store)
	const n = 501
	audits := make([]domain.Audit, n)
	for i := range audits {
		a, err := events.NewAuditor("redirect").Audit(domain.EventClick, ptr(int64(7)), ptr(int64(3)), time.Now(), domain.ClickDetails{ShortCode: "abc123"})
		if err != nil {
			t.Fatal(err)
		}
		audits[i] = a
	}
	if err := db.WriteAudits(t.Context(), audits); err != nil {
		t.Fatal(err)
	}
	db.makeDue(t)
	events.NewRelay(db.Store, p, time.Hour).Pass(t.Context())
	if pending := db.pending(t); pending != 0 {
		t.Errorf("pending = %d after one pass, want 0", pending)
	}
	if got := len(s.requests()); got != n {
		t.Errorf("sink got %d, want %d", got, n)
	}
}
