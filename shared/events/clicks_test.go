package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
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
	c := events.NewClicks(db.Store, events.NewAuditor("redirect"), nil, m, 1000, time.Hour)
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

// TestClicksBatchBySize: a full batch goes out without waiting for the interval, and a
// writer that fell behind (here its first write fails and is retried 50 ms later) catches
// up with batches of what waits, up to 16 batches at once; every click is written once.
func TestClicksBatchBySize(t *testing.T) {
	t.Parallel()
	b := &batches{testDB: newDB(t), fail: 1}
	c := events.NewClicks(b, events.NewAuditor("redirect"), nil, metrics.New(), 5, time.Hour)
	for i := range 200 {
		c.Record(click(i))
	}
	eventually(t, "the backlog written", func() bool {
		n := 0
		for _, s := range b.got() {
			n += s
		}
		return n >= 195
	})
	closeClicks(t, c)
	got, total := b.got(), 0
	for _, s := range got {
		total += s
		if s > 80 {
			t.Errorf("a batch of %d, over 16 batches of 5", s)
		}
	}
	if total != 200 || slices.Max(got) != 80 {
		t.Errorf("batches = %v: %d clicks, want 200 with batches of 80 while behind", got, total)
	}
	if p := b.pending(t); p != 200 {
		t.Errorf("outbox holds %d, want 200", p)
	}
}

func TestClicksBatchByInterval(t *testing.T) {
	t.Parallel()
	b := &batches{testDB: newDB(t)}
	c := events.NewClicks(b, events.NewAuditor("redirect"), nil, metrics.New(), 1000, 50*time.Millisecond)
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
	c := events.NewClicks(b, events.NewAuditor("redirect"), nil, m, 1000, time.Hour)
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
	c := events.NewClicks(db.Store, events.NewAuditor("redirect"), p, metrics.New(), 1000, time.Hour)
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

// frozen writes through to a real store unless frozen, when each write waits for its
// context to end, as a write to a SIGSTOPped PostgreSQL does.
type frozen struct {
	testDB
	frozen  atomic.Bool
	waiting atomic.Int64 // writes waiting now
}

func (f *frozen) hang(ctx context.Context) error {
	f.waiting.Add(1)
	defer f.waiting.Add(-1)
	<-ctx.Done()
	return domain.Unavailablef(ctx.Err(), "database unavailable")
}

func (f *frozen) WriteAudits(ctx context.Context, audits []domain.Audit) error {
	if f.frozen.Load() {
		return f.hang(ctx)
	}
	return f.testDB.WriteAudits(ctx, audits)
}

// TestClicksRecordNeverBlocks: with every write hanging, Record still returns at once;
// the clicks past the queue are counted lost, and once the store answers again the rest
// are stored, so that stored + lost is every click recorded.
func TestClicksRecordNeverBlocks(t *testing.T) {
	t.Parallel()
	f := &frozen{testDB: newDB(t)}
	f.frozen.Store(true)
	m := metrics.New()
	c := events.NewClicks(f, events.NewAuditor("redirect"), nil, m, 1000, 10*time.Millisecond)
	c.Record(click(0))
	eventually(t, "the first batch's write hangs", func() bool { return f.waiting.Load() == 1 })

	const n = 1<<16 + 5000 // more than the queue holds
	start := time.Now()
	recorded := make(chan struct{})
	go func() {
		defer close(recorded)
		for i := 1; i < n; i++ {
			c.Record(click(i))
		}
	}()
	select {
	case <-recorded:
	case <-time.After(3 * time.Second):
		t.Fatalf("%d Record calls still blocked after 3 s while the store hung", n)
	}
	t.Logf("%d clicks recorded in %v with the store hung", n, time.Since(start))
	lost := value(t, m.ClicksLost)
	if lost == 0 {
		t.Fatal("no click counted lost although the queue overflowed")
	}
	if b := value(t, m.ClicksBuffered); b+lost != n {
		t.Errorf("buffered %v + lost %v = %v, want %d", b, lost, b+lost, n)
	}

	f.frozen.Store(false) // the hung attempt times out and the retry writes it
	closeClicks(t, c)
	if p := f.pending(t); float64(p)+value(t, m.ClicksLost) != n {
		t.Errorf("stored %d + lost %v != recorded %d", p, value(t, m.ClicksLost), n)
	}
	if lost2 := value(t, m.ClicksLost); lost2 != lost {
		t.Errorf("lost grew from %v to %v after the store came back", lost, lost2)
	}
	if b := value(t, m.ClicksBuffered); b != 0 {
		t.Errorf("buffered gauge = %v after flush, want 0", b)
	}
	t.Logf("%v of them lost, the rest stored", lost)
}

// TestClicksCloseAbandonsAtDeadline: when the store hangs through shutdown, Close returns
// soon after its deadline and counts every unwritten click as lost.
func TestClicksCloseAbandonsAtDeadline(t *testing.T) {
	t.Parallel()
	f := &frozen{testDB: newDB(t)}
	f.frozen.Store(true)
	m := metrics.New()
	c := events.NewClicks(f, events.NewAuditor("redirect"), nil, m, 10, time.Hour)
	const n = 95
	for i := range n {
		c.Record(click(i))
	}
	eventually(t, "a write hangs", func() bool { return f.waiting.Load() == 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	c.Close(ctx)
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with a 200 ms deadline", d)
	}
	if v := value(t, m.ClicksLost); v != n {
		t.Errorf("lost = %v, want %d", v, n)
	}
	if v := value(t, m.ClicksBuffered); v != 0 {
		t.Errorf("buffered gauge = %v, want 0", v)
	}
	if p := f.pending(t); p != 0 {
		t.Errorf("outbox holds %d, want 0", p)
	}
}

// TestClicksHungSinkBounded: a sink that never answers holds a click batch's delivery
// for the send deadline, not forever; the clicks wait in the outbox for the relay.
func TestClicksHungSinkBounded(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer hung.Close()
	defer close(release) // before Close, which waits for the handlers
	p, m := newPublisher(t, hung.URL, db.Store)
	c := events.NewClicks(db.Store, events.NewAuditor("redirect"), p, m, 1000, time.Hour)
	for i := range 3 {
		c.Record(click(i))
	}
	closeClicks(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	start := time.Now()
	p.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("delivery to a hung sink still running after 15 s")
	}
	if v := value(t, m.EventsFailed); v != 3 {
		t.Errorf("delivery failures = %v, want 3", v)
	}
	if n := db.pending(t); n != 3 {
		t.Errorf("outbox holds %d, want 3 for the relay", n)
	}
	t.Logf("hung deliveries given up after %v", time.Since(start))
}
