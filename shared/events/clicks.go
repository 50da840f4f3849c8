package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urlshort/shortener/shared/agents"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
)

// AuditWriter writes audit events to the outbox on their own, or straight into the log
// when the log is in the same database.
type AuditWriter interface {
	WriteAudits(ctx context.Context, audits []domain.Audit) error
	AppendEvents(ctx context.Context, audits []domain.Audit) error
	// TakeVisit takes one visit of a limited link and writes its click to the outbox in
	// one transaction; false when none is left.
	TakeVisit(ctx context.Context, click domain.Audit) (bool, error)
}

// clickQueue is how many clicks wait in memory at most: a few seconds of a heavy redirect
// flood (4 to 6 s at 12,000 to 18,000 a second in the drills), 6 MiB of buffer plus the
// strings it holds. A click that finds it full is dropped and counted (see Record).
const clickQueue = 1 << 16

// dropWarnEvery spaces the warnings about dropped clicks: during an outage every redirect
// drops one, and a log line each would bury the log. The counter stays exact.
const dropWarnEvery = 5 * time.Second

// Clicks takes click events off the redirect response path: Record only queues, and a
// background loop writes them to the outbox in batches (every size clicks or interval,
// whichever comes first), then hands them to the publisher. Close flushes what is queued,
// which is what Knative's SIGTERM on scale-down triggers. While PostgreSQL cannot take
// the batches the queue fills, and clicks past it are dropped and counted in
// shortener_clicks_lost_total: a redirect never waits for its click. Only a SIGKILL loses
// clicks uncounted: those still in memory.
type Clicks struct {
	store    AuditWriter
	audits   Auditor
	pub      *Publisher
	metrics  *metrics.Metrics
	size     int
	interval time.Duration

	ch   chan domain.Click
	done chan struct{}
	once sync.Once

	// abandon ends the retries once the deadline of Close passed; what is left then is
	// counted lost, and in abandoned for Close's log line.
	abandon   context.Context
	cancel    context.CancelFunc
	abandoned atomic.Int64

	dropped  atomic.Int64 // clicks dropped at a full queue since the last warning
	lastWarn atomic.Int64 // when that warning was logged, in Unix nanoseconds
}

// NewClicks starts the batching loop.
func NewClicks(store AuditWriter, audits Auditor, pub *Publisher, m *metrics.Metrics, size int, interval time.Duration) *Clicks {
	c := &Clicks{
		store: store, audits: audits, pub: pub, metrics: m, size: max(size, 1), interval: interval,
		ch: make(chan domain.Click, clickQueue), done: make(chan struct{}),
	}
	c.abandon, c.cancel = context.WithCancel(context.Background())
	go c.run()
	return c
}

// Record queues one click and never blocks: a click that finds the queue full (PostgreSQL
// has not taken a batch for a while) is dropped and counted in shortener_clicks_lost_total,
// so the redirect that made it is answered whatever happens to PostgreSQL. It must not be
// called after Close.
func (c *Clicks) Record(cl domain.Click) {
	c.metrics.ClicksBuffered.Inc()
	select {
	case c.ch <- cl:
	default:
		c.metrics.ClicksBuffered.Dec()
		c.metrics.ClicksLost.Inc()
		c.warnDropped()
	}
}

// Take answers a click on a link with a max_visits before its redirect is sent: the
// visit and the click event are written together (see store.TakeVisit), so the count
// stays exact and no such click can be dropped. false means the link has no visit left.
// The event then leaves like any other mutation's.
func (c *Clicks) Take(ctx context.Context, cl domain.Click) (bool, error) {
	a, _, err := c.event(cl, make([]int64, 2), new(domain.ClickFacts), nil)
	if err != nil {
		return false, err
	}
	ok, err := c.store.TakeVisit(ctx, a)
	if ok {
		c.pub.Publish([]domain.Audit{a})
	}
	return ok, err
}

// warnDropped logs at most one warning per dropWarnEvery, with the clicks dropped since
// the previous one.
func (c *Clicks) warnDropped() {
	c.dropped.Add(1)
	now, last := time.Now().UnixNano(), c.lastWarn.Load()
	if now-last < int64(dropWarnEvery) || !c.lastWarn.CompareAndSwap(last, now) {
		return
	}
	slog.Warn("click queue full: clicks dropped, redirects still answered",
		"clicks", c.dropped.Swap(0), "queue", cap(c.ch))
}

// Close stops taking clicks and flushes the queue, waiting for it until ctx ends; then
// it stops retrying, and the clicks still unwritten are counted as lost.
func (c *Clicks) Close(ctx context.Context) {
	c.once.Do(func() { close(c.ch) })
	select {
	case <-c.done:
		return
	case <-ctx.Done():
	}
	c.cancel()
	<-c.done // quick now: the write in flight is cancelled and nothing else is tried
	slog.Error("clicks not flushed before shutdown deadline", "lost", c.abandoned.Load())
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
				buf = c.takeWaiting(buf)
				c.flush(buf)
				buf = buf[:0]
			}
		case <-timer.C:
			c.flush(buf)
			buf = buf[:0]
		}
	}
}

