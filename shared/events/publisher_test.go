package events_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/metrics"
)

func TestNewPublisherWithoutSinkIsNil(t *testing.T) {
	p, err := events.NewPublisher("", nil, &acker{}, metrics.New())
	if err != nil || p != nil {
		t.Fatalf("NewPublisher(\"\") = %v, %v; want nil, nil", p, err)
	}
	// A nil publisher is what a process without a sink has; it must be inert.
	p.Publish(sampleAudits())
	p.Wait(t.Context())
	if r := events.NewRelay(nil, p, time.Second); r != nil {
		t.Errorf("NewRelay without publisher = %v, want nil", r)
	}
	var r *events.Relay
	r.Run(t.Context()) // returns at once
}

// TestPublisherBinaryMode: each audit goes out as a binary-mode CloudEvent whose body is
// the audit data, and the receiver decodes it back to the same audit.
func TestPublisherBinaryMode(t *testing.T) {
	s := newSink(t, nil)
	ack := &acker{}
	p, _ := newPublisher(t, s.URL, ack)
	audits := sampleAudits()
	if n := p.Send(t.Context(), audits); n != len(audits) {
		t.Fatalf("Send = %d, want %d", n, len(audits))
	}
	got := s.requests()
	if len(got) != len(audits) {
		t.Fatalf("sink got %d requests, want %d", len(got), len(audits))
	}
	byID := map[string]domain.Audit{}
	for _, a := range audits {
		byID[a.EventID] = a
	}
	for _, r := range got {
		for _, h := range []string{"Ce-Id", "Ce-Type", "Ce-Source", "Ce-Specversion", "Ce-Time"} {
			if r.header.Get(h) == "" {
				t.Errorf("header %s missing: not binary mode (%v)", h, r.header)
			}
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q, want application/json (structured mode would be application/cloudevents+json)", ct)
		}
		want, ok := byID[r.header.Get("Ce-Id")]
		if !ok {
			t.Fatalf("unknown event id %q", r.header.Get("Ce-Id"))
		}
		back, err := events.FromCloudEvent(r.event)
		if err != nil {
			t.Fatalf("receiver could not decode %s: %v", want.EventType, err)
		}
		if back.EventType != want.EventType || !back.Timestamp.Equal(want.Timestamp) || !jsonEqual(t, back.Details, want.Details) {
			t.Errorf("received %+v, sent %+v", back, want)
		}
		if r.header.Get("Ce-Type") != events.TypeOf(want.EventType) {
			t.Errorf("Ce-Type = %q for %s", r.header.Get("Ce-Type"), want.EventType)
		}
	}
	acked, _ := ack.snapshot()
	if len(acked) != len(audits) {
		t.Errorf("acked %d, want %d", len(acked), len(audits))
	}
}

// TestPublisherAcksOnly2xx: the outbox forgets an event only when the sink took it.
func TestPublisherAcksOnly2xx(t *testing.T) {
	audits := sampleAudits()[:5]
	statusOf := map[string]int{
		audits[0].EventID: http.StatusOK,
		audits[1].EventID: http.StatusAccepted,
		audits[2].EventID: http.StatusInternalServerError,
		audits[3].EventID: http.StatusBadRequest,
		audits[4].EventID: http.StatusServiceUnavailable,
	}
	s := newSink(t, func(ev cloudevents.Event, _ int) int { return statusOf[ev.ID()] })
	ack := &acker{}
	p, m := newPublisher(t, s.URL, ack)
	if n := p.Send(t.Context(), audits); n != 2 {
		t.Errorf("Send = %d, want 2", n)
	}
	acked, _ := ack.snapshot()
	slices.Sort(acked)
	want := []string{audits[0].EventID, audits[1].EventID}
	slices.Sort(want)
	if !slices.Equal(acked, want) {
		t.Errorf("acked %v, want only the 2xx ones %v", acked, want)
	}
	if v := value(t, m.EventsAcked); v != 2 {
		t.Errorf("acknowledged metric = %v, want 2", v)
	}
	if v := value(t, m.EventsFailed); v != 3 {
		t.Errorf("failures metric = %v, want 3", v)
	}
}

func TestPublisherUnreachableSink(t *testing.T) {
	s := newSink(t, nil)
	url := s.URL
	s.Close() // nothing listens there any more
	ack := &acker{}
	p, m := newPublisher(t, url, ack)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if n := p.Send(ctx, sampleAudits()[:2]); n != 0 {
		t.Errorf("Send = %d, want 0", n)
	}
	if acked, _ := ack.snapshot(); len(acked) != 0 {
		t.Errorf("acked %v with no sink", acked)
	}
	if v := value(t, m.EventsFailed); v != 2 {
		t.Errorf("failures metric = %v, want 2", v)
	}
}

func TestPublisherUnencodableAudit(t *testing.T) {
	s := newSink(t, nil)
	ack := &acker{}
	p, m := newPublisher(t, s.URL, ack)
	bad := sampleAudits()[0]
	bad.EventType = "no-such-type" // no CloudEvent type: the event is invalid
	if n := p.Send(t.Context(), []domain.Audit{bad}); n != 0 {
		t.Errorf("Send = %d, want 0", n)
	}
	if len(s.requests()) != 0 {
		t.Error("an invalid event reached the sink")
	}
	if v := value(t, m.EventsFailed); v != 1 {
		t.Errorf("failures metric = %v, want 1", v)
	}
}

