package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
)

// ImportRow is one well-formed row of a users CSV; Line is its line in the file.
type ImportRow struct {
	Line      int
	ID        *int64
	Username  string
	Email     string
	CreatedAt *time.Time
}

// RowError says why a row of an import was skipped.
type RowError struct {
	Row   int    `json:"row"`
	Error string `json:"error"`
}

type existingUser struct {
	ID        int64
	Username  string
	Email     string
	CreatedAt time.Time
	Deleted   bool
}

// Versioned names a row a write changed and the version it left.
type Versioned struct {
	ID      int64
	Version int64
}

// ImportResult is what an import did.
type ImportResult struct {
	Imported int        // rows stored, including rows already stored as they are
	Skipped  []RowError // rows refused
	Audits   []domain.Audit
	Changed  []Versioned // users inserted or changed
}

// ImportUsers upserts rows by id (inserting rows without one) in one transaction and
// reports how many rows are stored and which were skipped: a row whose email belongs to
// another user, in the database or earlier in the file. A row that matches what is stored
// counts as imported and writes nothing, so importing the same file twice changes nothing.
// The users table is locked for the import so no concurrent write can slip an email in
// between the checks and the writes.
func (s *Store) ImportUsers(ctx context.Context, rows []ImportRow) (ImportResult, error) {
	var res ImportResult
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		res = ImportResult{}
		imported, skipped, audits := 0, []RowError(nil), []domain.Audit(nil)
		if _, err := tx.Exec(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		byID, owner, err := loadImportState(ctx, tx, rows)
		if err != nil {
			return err
		}
		batch := &pgx.Batch{}
		now := time.Now().UTC().Truncate(time.Microsecond)
		for _, r := range rows {
			key := strings.ToLower(r.Email)
			ownerID, taken := owner[key]
			if r.ID == nil {
				if taken {
					if u := byID[ownerID]; u != nil && u.Username == r.Username && u.Email == r.Email {
						imported++ // already there: re-importing changes nothing
						continue
					}
					skipped = append(skipped, RowError{r.Line, "email already belongs to another user"})
					continue
				}
				// A new id comes from the sequence: reserve it now so the row's events can name it.
				var id int64
				if err := tx.QueryRow(ctx, `SELECT nextval(pg_get_serial_sequence('users', 'id'))`).Scan(&id); err != nil {
					return err
				}
				r.ID = &id
			} else if taken && ownerID != *r.ID {
				skipped = append(skipped, RowError{r.Line, fmt.Sprintf("email already belongs to user %d", ownerID)})
				continue
			}
			id := *r.ID
			created := now
			if r.CreatedAt != nil {
				created = r.CreatedAt.UTC().Truncate(time.Microsecond)
			}
			old := byID[id]
			switch {
			case old == nil || old.Deleted:
				batch.Queue(`INSERT INTO users (id, username, email, created_at) VALUES ($1, $2, $3, $4)
					ON CONFLICT (id) DO UPDATE SET username = $2, email = $3, created_at = $4,
					deleted_at = NULL, version = users.version + 1 RETURNING id, version`, id, r.Username, r.Email, created)
				a, err := s.audit(domain.EventUserCreated, nil, &id, now, map[string]string{"source": "bulk_import"})
				if err != nil {
					return err
				}
				audits = append(audits, a)
				byID[id] = &existingUser{ID: id, Username: r.Username, Email: r.Email, CreatedAt: created}
			default:
				var changed []string
				if old.Username != r.Username {
					changed = append(changed, "username")
				}
				if old.Email != r.Email {
					changed = append(changed, "email")
				}
				if r.CreatedAt != nil && !old.CreatedAt.Equal(created) {
					changed = append(changed, "created_at")
				} else {
					created = old.CreatedAt
				}
				if len(changed) > 0 {
					batch.Queue(`UPDATE users SET username = $2, email = $3, created_at = $4, version = version + 1
						WHERE id = $1 RETURNING id, version`, id, r.Username, r.Email, created)
					a, err := s.audit(domain.EventUserUpdated, nil, &id, now, map[string]any{"fields": changed})
					if err != nil {
						return err
					}
					audits = append(audits, a)
					delete(owner, strings.ToLower(old.Email))
					*old = existingUser{ID: id, Username: r.Username, Email: r.Email, CreatedAt: created}
				}
			}
			owner[key] = id
			imported++
		}
		if batch.Len() > 0 {
			br := tx.SendBatch(ctx, batch)
			for range batch.Len() {
				var v Versioned
				if err := br.QueryRow().Scan(&v.ID, &v.Version); err != nil {
					br.Close()
					return err
				}
				res.Changed = append(res.Changed, v)
			}
			if err := br.Close(); err != nil {
				return err
			}
		}
		// Explicit ids bypass the sequence: move it past them so later creates get higher ids.
		const bump = `SELECT setval(pg_get_serial_sequence('users', 'id'), m)
			FROM (SELECT max(id) AS m FROM users) x
			WHERE m >= (SELECT last_value FROM users_id_seq)`
		if _, err := tx.Exec(ctx, bump); err != nil {
			return err
		}
		res.Imported, res.Skipped, res.Audits = imported, skipped, audits
		return writeOutbox(ctx, tx, audits)
	})
	if err != nil {
		return ImportResult{}, translate(err, "users")
	}
	return res, nil
}

// loadImportState reads the users the rows can touch: by id, and by email for the
// uniqueness checks.
func loadImportState(ctx context.Context, tx pgx.Tx, rows []ImportRow) (map[int64]*existingUser, map[string]int64, error) {
	var ids []int64
	var emails []string
	for _, r := range rows {
		if r.ID != nil {
			ids = append(ids, *r.ID)
		}
		emails = append(emails, strings.ToLower(r.Email))
	}
	slices.Sort(ids)
	const q = `SELECT id, username, email, created_at, deleted_at IS NOT NULL FROM users
		WHERE id = ANY($1) OR (deleted_at IS NULL AND lower(email) = ANY($2))`
	res, _ := tx.Query(ctx, q, slices.Compact(ids), emails)
	found, err := pgx.CollectRows(res, pgx.RowToStructByPos[existingUser])
	if err != nil {
		return nil, nil, err
	}
	byID := make(map[int64]*existingUser, len(found))
	owner := make(map[string]int64, len(found))
	for i := range found {
		u := &found[i]
		byID[u.ID] = u
		if !u.Deleted {
			owner[strings.ToLower(u.Email)] = u.ID
		}
	}
	return byID, owner, nil
}
