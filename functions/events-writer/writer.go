// Package eventswriter is the events-writer function: a CloudEvents receiver that stores
// audit events in the log, idempotently by CloudEvent id. Its answer tells the broker
// whether to retry: 2xx stored (or stored before), 400 never retry, 5xx retry.
package eventswriter

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/web"
)

// Store is the part of the store the writer uses.
type Store interface {
	StoreNewEvents(ctx context.Context, audits []domain.Audit) ([]string, error)
	DrainOutbox(ctx context.Context, limit int) (int64, error)
}

// Deps is what the writer needs.
type Deps struct {
	Store   Store
	Metrics *metrics.Metrics
}

type handlers struct {
	Deps
	batch *batcher
}

// Routes returns the writer's one route. It has no public path: only the broker, the
// relay schedule and (locally) the emitters reach it.
func Routes(d Deps) []web.Route {
	return []web.Route{{Pattern: "POST /", Handler: handlers{d, &batcher{st: d.Store}}.receive}}
}

// drainBatch bounds one outbox drain.
const drainBatch = 1000

func (h handlers) receive(w http.ResponseWriter, r *http.Request) {
	ev, err := cehttp.NewEventFromHTTPRequest(r)
	if err != nil {
		h.Metrics.WriterRejected.Inc()
		web.Error(w, r, domain.Errorf(domain.BadRequest, "not a CloudEvent: %v", err))
		return
	}
	if ev.Type() == events.TypePing {
		h.drain(w, r)
		return
	}
	a, err := events.FromCloudEvent(*ev)
	if err != nil {
		h.Metrics.WriterRejected.Inc()
		slog.WarnContext(r.Context(), "event rejected", "err", err, "event_id", ev.ID(), "type", ev.Type())
		web.Error(w, r, err)
		return
	}
	stored, err := h.batch.store(r.Context(), a)
	if domain.KindOf(err) == domain.BadRequest {
		// The database refuses the event's own values: no retry can store it, so the
		// broker must not redeliver it forever (it goes to the dead-letter sink instead).
		h.Metrics.WriterRejected.Inc()
		slog.ErrorContext(r.Context(), "event refused by the log", "err", err, "event_id", ev.ID(), "type", ev.Type())
		web.Error(w, r, err)
		return
	}
	if err != nil {
		h.Metrics.WriterFailures.Inc()
		// Whatever went wrong, the event is fine: make the broker retry it.
		web.Error(w, r, domain.Unavailablef(err, "could not store the event"))
		return
	}
	if !stored {
		h.Metrics.WriterDupes.Inc()
	} else {
		h.Metrics.WriterStored.WithLabelValues(ev.Type()).Inc()
	}
	w.WriteHeader(http.StatusAccepted)
}

// drain moves what waits in the outbox into the log: the cluster's relay, scheduled by a
// PingSource so it works while the emitting functions are scaled to zero.
func (h handlers) drain(w http.ResponseWriter, r *http.Request) {
	var total int64
	for {
		n, err := h.Store.DrainOutbox(r.Context(), drainBatch)
		if err != nil {
			h.Metrics.WriterFailures.Inc()
			web.Error(w, r, domain.Unavailablef(err, "could not drain the outbox"))
			return
		}
		total += n
		if n < drainBatch {
			break
		}
	}
	if total > 0 {
		slog.InfoContext(r.Context(), "outbox drained", "events", total)
	}
	w.WriteHeader(http.StatusAccepted)
}

// The broker delivers one event per request, so a transaction per request would make a
// viral link's rollup rows (shared/store/stats.go) a lock every click waits on, one
// commit at a time. Instead the events that arrive while a transaction is being written
// go together into the next one (group commit): no wait is added when requests are few,
// and under load each transaction carries up to maxBatch events and takes each hot row
// once. Each request is still answered only once its event is committed.
const (
	batchWorkers = 4
	maxBatch     = 500
	batchTimeout = 10 * time.Second
)

// batcher stores events in batches; its workers start with the first event.
type batcher struct {
	st   Store
	once sync.Once
	jobs chan job
}

type job struct {
	audit domain.Audit
	done  chan result
}

type result struct {
	stored bool
	err    error
}

// store stores one event with whatever else is waiting, and reports whether it was new.
func (b *batcher) store(ctx context.Context, a domain.Audit) (bool, error) {
	b.once.Do(func() {
		b.jobs = make(chan job, maxBatch*batchWorkers)
		for range batchWorkers {
			go b.run()
		}
	})
	j := job{audit: a, done: make(chan result, 1)}
	select {
	case b.jobs <- j:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case r := <-j.done:
		return r.stored, r.err
	case <-ctx.Done():
		return false, ctx.Err() // it may still be stored: the broker's retry is then a duplicate
	}
}

func (b *batcher) run() {
	for first := range b.jobs {
		batch := []job{first}
	more:
		for len(batch) < maxBatch {
			select {
			case j := <-b.jobs:
				batch = append(batch, j)
			default:
				break more
			}
		}
		b.write(batch)
	}
}

// write stores a batch in one transaction. An event the database refuses fails the whole
// transaction, so then each is stored alone: only the bad one is answered 400.
func (b *batcher) write(batch []job) {
	audits := make([]domain.Audit, len(batch))
	for i, j := range batch {
		audits[i] = j.audit
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	ids, err := b.st.StoreNewEvents(ctx, audits)
	cancel()
	if domain.KindOf(err) == domain.BadRequest && len(batch) > 1 {
		for _, j := range batch {
			b.write([]job{j})
		}
		return
	}
	stored := make(map[string]bool, len(ids))
	for _, id := range ids {
		stored[id] = true
	}
	for _, j := range batch {
		j.done <- result{stored: stored[j.audit.EventID], err: err}
	}
}
