package events

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
)

// Acker records in the outbox that the sink accepted events, and makes backed-off events
// due again once the sink answers after failures. An event leaves the outbox only when
// the events-writer stores it, not when a broker accepts it.
type Acker interface {
	MarkSent(ctx context.Context, eventIDs []string) error
	ResetOutboxBackoff(ctx context.Context) error
}

// parallel bounds the deliveries in flight from one publisher.
const parallel = 16

// Deadlines of background delivery, so that a hung sink or a frozen PostgreSQL cannot
// hold a goroutine (and one of the parallel slots) forever; what times out stays in the
// outbox and the relay sends it again.
const (
	// sendTimeout bounds one CloudEvent's delivery: a broker's ingress or the
	// events-writer acknowledges in milliseconds, so seconds without an answer mean a
	// hung sink.
	sendTimeout = 5 * time.Second
	// ackTimeout bounds one outbox statement (mark-sent, backoff reset, the in-process
	// move): single statements on the outbox's indexes, milliseconds when the database
	// is well.
	ackTimeout = 5 * time.Second
)

// Mover delivers outbox rows to the audit log in-process, when the log is in the same
// database (the all-in-one server).
type Mover interface {
	MoveOutbox(ctx context.Context, eventIDs []string) (int64, error)
}

// Publisher sends audit events to the sink as CloudEvents in binary HTTP mode and marks
// each sent in the outbox once the sink answered 2xx; the events-writer removes it when
// stored. What fails is due again for the relay.
type Publisher struct {
	client  cloudevents.Client
	local   Mover
	acker   Acker
	metrics *metrics.Metrics
	sem     chan struct{}
	wg      sync.WaitGroup
	backlog atomic.Int64 // events handed to Publish and not yet sent
	failing atomic.Bool  // the last delivery failed
}

// NewPublisher returns a publisher to sink, or nil when there is no sink. With a local
// mover instead of a sink (the all-in-one server), a batch is delivered by moving it from
// the outbox into the log in one idempotent statement.
func NewPublisher(sink string, local Mover, acker Acker, m *metrics.Metrics) (*Publisher, error) {
	p := &Publisher{local: local, acker: acker, metrics: m, sem: make(chan struct{}, parallel)}
	switch {
	case local != nil:
		return p, nil
	case sink == "":
		return nil, nil
	}
	client, err := cloudevents.NewClientHTTP(cehttp.WithTarget(sink))
	if err != nil {
		return nil, err
	}
	p.client = client
	return p, nil
}

// Direct reports whether delivery is in-process, into the same database's log.
func (p *Publisher) Direct() bool { return p != nil && p.local != nil }

// Delivered counts audits that were written straight into the log.
func (p *Publisher) Delivered(audits []domain.Audit) {
	p.countEmitted(audits)
	p.metrics.EventsAcked.Add(float64(len(audits)))
}

// countEmitted counts audits by type, one metric update per run of a type: a click batch
// is hundreds of the same.
func (p *Publisher) countEmitted(audits []domain.Audit) {
	for i := 0; i < len(audits); {
		j := i + 1
		for j < len(audits) && audits[j].EventType == audits[i].EventType {
			j++
		}
		p.metrics.EventsEmitted.WithLabelValues(TypeOf(audits[i].EventType)).Add(float64(j - i))
		i = j
	}
}

// Publish sends audits in the background, right after the mutation committed. The
// request is answered by then, so its context cannot bound the send: Send's deadlines do.
func (p *Publisher) Publish(audits []domain.Audit) {
	if p == nil || len(audits) == 0 {
		return
	}
	p.countEmitted(audits)
	n := int64(len(audits))
	if p.backlog.Add(n) > maxBacklog {
		// The sink is slower than the events come (a redirect flood, a hung broker): the
		// events are committed in the outbox already, so the relay delivers them later
		// instead of goroutines and buffers piling up here without bound.
		p.backlog.Add(-n)
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer p.backlog.Add(-n)
		p.Send(context.Background(), audits)
	}()
}

// maxBacklog bounds the events Publish has in flight; past it, the relay sends them.
const maxBacklog = 1 << 16

// Send delivers audits and acknowledges the delivered ones in the outbox; it returns how
// many were delivered. Each delivery has sendTimeout and each outbox statement
// ackTimeout, within ctx.
func (p *Publisher) Send(ctx context.Context, audits []domain.Audit) int {
	if p.local != nil {
		return p.move(ctx, audits)
	}
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	for _, a := range audits {
		p.sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-p.sem; wg.Done() }()
			if p.deliver(ctx, a) {
				mu.Lock()
				acked = append(acked, a.EventID)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(acked) > 0 {
		ctx, cancel := context.WithTimeout(ctx, ackTimeout)
		defer cancel()
		if err := p.acker.MarkSent(ctx, acked); err != nil {
			// Accepted but not marked: the relay may send them again, and the writer's
			// idempotent insert makes that harmless.
			slog.Warn("outbox mark-sent failed", "err", err, "events", len(acked))
		}
	}
	return len(acked)
}

func (p *Publisher) deliver(ctx context.Context, a domain.Audit) bool {
	ev, err := ToCloudEvent(a)
	if err != nil {
		slog.Error("encode audit event", "err", err, "event_id", a.EventID)
		p.metrics.EventsFailed.Inc()
		return false
	}
	sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	res := p.client.Send(sendCtx, ev)
	cancel()
	if !cloudevents.IsACK(res) {
		slog.Warn("event delivery failed", "err", res, "event_id", a.EventID, "type", ev.Type())
		p.metrics.EventsFailed.Inc()
		p.failing.Store(true)
		return false
	}
	p.metrics.EventsAcked.Inc()
	if p.failing.CompareAndSwap(true, false) {
		// The sink is back: what waits out a backoff is due now, for the relay.
		ctx, cancel := context.WithTimeout(ctx, ackTimeout)
		defer cancel()
		if err := p.acker.ResetOutboxBackoff(ctx); err != nil {
			slog.Warn("outbox backoff reset failed", "err", err)
		}
	}
	return true
}

func (p *Publisher) move(ctx context.Context, audits []domain.Audit) int {
	ids := make([]string, len(audits))
	for i, a := range audits {
		ids[i] = a.EventID
	}
	ctx, cancel := context.WithTimeout(ctx, ackTimeout)
	defer cancel()
	if _, err := p.local.MoveOutbox(ctx, ids); err != nil {
		slog.Warn("in-process event delivery failed", "err", err, "events", len(ids))
		p.metrics.EventsFailed.Add(float64(len(ids)))
		return 0
	}
	p.metrics.EventsAcked.Add(float64(len(ids)))
	return len(ids)
}

// Wait blocks until background sends finish or ctx ends.
func (p *Publisher) Wait(ctx context.Context) {
	if p == nil {
		return
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
