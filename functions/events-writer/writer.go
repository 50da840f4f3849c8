// Package eventswriter is the events-writer function: a CloudEvents receiver that stores
// audit events in the log, idempotently by CloudEvent id. Its answer tells the broker
// whether to retry: 2xx stored (or stored before), 400 never retry, 5xx retry.
package eventswriter

import (
	"context"
	"log/slog"
	"net/http"

	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/web"
)

// Store is the part of the store the writer uses.
type Store interface {
	StoreEvents(ctx context.Context, audits []domain.Audit) (int64, error)
	DrainOutbox(ctx context.Context, limit int) (int64, error)
}

// Deps is what the writer needs.
type Deps struct {
	Store   Store
	Metrics *metrics.Metrics
}

type handlers struct{ Deps }

// Routes returns the writer's one route. It has no public path: only the broker, the
// relay schedule and (locally) the emitters reach it.
func Routes(d Deps) []web.Route {
	return []web.Route{{Pattern: "POST /", Handler: handlers{d}.receive}}
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
	n, err := h.Store.StoreEvents(r.Context(), []domain.Audit{a})
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
	if n == 0 {
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