// TestPublisherRecoveryResetsBackoff: after failures, the first delivery that works makes
// the backed-off events due again, once.
func TestPublisherRecoveryResetsBackoff(t *testing.T) {
	s := newSink(t, func(_ cloudevents.Event, n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusAccepted
	})
	ack := &acker{}
	p, _ := newPublisher(t, s.URL, ack)
	a := sampleAudits()
	for i := range 2 {
		if n := p.Send(t.Context(), a[i:i+1]); n != 0 {
			t.Fatalf("send %d delivered while the sink fails", i)
		}
	}
	if _, resets := ack.snapshot(); resets != 0 {
		t.Fatalf("reset %d times while failing", resets)
	}
	for i := 2; i < 5; i++ {
		if n := p.Send(t.Context(), a[i:i+1]); n != 1 {
			t.Fatalf("send %d not delivered after recovery", i)
		}
	}
	if _, resets := ack.snapshot(); resets != 1 {
		t.Errorf("reset %d times, want once on recovery", resets)
	}
}

func TestPublishInBackground(t *testing.T) {
	s := newSink(t, nil)
	ack := &acker{}
	p, m := newPublisher(t, s.URL, ack)
	audits := sampleAudits()
	p.Publish(audits)
	p.Publish(nil) // nothing to do
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	p.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatal("Wait did not return")
	}
	if acked, _ := ack.snapshot(); len(acked) != len(audits) {
		t.Errorf("acked %d, want %d", len(acked), len(audits))
	}
	for _, a := range audits {
		if v := value(t, m.EventsEmitted.WithLabelValues(events.TypeOf(a.EventType))); v != 1 {
			t.Errorf("emitted{%s} = %v, want 1", events.TypeOf(a.EventType), v)
		}
	}
}

// mover records the in-process deliveries of the all-in-one server.
type mover struct {
	ids []string
	err error
}

func (m *mover) MoveOutbox(_ context.Context, ids []string) (int64, error) {
	m.ids = append(m.ids, ids...)
	return int64(len(ids)), m.err
}

func TestPublisherLocalMover(t *testing.T) {
	audits := sampleAudits()[:3]
	t.Run("Moves", func(t *testing.T) {
		mv, m := &mover{}, metrics.New()
		p, err := events.NewPublisher("", mv, &acker{}, m)
		if err != nil || p == nil {
			t.Fatalf("NewPublisher = %v, %v", p, err)
		}
		if n := p.Send(t.Context(), audits); n != 3 || len(mv.ids) != 3 || mv.ids[0] != audits[0].EventID {
			t.Errorf("Send = %d, moved %v", n, mv.ids)
		}
		if v := value(t, m.EventsAcked); v != 3 {
			t.Errorf("acknowledged metric = %v, want 3", v)
		}
	})
	t.Run("FailureCounted", func(t *testing.T) {
		mv, m := &mover{err: errors.New("db down")}, metrics.New()
		p, _ := events.NewPublisher("", mv, &acker{}, m)
		if n := p.Send(t.Context(), audits); n != 0 {
			t.Errorf("Send = %d, want 0", n)
		}
		if v := value(t, m.EventsFailed); v != 3 {
			t.Errorf("failures metric = %v, want 3", v)
		}
	})
}

// TestDeliveredCountsByType: runs of one type are counted together, and a type that comes
// back after another is counted again.
func TestDeliveredCountsByType(t *testing.T) {
	m := metrics.New()
	p, err := events.NewPublisher("", &mover{}, &acker{}, m) // in-process, as the all-in-one server
	if err != nil {
		t.Fatal(err)
	}
	a := sampleAudits() // created, updated, deleted, click, ...
	click, created := a[3], a[0]
	p.Delivered([]domain.Audit{click, click, created, click})
	want := map[string]float64{domain.EventClick: 3, domain.EventCreated: 1, domain.EventDeleted: 0}
	for typ, n := range want {
		if v := value(t, m.EventsEmitted.WithLabelValues(events.TypeOf(typ))); v != n {
			t.Errorf("emitted{%s} = %v, want %v", events.TypeOf(typ), v, n)
		}
	}
	if v := value(t, m.EventsAcked); v != 4 {
		t.Errorf("acknowledged = %v, want 4", v)
	}
}

// blockingMover holds every in-process delivery until released, like a frozen database.
type blockingMover struct {
	release chan struct{}
	moved   atomic.Int64
}

func (m *blockingMover) MoveOutbox(ctx context.Context, ids []string) (int64, error) {
	select {
	case <-m.release:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	m.moved.Add(int64(len(ids)))
	return int64(len(ids)), nil
}

// TestPublishBacklogBounded blocks delivery and publishes more than the backlog holds: the
// excess is left to the relay (it is in the outbox already) instead of waiting in memory,
// and Publish never waits.
func TestPublishBacklogBounded(t *testing.T) {
	mv := &blockingMover{release: make(chan struct{})}
	p, err := events.NewPublisher("", mv, &acker{}, metrics.New())
	if err != nil {
		t.Fatal(err)
	}
	one := sampleAudits()[:1]
	big := slices.Repeat(one, 1<<16)
	start := time.Now()
	p.Publish(big) // exactly the backlog: taken
	p.Publish(one) // over it: left to the relay
	p.Publish(big) // over it
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Publish took %v while delivery is blocked", d)
	}
	close(mv.release)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	p.Wait(ctx)
	if got := mv.moved.Load(); got != 1<<16 {
		t.Fatalf("%d events delivered in the background, want the %d the backlog holds", got, 1<<16)
	}
	p.Publish(one) // the backlog drained: taken again
	p.Wait(ctx)
	if got := mv.moved.Load(); got != 1<<16+1 {
		t.Fatalf("after the backlog drained: %d delivered, want %d", got, 1<<16+1)
	}
}
