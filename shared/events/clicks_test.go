package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/metrics"
)

// batches records the batch sizes a real store is asked to write, and can make the first
// few writes fail as if PostgreSQL were down; it writes through to the store otherwise.
type batches struct {
	testDB
	mu    sync.Mutex
	sizes []int
	fail  int
}

func (b *batches) WriteAudits(ctx context.Context, audits []domain.Audit) error {
	b.mu.Lock()
	if b.fail > 0 {
		b.fail--
		b.mu.Unlock()
		return domain.Unavailablef(errors.New("connection refused"), "database unavailable")
	}
	b.sizes = append(b.sizes, len(audits))
	b.mu.Unlock()
	return b.testDB.WriteAudits(ctx, audits)
}

func (b *batches) got() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sizes)
}

func click(i int) domain.Click {
	return domain.Click{URLID: 7, UserID: 3, ShortCode: fmt.Sprintf("code%d", i), At: time.Now()}
}

func closeClicks(t *testing.T, c *events.Clicks) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c.Close(ctx)
	if ctx.Err() != nil {
		t.Fatal("Close did not flush in time")
	}
}

func TestClicksCloseFlushesAll(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	m := metrics.New()
	c := events.NewClicks(db.Store, nil, m, 1000, time.Hour)
	const n = 250
	for i := range n {
		c.Record(click(i))
	}
	c.Record(domain.Click{URLID: 8, UserID: 4, ShortCode: "withref", Referrer: "https://ref.example/", UserAgent: "curl/8", At: time.Now()})
	closeClicks(t, c)
	if p := db.pending(t); p != n+1 {
		t.Fatalf("outbox holds %d clicks, want %d", p, n+1)
	}
	if v := value(t, m.ClicksBuffered); v != 0 {
		t.Errorf("buffered gauge = %v after flush, want 0", v)
	}
	if v := value(t, m.ClicksLost); v != 0 {
		t.Errorf("lost = %v, want 0", v)
	}
	t.Run("Details", func(t *testing.T) {
		var (
			urlID, userID int64
			eventType     string
			details       []byte
		)
		err := db.conn.QueryRow(t.Context(), `SELECT url_id, user_id, event_type, details::text FROM outbox WHERE details->>'short_code' = 'withref'`).
			Scan(&urlID, &userID, &eventType, &details)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]string
		_ = json.Unmarshal(details, &d)
		if urlID != 8 || userID != 4 || eventType != domain.EventClick || d["referrer"] != "https://ref.example/" || d["user_agent"] != "curl/8" {
			t.Errorf("click row = %d %d %s %s", urlID, userID, eventType, details)
		}
		var bare int64
		if err := db.conn.QueryRow(t.Context(), `SELECT count(*) FROM outbox WHERE details ? 'referrer' OR details ? 'user_agent'`).Scan(&bare); err != nil {
			t.Fatal(err)
		}
		if bare != 1 {
			t.Errorf("%d clicks carry referrer/user_agent, want only the one that had them", bare)
		}
	})
	t.Run("CloseTwiceIsSafe", func(t *testing.T) {
		closeClicks(t, c)
	})
}

func TestClicksBatchBySize(t *testing.T) {
	t.Parallel()
	b := &batches{testDB: newDB(t)}
	c := events.NewClicks(b, nil, metrics.New(), 5, time.Hour)
	for i := range 12 {
		c.Record(click(i))
	}
	// Two full batches go out without waiting for the hour-long interval.
	eventually(t, "two full batches", func() bool { return len(b.got()) == 2 })
	closeClicks(t, c)
	if got := b.got(); !slices.Equal(got, []int{5, 5, 2}) {
		t.Errorf("batches = %v, want [5 5 2]", got)
	}
	if p := b.pending(t); p != 12 {
		t.Errorf("outbox holds %d, want 12", p)
	}
}

func TestClicksBatchByInterval(t *testing.T) {
	t.Parallel()
	b := &batches{testDB: newDB(t)}
	c := events.NewClicks(b, nil, metrics.New(), 1000, 50*time.Millisecond)
	defer closeClicks(t, c)
	for i := range 3 {
		c.Record(click(i))
	}
	eventually(t, "interval flush", func() bool { return b.pending(t) == 3 })
	c.Record(click(3))
	eventually(t, "second interval flush", func() bool { return b.pending(t) == 4 })
	if got := b.got(); !slices.Equal(got, []int{3, 1}) {
		t.Errorf("batches = %v, want [3 1]", got)
	}
}

func TestClicksRetryWhileStoreDown(t *testing.T) {
	t.Parallel()
	b := &batches{testDB: newDB(t), fail: 3}
	m := metrics.New()
	c := events.NewClicks(b, nil, m, 1000, time.Hour)
	for i := range 4 {
		c.Record(click(i))
	}
	closeClicks(t, c)
	if p := b.pending(t); p != 4 {
		t.Errorf("outbox holds %d after retries, want 4", p)
	}
	if v := value(t, m.ClicksLost); v != 0 {
		t.Errorf("lost = %v, want 0", v)
	}
}

// TestClicksPublished: a flushed batch goes on to the sink and leaves the outbox.
func TestClicksPublished(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	s := newSink(t, nil)
	s.writer = db.Store
	p, _ := newPublisher(t, s.URL, db.Store)
	c := events.NewClicks(db.Store, p, metrics.New(), 1000, time.Hour)
	for i := range 10 {
		c.Record(click(i))
	}
	closeClicks(t, c)
	p.Wait(t.Context())
	if n := len(s.requests()); n != 10 {
		t.Errorf("sink got %d clicks, want 10", n)
	}
	for _, r := range s.requests() {
		if r.event.Type() != events.TypeURLClicked {
			t.Errorf("type = %q", r.event.Type())
		}
	}
	if p := db.pending(t); p != 0 {
		t.Errorf("pending = %d, want 0", p)
	}
}
