package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
)

const eventCols = `id, url_id, user_id, event_type, timestamp, details`

// eventDest lists where the eventCols of a row go.
func eventDest(e *domain.Event) []any {
	return []any{&e.ID, &e.URLID, &e.UserID, &e.EventType, &e.Timestamp, &e.Details}
}

func scanEvent(row pgx.CollectableRow) (domain.Event, error) {
	var e domain.Event
	err := row.Scan(eventDest(&e)...)
	return e, err
}

// CreateEvent appends an event posted by a client. The URL (and the user, when given) must
// exist and not be deleted.
func (s *Store) CreateEvent(ctx context.Context, n domain.NewEvent) (domain.Event, error) {
	var e domain.Event
	owner := domain.OwnerOf(ctx)
	if owner != nil {
		if n.UserID != nil {
			if err := mayActOn(ctx, *n.UserID); err != nil {
				return e, err
			}
		}
		n.UserID = owner // an event a confined key posts is its user's, so it can read it back
	}
	var counts []domain.URLCount
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		var one int
		const qu = `SELECT 1 FROM urls WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint IS NULL OR user_id = $2)`
		err := tx.QueryRow(ctx, qu, n.URLID, owner).Scan(&one)
		if err != nil {
			return translate(err, "url")
		}
		if n.UserID != nil {
			err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL`, *n.UserID).Scan(&one)
			if err != nil {
				return translate(err, "user")
			}
		}
		details := n.Details
		if details == nil {
			details = []byte("{}")
		}
		const q = `INSERT INTO events (event_id, url_id, user_id, event_type, details)
			VALUES ($1, $2, $3, $4, $5) RETURNING ` + eventCols
		rows, _ := tx.Query(ctx, q, uuid.NewString(), n.URLID, n.UserID, n.EventType, details)
		if e, err = pgx.CollectExactlyOneRow(rows, scanEvent); err != nil || e.EventType != domain.EventClick {
			return err
		}
		// A click posted to the log is one of the URL's clicks like any other.
		counts, err = countClicks(ctx, tx, []storedClick{{urlID: n.URLID, at: e.Timestamp, details: e.Details}})
		return err
	})
	if err == nil {
		s.counted(ctx, counts)
	}
	return e, translate(err, "event")
}

// FindEventByID returns one event of the log.
func (s *Store) FindEventByID(ctx context.Context, id int64) (domain.Event, error) {
	rows, _ := s.rw.Query(ctx, `SELECT `+eventCols+` FROM events WHERE id = $1 AND ($2::bigint IS NULL OR user_id = $2)`,
		id, domain.OwnerOf(ctx))
	e, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	return e, translate(err, "event")
}

// eventsFrom selects the events a filter (and the caller's owner) lets through, with its
// arguments.
func eventsFrom(ctx context.Context, f domain.EventFilter) (string, []any) {
	from := `FROM events WHERE ($1::bigint IS NULL OR url_id = $1)
		AND ($2::bigint IS NULL OR user_id = $2) AND ($3 = '' OR event_type = $3)
		AND ($4::bigint IS NULL OR user_id = $4)`
	if f.EventType != "" && f.EventType != domain.EventClick {
		from += ` AND event_type <> 'click'` // lets the partial events_type_idx answer
	}
	return from, []any{f.URLID, f.UserID, f.EventType, domain.OwnerOf(ctx)}
}

// FindEvents lists events by id with the filter's conditions ANDed, and the total count.
func (s *Store) FindEvents(ctx context.Context, f domain.EventFilter) ([]domain.Event, int64, error) {
	from, args := eventsFrom(ctx, f)
	return findPage(ctx, s.ro, "events", eventCols, from, args, f.Page, eventDest)
}

// ExportEvents calls fn with every event FindEvents would list, by id, one at a time as
// the database sends them; see ExportURLs.
func (s *Store) ExportEvents(ctx context.Context, f domain.EventFilter, fn func(domain.Event) error) error {
	from, args := eventsFrom(ctx, f)
	return exportRows(ctx, s.ro, "events", eventCols, from, args, eventDest, fn)
}

// AppendEvents stores events this process has just built and sent nowhere else (the
// all-in-one server's clicks). Their fresh ids cannot be in the log, so a COPY skips the
// conflict check that redelivery needs, a large part of what each row costs. A retried
// batch whose first commit went through unacknowledged hits the unique id and falls
// back to StoreEvents, which skips what is stored: never a click twice.
func (s *Store) AppendEvents(ctx context.Context, audits []domain.Audit) error {
	if len(audits) == 0 {
		return nil
	}
	var counts []domain.URLCount
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(copyEvents(audits)),
			`COPY events (event_id, url_id, user_id, event_type, timestamp, details) FROM STDIN BINARY`)
		if err != nil {
			return err
		}
		counts, err = countClicks(ctx, tx, clicksOf(audits))
		return err
	})
	if domain.KindOf(translate(err, "events")) == domain.Conflict {
		_, err = s.StoreEvents(ctx, audits)
		return translate(err, "events")
	}
	if err == nil {
		s.counted(ctx, counts)
	}
	return translate(err, "events")
}

// copyEvents encodes audits in PostgreSQL's binary COPY format for AppendEvents. At
// tens of thousands of clicks a second pgx's generic encoding, which boxes and plans
// every value, cost more than the whole rest of a click; six known columns need none of
// it. https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
func copyEvents(audits []domain.Audit) []byte {
	b := make([]byte, 0, 19+len(audits)*160)
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	b = binary.BigEndian.AppendUint32(b, 0) // flags
	b = binary.BigEndian.AppendUint32(b, 0) // header extension length
	field := func(b, v []byte) []byte {
		return append(binary.BigEndian.AppendUint32(b, uint32(len(v))), v...)
	}
	bigint := func(b []byte, v *int64) []byte {
		if v == nil {
			return binary.BigEndian.AppendUint32(b, 0xffffffff) // NULL
		}
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, 8), uint64(*v))
	}
	for _, a := range audits {
		b = binary.BigEndian.AppendUint16(b, 6)
		b = field(b, []byte(a.EventID))
		b = bigint(b, a.URLID)
		b = bigint(b, a.UserID)
		b = field(b, []byte(a.EventType))
		b = binary.BigEndian.AppendUint32(b, 8)
		b = binary.BigEndian.AppendUint64(b, uint64(a.Timestamp.Sub(pgEpoch).Microseconds()))
		b = binary.BigEndian.AppendUint32(b, uint32(1+len(a.Details)))
		b = append(b, 1) // jsonb format version
		b = append(b, a.Details...)
	}
	return binary.BigEndian.AppendUint16(b, 0xffff) // trailer
}

// scanStored reads the rows an insert returned (event_id, is a click, url_id, timestamp,
// details): the ids stored and the clicks among them.
func scanStored(rows pgx.Rows) (ids []string, clicks []storedClick, err error) {
	var (
		id    string
		click bool
		url   *int64
		at    time.Time
		d     []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &click, &url, &at, &d}, func() error {
		ids = append(ids, id)
		if click {
			clicks = append(clicks, storedClick{urlID: *url, at: at, details: slices.Clone(d)})
		}
		return nil
	})
	return ids, clicks, err
}

// pgEpoch is where timestamptz's binary form counts microseconds from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// StoreEvents appends delivered audit events to the log, idempotently: an event whose id
// is already stored (a redelivery) is skipped. In the same transaction it removes them
// from the outbox: only the log having an event ends its delivery. It reports how many
// were new.
func (s *Store) StoreEvents(ctx context.Context, audits []domain.Audit) (int64, error) {
	ids, err := s.StoreNewEvents(ctx, audits)
	return int64(len(ids)), err
}

// StoreNewEvents is StoreEvents reporting the ids of the events that were new.
func (s *Store) StoreNewEvents(ctx context.Context, audits []domain.Audit) (inserted []string, err error) {
	if len(audits) == 0 {
		return nil, nil
	}
	ids := make([]string, len(audits))
	urlIDs := make([]*int64, len(audits))
	userIDs := make([]*int64, len(audits))
	types := make([]string, len(audits))
	stamps := make([]time.Time, len(audits))
	details := make([]string, len(audits))
	for i, a := range audits {
		ids[i], urlIDs[i], userIDs[i], types[i], stamps[i] = a.EventID, a.URLID, a.UserID, a.EventType, a.Timestamp
		details[i] = string(a.Details)
	}
	// Outbox ids are UUIDs; an id that is not one (a foreign sender's) has no outbox row.
	var outboxIDs []string
	for _, id := range ids {
		if uuid.Validate(id) == nil {
			outboxIDs = append(outboxIDs, id)
		}
	}
	// Only the rows really inserted come back: a redelivered click is not counted again.
	const q = `INSERT INTO events (event_id, url_id, user_id, event_type, timestamp, details)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::timestamptz[], $6::jsonb[])
		ON CONFLICT (event_id) DO NOTHING
		RETURNING event_id, event_type = 'click' AND url_id IS NOT NULL, url_id, timestamp,
			CASE WHEN event_type = 'click' THEN details END`
	const del = `DELETE FROM outbox WHERE event_id = ANY($1::uuid[])`
	var counts []domain.URLCount
	err = pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, q, ids, urlIDs, userIDs, types, stamps, details)
		ids, clicks, err := scanStored(rows)
		if err != nil {
			return err
		}
		inserted = ids
		if len(outboxIDs) > 0 {
			if _, err = tx.Exec(ctx, del, outboxIDs); err != nil {
				return err
			}
		}
		counts, err = countClicks(ctx, tx, clicks)
		return err
	})
	if err != nil {
		return nil, translate(err, "events")
	}
	s.counted(ctx, counts)
	return inserted, nil
}
