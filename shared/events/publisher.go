package events

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
)

// Acker removes acknowledged events from the outbox.
type Acker interface {
	AckOutbox(ctx context.Context, eventIDs []string) error
}

// parallel bounds the deliveries in flight from one publisher.
const parallel = 16

// Publisher sends audit events to the sink as CloudEvents in binary HTTP mode and removes
// each from the outbox once the sink answered 2xx. What fails stays in the outbox for the
// relay.
type Publisher struct {
	client  cloudevents.Client
	acker   Acker
	metrics *metrics.Metrics
	sem     chan struct{}
	wg      sync.WaitGroup
}

// NewPublisher returns a publisher to sink, or nil when there is no sink. When local is
// set, events are delivered to that handler in-process (the all-in-one server) through
// the same CloudEvents encoding as over the network.
func NewPublisher(sink string, local http.Handler, acker Acker, m *metrics.Metrics) (*Publisher, error) {
	if sink == "" && local == nil {
		return nil, nil
	}
	opts := []cehttp.Option{}
	if local != nil {
		sink = "http://in-process/"
		opts = append(opts, cehttp.WithRoundTripper(inProcess{local}))
	}
	opts = append(opts, cehttp.WithTarget(sink))
	client, err := cloudevents.NewClientHTTP(opts...)
	if err != nil {
		return nil, err
	}
	return &Publisher{client: client, acker: acker, metrics: m, sem: make(chan struct{}, parallel)}, nil
}

// Publish sends audits in the background, right after the mutation committed.
func (p *Publisher) Publish(audits []domain.Audit) {
	if p == nil || len(audits) == 0 {
		return
	}
	for _, a := range audits {
		p.metrics.EventsEmitted.WithLabelValues(TypeOf(a.EventType)).Inc()
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.Send(context.Background(), audits)
	}()
}

// Send delivers audits and acknowledges the delivered ones in the outbox; it returns how
// many were delivered.
func (p *Publisher) Send(ctx context.Context, audits []domain.Audit) int {
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
		if err := p.acker.AckOutbox(ctx, acked); err != nil {
			// Delivered but not removed: the relay sends them again and the writer's
			// idempotent insert makes that harmless.
			slog.Warn("outbox ack failed", "err", err, "events", len(acked))
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
	if res := p.client.Send(ctx, ev); !cloudevents.IsACK(res) {
		slog.Warn("event delivery failed", "err", res, "event_id", a.EventID, "type", ev.Type())
		p.metrics.EventsFailed.Inc()
		return false
	}
	p.metrics.EventsAcked.Inc()
	return true
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

// inProcess serves requests with a handler in this process instead of the network.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	w := &responseRecorder{header: http.Header{}, status: http.StatusOK}
	t.h.ServeHTTP(w, r)
	return &http.Response{
		StatusCode: w.status, Status: http.StatusText(w.status), Header: w.header,
		Body: http.NoBody, Request: r, ProtoMajor: 1, ProtoMinor: 1,
	}, nil
}

type responseRecorder struct {
	header http.Header
	status int
	wrote  bool
}

func (w *responseRecorder) Header() http.Header { return w.header }
func (w *responseRecorder) Write(b []byte) (int, error) {
	w.wrote = true
	return len(b), nil
}
func (w *responseRecorder) WriteHeader(s int) {
	if !w.wrote {
		w.status, w.wrote = s, true
	}
}
