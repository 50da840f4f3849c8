package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/urlshort/shortener/shared/domain"
)

const userCols = `id, username, email, created_at`

// userDest lists where the userCols of a row go.
func userDest(u *domain.User) []any { return []any{&u.ID, &u.Username, &u.Email, &u.CreatedAt} }

func scanUser(row pgx.CollectableRow) (domain.User, error) {
	var u domain.User
	err := row.Scan(userDest(&u)...)
	return u, err
}

// CreateUser inserts a user and its user_created event.
func (s *Store) CreateUser(ctx context.Context, username, email string) (domain.Written[domain.User], error) {
	w := domain.Written[domain.User]{Version: 1}
	if owner := domain.OwnerOf(ctx); owner != nil {
		return w, domain.Errorf(domain.Forbidden, "this key acts for user %d only, so it cannot create users", *owner)
	}
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const q = `INSERT INTO users (username, email) VALUES ($1, $2) RETURNING ` + userCols
		rows, _ := tx.Query(ctx, q, username, email)
		var err error
		if w.Value, err = pgx.CollectExactlyOneRow(rows, scanUser); err != nil {
			return err
		}
		a, err := s.audit(domain.EventUserCreated, nil, &w.Value.ID, w.Value.CreatedAt, domain.UserCreatedDetails{})
		if err != nil {
			return err
		}
		w.Audits = []domain.Audit{a}
		return writeOutbox(ctx, tx, w.Audits)
	})
	return w, translate(err, "user")
}

// FindUserByID returns a live user.
func (s *Store) FindUserByID(ctx context.Context, id int64) (domain.Versioned[domain.User], error) {
	const q = `SELECT ` + userCols + `, version FROM users
		WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint IS NULL OR id = $2)`
	var v domain.Versioned[domain.User]
	err := s.rw.QueryRow(ctx, q, id, domain.OwnerOf(ctx)).Scan(append(userDest(&v.Value), &v.Version)...)
	return v, translate(err, "user")
}

// FindUsers lists live users by id, one page or all of them, with the total count.
func (s *Store) FindUsers(ctx context.Context, p domain.Page) ([]domain.User, int64, error) {
	return findPage(ctx, s.ro, "users", userCols, usersFrom, []any{domain.OwnerOf(ctx)}, p, userDest)
}

// usersFrom selects the live users the caller may see.
const usersFrom = `FROM users WHERE deleted_at IS NULL AND ($1::bigint IS NULL OR id = $1)`

// ExportUsers calls fn with every user FindUsers would list, by id, one at a time as the
// database sends them; see ExportURLs.
func (s *Store) ExportUsers(ctx context.Context, fn func(domain.User) error) error {
	return exportRows(ctx, s.ro, "users", userCols, usersFrom, []any{domain.OwnerOf(ctx)}, userDest, fn)
}

// UpdateUser applies a partial update and returns the user, its cache version and the
// user_updated audit event naming the changed fields; a no-op writes nothing and returns
// no audit event and the version as it was.
func (s *Store) UpdateUser(ctx context.Context, id int64, p domain.UserPatch) (domain.Written[domain.User], error) {
	var w domain.Written[domain.User]
	u := &w.Value
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const lock = `SELECT ` + userCols + `, version FROM users
			WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint IS NULL OR id = $2) FOR UPDATE`
		if err := tx.QueryRow(ctx, lock, id, domain.OwnerOf(ctx)).Scan(append(userDest(u), &w.Version)...); err != nil {
			return err
		}
		var changed []string
		if p.Username != nil && *p.Username != u.Username {
			u.Username = *p.Username
			changed = append(changed, "username")
		}
		if p.Email != nil && *p.Email != u.Email {
			u.Email = *p.Email
			changed = append(changed, "email")
		}
		if len(changed) == 0 {
			return nil
		}
		const q = `UPDATE users SET username = $2, email = $3, version = version + 1 WHERE id = $1 RETURNING version`
		if err := tx.QueryRow(ctx, q, id, u.Username, u.Email).Scan(&w.Version); err != nil {
			return err
		}
		a, err := s.audit(domain.EventUserUpdated, nil, &u.ID, time.Now(), domain.UserUpdatedDetails{Fields: changed})
		if err != nil {
			return err
		}
		w.Audits = []domain.Audit{a}
		return writeOutbox(ctx, tx, w.Audits)
	})
	return w, translate(err, "user")
}

