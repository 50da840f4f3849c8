package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
)

// AuditWriter writes audit events to the outbox on their own, or straight into the log
// when the log is in the same database.
type AuditWriter interface {
	NewAudit(eventType string, urlID, userID *int64, at time.Time, details any) (domain.Audit, error)
	WriteAudits(ctx context.Context, audits []domain.Audit) error
	AppendEvents(ctx context.Context, audits []domain.Audit) error
}

// clickQueue bounds the clicks waiting in memory; past it Record blocks the redirect that
// calls it rather than drop a click.
const clickQueue = 1 << 16

// Clicks takes click events off the redirect response path: Record only queues, and a
// background loop writes them to the outbox in batches (every size clicks or interval,
// whichever comes first), then hands them to the publisher. Close flushes what is queued,
// which is what Knative's SIGTERM on scale-down triggers; only a SIGKILL can lose the
// clicks of the current batch.
type Clicks struct {
	store    AuditWriter
	pub      *Publisher
	metrics  *metrics.Metrics
	size     int
	interval time.Duration

	ch   chan domain.Click
	done chan struct{}
	once sync.Once
}

// NewClicks starts the batching loop.
func NewClicks(store AuditWriter, pub *Publisher, m *metrics.Metrics, size int, interval time.Duration) *Clicks {
	c := &Clicks{
		store: store, pub: pub, metrics: m, size: max(size, 1), interval: interval,
		ch: make(chan domain.Click, clickQueue), done: make(chan struct{}),
	}
	go c.run()
	return c
}

// Record queues one click.
func (c *Clicks) Record(cl domain.Click) {
	c.metrics.ClicksBuffered.Inc()
	c.ch <- cl
}

// Close stops taking clicks and flushes the queue, waiting for it until ctx ends; clicks
// still unwritten then are counted as lost.
func (c *Clicks) Close(ctx context.Context) {
	c.once.Do(func() { close(c.ch) })
	select {
	case <-c.done:
	case <-ctx.Done():
		slog.Error("clicks not flushed before shutdown deadline")
	}
}

func (c *Clicks) run() {
	defer close(c.done)
	buf := make([]domain.Click, 0, c.size)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case cl, ok := <-c.ch:
			if !ok {
				c.flush(buf)
				return
			}
			if len(buf) == 0 {
				timer.Reset(c.interval)
			}
			buf = append(buf, cl)
			if len(buf) >= c.size {
				timer.Stop()
				c.flush(buf)
				buf = buf[:0]
			}
		case <-timer.C:
			c.flush(buf)
			buf = buf[:0]
		}
	}
}

// clickDetails are a click event's details.
type clickDetails struct {
	ShortCode string `json:"short_code"`
	Referrer  string `json:"referrer,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// appendDetails appends a click's details as JSON. At tens of thousands of clicks a
// second encoding/json's reflection shows, so strings that need no escaping, the usual
// case, are written as they are; any other goes through encoding/json.
func appendDetails(b []byte, cl domain.Click) []byte {
	if !plain(cl.ShortCode) || !plain(cl.Referrer) || !plain(cl.UserAgent) {
		raw, _ := json.Marshal(clickDetails{ShortCode: cl.ShortCode, Referrer: cl.Referrer, UserAgent: cl.UserAgent})
		return append(b, raw...) // strings always encode
	}
	b = append(append(append(b, `{"short_code":"`...), cl.ShortCode...), '"')
	if cl.Referrer != "" {
		b = append(append(append(b, `,"referrer":"`...), cl.Referrer...), '"')
	}
	if cl.UserAgent != "" {
		b = append(append(append(b, `,"user_agent":"`...), cl.UserAgent...), '"')
	}
	return append(b, '}')
}

// plain reports whether s goes into JSON as it is: printable ASCII, no quote or
// backslash, and none of the characters encoding/json escapes for HTML.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// flushAttempts bounds the retries of one batch while PostgreSQL is down (about 30 s of
// backoff in all), so a long outage cannot grow memory without bound.
const flushAttempts = 10

func (c *Clicks) flush(buf []domain.Click) {
	if len(buf) == 0 {
		return
	}
	audits := make([]domain.Audit, 0, len(buf))
	// One allocation each for every event's ids and details, not one per click.
	ids := make([]int64, 2*len(buf))
	details := make([]byte, 0, 64*len(buf))
	for i, cl := range buf {
		ids[2*i], ids[2*i+1] = cl.URLID, cl.UserID
		start := len(details)
		details = appendDetails(details, cl)
		a, err := c.store.NewAudit(domain.EventClick, &ids[2*i], &ids[2*i+1], cl.At,
			json.RawMessage(details[start:len(details):len(details)]))
		if err != nil {
			slog.Error("build click event", "err", err)
			c.metrics.ClicksLost.Inc()
			continue
		}
		audits = append(audits, a)
	}
	// In-process delivery (the all-in-one server) writes the batch straight into the log:
	// the outbox would only be a second write of the same rows.
	write := c.store.WriteAudits
	direct := c.pub.Direct()
	if direct {
		write = c.store.AppendEvents
	}
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := write(ctx, audits)
		cancel()
		if err == nil {
			break
		}
		if attempt == flushAttempts {
			slog.Error("clicks dropped: outbox unwritable", "err", err, "clicks", len(audits))
			c.metrics.ClicksLost.Add(float64(len(audits)))
			c.metrics.ClicksBuffered.Sub(float64(len(buf)))
			return
		}
		slog.Warn("click batch write failed, retrying", "err", err, "attempt", attempt)
		time.Sleep(wait)
		wait = min(wait*2, 5*time.Second)
	}
	c.metrics.ClicksBuffered.Sub(float64(len(buf)))
	if direct {
		c.pub.Delivered(audits)
		return
	}
	c.pub.Publish(audits)
}
