package store

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
)

// maxBackoff caps the relay's exponential backoff. It is shorter than sentGrace so that
// ResetOutboxBackoff can tell backed-off rows from accepted ones.
const maxBackoff = 90 * time.Second

// sendGrace is how long a fresh outbox row is left to the process that wrote it, which
// sends it right after commit, before a relay may send it again.
const sendGrace = 10 * time.Second

// audit builds an audit event with the store's auditor.
func (s *Store) audit(eventType string, urlID, userID *int64, at time.Time, details any) (domain.Audit, error) {
	if s.audits == nil {
		return domain.Audit{}, errors.New("store: opened without an auditor, so it cannot write")
	}
	return s.audits.Audit(eventType, urlID, userID, at, details)
}

// writeOutbox stores audits in the outbox inside the caller's transaction.
func writeOutbox(ctx context.Context, tx pgx.Tx, audits []domain.Audit) error {
	if len(audits) == 0 {
		return nil
	}
	rows := make([][]any, len(audits))
	due := time.Now().Add(sendGrace)
	for i, a := range audits {
		rows[i] = []any{a.EventID, a.Source, a.URLID, a.UserID, a.EventType, a.Timestamp, a.Details, due}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"outbox"},
		[]string{"event_id", "source", "url_id", "user_id", "event_type", "timestamp", "details", "next_attempt_at"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return translate(err, "outbox")
	}
	return nil
}

// WriteAudits stores audits in the outbox on their own (clicks, which change nothing else).
func (s *Store) WriteAudits(ctx context.Context, audits []domain.Audit) error {
	return translate(pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		return writeOutbox(ctx, tx, audits)
	}), "outbox")
}

// ClaimOutbox leases up to limit due outbox rows for sending: it pushes their next attempt
// back with exponential backoff (1 s doubling to 90 s) so that concurrent relays on other
// instances skip them, and returns them oldest first.
func (s *Store) ClaimOutbox(ctx context.Context, limit int) ([]domain.Audit, error) {
	const q = `
		UPDATE outbox o
		SET attempts = o.attempts + 1,
		    next_attempt_at = now() + least(interval '1 second' * power(2, o.attempts), $2::interval)
		FROM (SELECT id FROM outbox WHERE next_attempt_at <= now()
		      ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) due
		WHERE o.id = due.id
		RETURNING o.id, o.event_id::text, o.source, o.url_id, o.user_id, o.event_type, o.timestamp, o.details`
	rows, err := s.rw.Query(ctx, q, limit, maxBackoff)
	if err != nil {
		return nil, translate(err, "outbox")
	}
	type row struct {
		ID int64
		domain.Audit
	}
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		err := r.Scan(&x.ID, &x.EventID, &x.Source, &x.URLID, &x.UserID, &x.EventType, &x.Timestamp, &x.Details)
		return x, err
	})
	if err != nil {
		return nil, translate(err, "outbox")
	}
	// RETURNING gives no order; the log should see events in the order they happened.
	slices.SortFunc(got, func(a, b row) int { return cmp.Compare(a.ID, b.ID) })
	out := make([]domain.Audit, len(got))
	for i, x := range got {
		out[i] = x.Audit
	}
	return out, nil
}

// ResetOutboxBackoff makes every backed-off outbox row due now: the sink answered again,
// so waiting out the rest of a long backoff would only delay the log. Rows the sink
// accepted are left alone.
func (s *Store) ResetOutboxBackoff(ctx context.Context) error {
	const q = `UPDATE outbox SET next_attempt_at = now()
		WHERE attempts > 0 AND next_attempt_at > now() AND next_attempt_at < now() + $1::interval`
	_, err := s.rw.Exec(ctx, q, maxBackoff)
	return translate(err, "outbox")
}

// sentGrace is how long an event the sink accepted waits before the relay sends it again.
// A Broker's 202 only says it took the event: the row leaves the outbox when the
// events-writer stores it (StoreEvents), and if the broker lost it meanwhile (its
// in-memory channel is not durable) the relay sends it again after this.
const sentGrace = 2 * time.Minute

// MarkSent records that the sink accepted events: the relay leaves them alone for
// sentGrace, time for the broker to deliver them (with its own retries) to the writer.
func (s *Store) MarkSent(ctx context.Context, eventIDs []string) error {
	if len(eventIDs) == 0 {
		return nil
	}
	const q = `UPDATE outbox SET next_attempt_at = now() + $2::interval WHERE event_id = ANY($1::uuid[])`
	_, err := s.rw.Exec(ctx, q, eventIDs, sentGrace)
	return translate(err, "outbox")
}

// DrainOutbox moves up to limit due outbox rows straight into the audit log in one
// statement, idempotently. The events-writer does this when the relay schedule pings it:
// it owns the log, so it needs no network hop to deliver what the emitters could not.
func (s *Store) DrainOutbox(ctx context.Context, limit int) (moved int64, err error) {
	const due = `id IN (SELECT id FROM outbox WHERE next_attempt_at <= now()
		ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)`
	return s.moveOutbox(ctx, due, limit)
}

// MoveOutbox moves the named outbox rows into the audit log in one statement,
// idempotently: the in-process delivery of the all-in-one server, which shares the
// database with the events-writer.
func (s *Store) MoveOutbox(ctx context.Context, eventIDs []string) (moved int64, err error) {
	return s.moveOutbox(ctx, `event_id = ANY($1::uuid[])`, eventIDs)
}

// moveOutbox deletes the outbox rows matching where and inserts them into the log, in
// their outbox order, skipping any the log has already.
func (s *Store) moveOutbox(ctx context.Context, where string, arg any) (int64, error) {
	q := `WITH due AS (
			DELETE FROM outbox WHERE ` + where + `
			RETURNING id, event_id, url_id, user_id, event_type, timestamp, details)
		INSERT INTO events (event_id, url_id, user_id, event_type, timestamp, details)
		SELECT event_id::text, url_id, user_id, event_type, timestamp, details FROM due ORDER BY id
		ON CONFLICT (event_id) DO NOTHING
		RETURNING event_id, event_type = 'click' AND url_id IS NOT NULL, url_id, timestamp,
			CASE WHEN event_type = 'click' THEN details END`
	var (
		moved  int64
		counts []domain.URLCount
	)
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, q, arg)
		ids, clicks, err := scanStored(rows)
		if err != nil {
			return err
		}
		moved = int64(len(ids))
		counts, err = countClicks(ctx, tx, clicks)
		return err
	})
	if err != nil {
		return 0, translate(err, "outbox")
	}
	s.counted(ctx, counts)
	return moved, nil
}

// OutboxStats reports how many events wait in the outbox and how old the oldest is.
func (s *Store) OutboxStats(ctx context.Context) (pending int64, oldest time.Duration, err error) {
	const q = `SELECT count(*), coalesce(extract(epoch FROM now() - min(timestamp)), 0) FROM outbox`
	var secs float64
	if err := s.rw.QueryRow(ctx, q).Scan(&pending, &secs); err != nil {
		return 0, 0, translate(err, "outbox")
	}
	return pending, time.Duration(secs * float64(time.Second)), nil
}
