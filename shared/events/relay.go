package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/urlshort/shortener/shared/domain"
)

// Claimer leases due outbox rows.
type Claimer interface {
	ClaimOutbox(ctx context.Context, limit int) ([]domain.Audit, error)
}

// relayBatch is how many events one relay pass claims at most.
const relayBatch = 500

// claimTimeout bounds one claim of due events: one statement over the outbox's due
// index, milliseconds when the database is well. A frozen PostgreSQL would otherwise hold
// the relay's pass until Stop, and every later tick with it. Send bounds the rest.
const claimTimeout = 5 * time.Second

// Relay re-sends what the sink has not acknowledged: at start, then on every tick. The
// outbox lease gives each event its own exponential backoff, and keeps relays of several
// instances from sending the same event at the same time.
type Relay struct {
	outbox   Claimer
	pub      *Publisher
	interval time.Duration
}

// NewRelay returns a relay, or nil when there is no publisher.
func NewRelay(outbox Claimer, pub *Publisher, interval time.Duration) *Relay {
	if pub == nil {
		return nil
	}
	return &Relay{outbox: outbox, pub: pub, interval: interval}
}

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) {
	if r == nil {
		return
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.Pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass claims and sends due events until none are left or a batch fails entirely.
func (r *Relay) Pass(ctx context.Context) {
	for ctx.Err() == nil {
		claimCtx, cancel := context.WithTimeout(ctx, claimTimeout)
		due, err := r.outbox.ClaimOutbox(claimCtx, relayBatch)
		cancel()
		if err != nil {
			slog.Warn("outbox relay: claim failed", "err", err)
			return
		}
		if len(due) == 0 {
			return
		}
		sent := r.pub.Send(ctx, due)
		slog.Info("outbox relay pass", "due", len(due), "sent", sent)
		if sent == 0 {
			return
		}
	}
}