// DeleteUser soft-deletes a user and every live URL of theirs, logging a deleted event per
// URL (reason user_deleted) and a user_deleted event. The audit log keeps the user's id.
// It returns the URLs it took down, each at the version it left, so caches can drop them;
// Version is the user's.
func (s *Store) DeleteUser(ctx context.Context, id int64) (domain.Written[domain.UserDeletion], error) {
	var w domain.Written[domain.UserDeletion]
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const q = `UPDATE users SET deleted_at = now(), version = version + 1
			WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint IS NULL OR id = $2) RETURNING version, deleted_at`
		var at time.Time
		if err := tx.QueryRow(ctx, q, id, domain.OwnerOf(ctx)).Scan(&w.Version, &at); err != nil {
			return err
		}
		// The user's keys die with them (their look-ups already refuse a deleted user's
		// key; revoking makes it final and tells the caches). The user_deleted event
		// records it: no event per key.
		const qk = `UPDATE api_keys SET revoked_at = $2, version = version + 1
			WHERE user_id = $1 AND revoked_at IS NULL RETURNING hash, version`
		krows, _ := tx.Query(ctx, qk, id, at)
		var err error
		if w.Value.Keys, err = pgx.CollectRows(krows, pgx.RowToStructByPos[domain.KeyRef]); err != nil {
			return err
		}
		const qu = `UPDATE urls SET deleted_at = $2, version = version + 1
			WHERE user_id = $1 AND deleted_at IS NULL RETURNING id, short_code, version`
		rows, _ := tx.Query(ctx, qu, id, at)
		w.Value.URLs, err = pgx.CollectRows(rows, pgx.RowToStructByPos[domain.URLRef])
		if err != nil {
			return err
		}
		for _, g := range w.Value.URLs {
			a, err := s.audit(domain.EventDeleted, &g.ID, &id, at, domain.URLDeletedDetails{Reason: domain.ReasonUserDeleted})
			if err != nil {
				return err
			}
			w.Audits = append(w.Audits, a)
		}
		a, err := s.audit(domain.EventUserDeleted, nil, &id, at, domain.UserDeletedDetails{})
		if err != nil {
			return err
		}
		w.Audits = append(w.Audits, a)
		return writeOutbox(ctx, tx, w.Audits)
	})
	return w, translate(err, "user")
}

// limitArg turns a page into a LIMIT argument; NULL means no limit.
func limitArg(p domain.Page) any {
	if !p.Paged() {
		return nil
	}
	return p.PerPage
}

// exportRows calls fn with each row of from (a FROM ... WHERE clause over args) by id, as
// the server sends them: pgx reads a result row by row, so one row is in memory at a time.
func exportRows[T any](ctx context.Context, db *pgxpool.Pool, what, cols, from string, args []any, dest func(*T) []any, fn func(T) error) error {
	rows, err := db.Query(ctx, `SELECT `+cols+` `+from+` ORDER BY id`, args...)
	if err != nil {
		return translate(err, what)
	}
	defer rows.Close()
	for rows.Next() {
		var x T
		if err := rows.Scan(dest(&x)...); err != nil {
			return translate(err, what)
		}
		if err := fn(x); err != nil {
			return err
		}
	}
	return translate(rows.Err(), what)
}

// findPage lists the rows of from (a FROM ... WHERE clause over args) by id, one page or
// all of them, with the total count of matching rows. A page past the end has no row to
// carry the count, so then it is counted on its own.
func findPage[T any](ctx context.Context, db *pgxpool.Pool, what, cols, from string, args []any, p domain.Page, dest func(*T) []any) ([]T, int64, error) {
	n := len(args)
	q := fmt.Sprintf(`SELECT %s, count(*) OVER () %s ORDER BY id LIMIT $%d OFFSET $%d`, cols, from, n+1, n+2)
	rows, err := db.Query(ctx, q, append(args, limitArg(p), p.Offset())...)
	if err != nil {
		return nil, 0, translate(err, what)
	}
	var total int64
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) {
		var x T
		err := r.Scan(append(dest(&x), &total)...)
		return x, err
	})
	if err == nil && len(items) == 0 && p.Paged() && p.Number > 1 {
		err = db.QueryRow(ctx, `SELECT count(*) `+from, args...).Scan(&total)
	}
	if err != nil {
		return nil, 0, translate(err, what)
	}
	return items, total, nil
}