// event builds a click's audit event: the click classified into facts (for the bot flag
// and the store's statistics), its ids in ids (two), its details appended to details,
// which it returns grown. The event points into all three, so a batch shares one
// allocation of each.
func (c *Clicks) event(cl domain.Click, ids []int64, facts *domain.ClickFacts, details []byte) (domain.Audit, []byte, error) {
	ids[0], ids[1] = cl.URLID, cl.UserID
	*facts = agents.Classify(cl.Referrer, cl.UserAgent, false)
	start := len(details)
	details = appendDetails(details, cl, facts.Bot)
	a, err := c.audits.Audit(domain.EventClick, &ids[0], &ids[1], cl.At, json.RawMessage(details[start:len(details):len(details)]))
	a.Click = facts
	return a, details, err
}

// backlogBatches is how many batches one write may take at most when clicks wait: a
// batch has a fixed cost (its transaction, and the statistics' upserts, once per URL and
// day), so a writer that fell behind catches up with larger ones instead of filling the
// queue until clicks are dropped.
const backlogBatches = 16

// takeWaiting adds to a full batch the clicks already queued, without waiting for more,
// up to backlogBatches batches.
func (c *Clicks) takeWaiting(buf []domain.Click) []domain.Click {
	for len(buf) < backlogBatches*c.size {
		select {
		case cl, ok := <-c.ch:
			if !ok {
				return buf // closed: run's next receive sees it and flushes the rest
			}
			buf = append(buf, cl)
		default:
			return buf
		}
	}
	return buf
}

// appendDetails appends a click's details (domain.ClickDetails) as JSON. At tens of thousands of clicks a
// second encoding/json's reflection shows, so strings that need no escaping, the usual
// case, are written as they are; any other goes through encoding/json.
func appendDetails(b []byte, cl domain.Click, bot bool) []byte {
	if !plain(cl.ShortCode) || !plain(cl.Referrer) || !plain(cl.UserAgent) {
		raw, _ := json.Marshal(domain.ClickDetails{ShortCode: cl.ShortCode, Referrer: cl.Referrer, UserAgent: cl.UserAgent, Bot: bot})
		return append(b, raw...) // strings always encode
	}
	b = append(append(append(b, `{"short_code":"`...), cl.ShortCode...), '"')
	if cl.Referrer != "" {
		b = append(append(append(b, `,"referrer":"`...), cl.Referrer...), '"')
	}
	if cl.UserAgent != "" {
		b = append(append(append(b, `,"user_agent":"`...), cl.UserAgent...), '"')
	}
	if bot {
		b = append(b, `,"bot":true`...)
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

// flushBudget is how long one batch is retried while PostgreSQL refuses it or does not
// answer: long enough for a restart or a CNPG failover (seconds to about 30 s), which is
// when retrying pays. Past it the batch is dropped and counted, and the loop takes the
// next one: a batch that can never be written must not stop every later click. Memory
// does not depend on it; the queue bounds that.
const flushBudget = 30 * time.Second

// Each attempt waits flushBackoff at first, doubling to flushBackoffMax, and may take
// flushAttemptTimeout: a batch is written in milliseconds, and a frozen server (SIGSTOP,
// a network partition) would otherwise hold the loop until TCP gives up.
const (
	flushBackoff        = 50 * time.Millisecond
	flushBackoffMax     = 5 * time.Second
	flushAttemptTimeout = 5 * time.Second
)

func (c *Clicks) flush(buf []domain.Click) {
	if len(buf) == 0 {
		return
	}
	if c.abandon.Err() != nil {
		c.lose(len(buf), len(buf))
		return
	}
	audits := make([]domain.Audit, 0, len(buf))
	// One allocation each for every event's ids and details, not one per click.
	ids := make([]int64, 2*len(buf))
	details := make([]byte, 0, 64*len(buf))
	// Classified once here, for the bot flag and for the statistics of the store that
	// takes the batch.
	facts := make([]domain.ClickFacts, len(buf))
	for i, cl := range buf {
		var a domain.Audit
		var err error
		a, details, err = c.event(cl, ids[2*i:2*i+2], &facts[i], details)
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
	if err := c.write(write, audits); err != nil {
		if c.abandon.Err() != nil {
			c.lose(len(audits), len(buf))
			return
		}
		slog.Error("clicks dropped: outbox unwritable", "err", err, "clicks", len(audits), "retried", flushBudget)
		c.metrics.ClicksLost.Add(float64(len(audits)))
		c.metrics.ClicksBuffered.Sub(float64(len(buf)))
		return
	}
	c.metrics.ClicksBuffered.Sub(float64(len(buf)))
	if direct {
		c.pub.Delivered(audits)
		return
	}
	c.pub.Publish(audits)
}

// write retries one batch with backoff for flushBudget at most, or until Close abandons
// it, and returns the last error.
func (c *Clicks) write(write func(context.Context, []domain.Audit) error, audits []domain.Audit) error {
	deadline := time.Now().Add(flushBudget)
	wait := flushBackoff
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(c.abandon, min(flushAttemptTimeout, time.Until(deadline)))
		err := write(ctx, audits)
		cancel()
		// An attempt that could only start at the deadline would fail for want of time
		// and hide the real error.
		if err == nil || c.abandon.Err() != nil || wait >= time.Until(deadline) {
			return err
		}
		slog.Warn("click batch write failed, retrying", "err", err, "attempt", attempt, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.abandon.Done():
			t.Stop()
		}
		wait = min(wait*2, flushBackoffMax)
	}
}

// lose counts the clicks Close gave up on: lost of them, besides any already counted,
// out of buffered taken off the queue.
func (c *Clicks) lose(lost, buffered int) {
	c.abandoned.Add(int64(lost))
	c.metrics.ClicksLost.Add(float64(lost))
	c.metrics.ClicksBuffered.Sub(float64(buffered))
}
