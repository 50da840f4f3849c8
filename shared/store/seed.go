package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
)

// SeedEventID is the event_id a seeded event gets: deterministic, so the same seed gives the
// same log, and never a UUID, so it cannot clash with an event a mutation emits.
func SeedEventID(id int64) string { return "seed-" + strconv.FormatInt(id, 10) }

// Seed loads users, URLs and events (the rows of the seed files) into an empty database in one transaction, keeping
// their ids, and moves each id sequence past the largest id so later creates get higher
// ids. The rows are history rather than new mutations, so nothing goes to the outbox. It
// refuses with Conflict when any of the three tables has rows, and stores nothing when
// any row is refused.
func (s *Store) Seed(ctx context.Context, users []domain.User, urls []domain.URL, events []domain.Event) error {
	if err := checkSeed(users, urls, events); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		// Readers may go on; writers wait, so no row can appear between the check and the copy.
		if _, err := tx.Exec(ctx, `LOCK TABLE users, urls, events IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		const q = `SELECT EXISTS (SELECT 1 FROM users), EXISTS (SELECT 1 FROM urls), EXISTS (SELECT 1 FROM events)`
		var has [3]bool
		if err := tx.QueryRow(ctx, q).Scan(&has[0], &has[1], &has[2]); err != nil {
			return err
		}
		for i, table := range []string{"users", "urls", "events"} {
			if has[i] {
				return domain.Errorf(domain.Conflict,
					"the database is not empty: the %s table already has rows", table)
			}
		}

		userRows := make([][]any, len(users))
		for i, u := range users {
			userRows[i] = []any{u.ID, u.Username, u.Email, u.CreatedAt.UTC()}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"users"},
			[]string{"id", "username", "email", "created_at"}, pgx.CopyFromRows(userRows)); err != nil {
			return fmt.Errorf("seed users: %w", translate(err, "seed user"))
		}

		urlRows := make([][]any, len(urls))
		for i, u := range urls {
			urlRows[i] = []any{u.ID, u.UserID, u.ShortCode, u.OriginalURL, u.Title, u.IsActive, u.CreatedAt.UTC(), u.UpdatedAt.UTC()}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"urls"},
			[]string{"id", "user_id", "short_code", "original_url", "title", "is_active", "created_at", "updated_at"},
			pgx.CopyFromRows(urlRows)); err != nil {
			return fmt.Errorf("seed urls: %w", translate(err, "seed url"))
		}

		eventRows := make([][]any, len(events))
		for i, e := range events {
			details := e.Details
			if len(bytes.TrimSpace(details)) == 0 {
				details = json.RawMessage("{}")
			}
			eventRows[i] = []any{e.ID, SeedEventID(e.ID), e.URLID, e.UserID, e.EventType, e.Timestamp.UTC(), details}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"},
			[]string{"id", "event_id", "url_id", "user_id", "event_type", "timestamp", "details"},
			pgx.CopyFromRows(eventRows)); err != nil {
			return fmt.Errorf("seed events: %w", translate(err, "seed event"))
		}
		var clicks []storedClick
		for _, e := range events {
			if e.EventType == domain.EventClick && e.URLID != nil {
				clicks = append(clicks, storedClick{urlID: *e.URLID, at: e.Timestamp, details: e.Details})
			}
		}
		if _, err := countClicks(ctx, tx, clicks); err != nil {
			return fmt.Errorf("seed statistics: %w", err)
		}

		// Explicit ids bypass the identity sequences. setval(seq, 1, false) makes an empty
		// table start at 1; otherwise the next id is one past the largest seeded one.
		const bump = `SELECT
			setval(pg_get_serial_sequence('users', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM users
			UNION ALL SELECT
			setval(pg_get_serial_sequence('urls', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM urls
			UNION ALL SELECT
			setval(pg_get_serial_sequence('events', 'id'), coalesce(max(id), 1), max(id) IS NOT NULL) FROM events`
		_, err := tx.Exec(ctx, bump)
		return err
	})
	return translate(err, "seed")
}

// checkSeed refuses, before anything is written, rows that the schema alone would let
// through or report obscurely: references outside the seed (the database is empty, so
// every reference must be in it), duplicate ids, ids above domain.MaxClientID (the sequences
// move past the largest seeded id, and must keep serving creates after it), and details
// that are not a JSON object.
func checkSeed(users []domain.User, urls []domain.URL, events []domain.Event) error {
	userIDs := make(map[int64]bool, len(users))
	for _, u := range users {
		if u.ID < 1 || u.ID > domain.MaxClientID {
			return domain.Errorf(domain.Invalid, "user id %d is not from 1 to %d", u.ID, int64(domain.MaxClientID))
		}
		if userIDs[u.ID] {
			return domain.Errorf(domain.Invalid, "user id %d appears twice", u.ID)
		}
		userIDs[u.ID] = true
	}
	urlIDs := make(map[int64]bool, len(urls))
	for _, u := range urls {
		if u.ID < 1 || u.ID > domain.MaxClientID {
			return domain.Errorf(domain.Invalid, "url id %d is not from 1 to %d", u.ID, int64(domain.MaxClientID))
		}
		if urlIDs[u.ID] {
			return domain.Errorf(domain.Invalid, "url id %d appears twice", u.ID)
		}
		if !userIDs[u.UserID] {
			return domain.Errorf(domain.NotFound, "url %d belongs to user %d, who is not in the seed", u.ID, u.UserID)
		}
		if u.UpdatedAt.Before(u.CreatedAt) {
			return domain.Errorf(domain.Invalid, "url %d was updated before it was created", u.ID)
		}
		urlIDs[u.ID] = true
	}
	eventIDs := make(map[int64]bool, len(events))
	for _, e := range events {
		if e.ID < 1 || e.ID > domain.MaxClientID {
			return domain.Errorf(domain.Invalid, "event id %d is not from 1 to %d", e.ID, int64(domain.MaxClientID))
		}
		if eventIDs[e.ID] {
			return domain.Errorf(domain.Invalid, "event id %d appears twice", e.ID)
		}
		eventIDs[e.ID] = true
		if e.URLID != nil && !urlIDs[*e.URLID] {
			return domain.Errorf(domain.NotFound, "event %d names url %d, which is not in the seed", e.ID, *e.URLID)
		}
		if e.UserID != nil && !userIDs[*e.UserID] {
			return domain.Errorf(domain.NotFound, "event %d names user %d, who is not in the seed", e.ID, *e.UserID)
		}
		if e.EventType == "" {
			return domain.Errorf(domain.Invalid, "event %d has no event_type", e.ID)
		}
		if d := bytes.TrimSpace(e.Details); len(d) > 0 {
			var obj map[string]any
			if err := json.Unmarshal(d, &obj); err != nil || obj == nil {
				return domain.Errorf(domain.Invalid, "event %d: details must be a JSON object", e.ID)
			}
		}
	}
	return nil
}
