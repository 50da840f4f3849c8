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
func (s *Store) CreateUser(ctx context.Context, username, email string) (domain.User, []domain.Audit, error) {
	var (
		u      domain.User
		audits []domain.Audit
	)
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const q = `INSERT INTO users (username, email) VALUES ($1, $2) RETURNING ` + userCols
		rows, _ := tx.Query(ctx, q, username, email)
		var err error
		if u, err = pgx.CollectExactlyOneRow(rows, scanUser); err != nil {
			return err
		}
		a, err := s.audit(domain.EventUserCreated, nil, &u.ID, u.CreatedAt, struct{}{})
		if err != nil {
			return err
		}
		audits = []domain.Audit{a}
		return writeOutbox(ctx, tx, audits)
	})
	return u, audits, translate(err, "user")
}

// FindUserByID returns a live user.
func (s *Store) FindUserByID(ctx context.Context, id int64) (domain.User, int64, error) {
	const q = `SELECT ` + userCols + `, version FROM users WHERE id = $1 AND deleted_at IS NULL`
	var (
		u   domain.User
		ver int64
	)
	err := s.rw.QueryRow(ctx, q, id).Scan(append(userDest(&u), &ver)...)
	return u, ver, translate(err, "user")
}

// FindUsers lists live users by id, one page or all of them, with the total count.
func (s *Store) FindUsers(ctx context.Context, p domain.Page) ([]domain.User, int64, error) {
	return findPage(ctx, s.ro, "users", userCols, `FROM users WHERE deleted_at IS NULL`, nil, p, userDest)
}

// UpdateUser applies a partial update and returns the user, its cache version and the
// user_updated audit event naming the changed fields; a no-op writes nothing and returns
// no audit event and the version as it was.
func (s *Store) UpdateUser(ctx context.Context, id int64, p domain.UserPatch) (domain.User, int64, []domain.Audit, error) {
	var (
		u      domain.User
		ver    int64
		audits []domain.Audit
	)
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const lock = `SELECT ` + userCols + `, version FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`
		if err := tx.QueryRow(ctx, lock, id).Scan(append(userDest(&u), &ver)...); err != nil {
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
		if err := tx.QueryRow(ctx, q, id, u.Username, u.Email).Scan(&ver); err != nil {
			return err
		}
		a, err := s.audit(domain.EventUserUpdated, nil, &u.ID, time.Now(), map[string]any{"fields": changed})
		if err != nil {
			return err
		}
		audits = []domain.Audit{a}
		return writeOutbox(ctx, tx, audits)
	})
	return u, ver, audits, translate(err, "user")
}

// DeletedURL names a URL that a user deletion took down, so caches can drop its code.
type DeletedURL struct {
	ID        int64
	ShortCode string
	Version   int64
}

// DeleteUser soft-deletes a user and every live URL of theirs, logging a deleted event per
// URL (reason user_deleted) and a user_deleted event. The audit log keeps the user's id.
func (s *Store) DeleteUser(ctx context.Context, id int64) ([]DeletedURL, int64, []domain.Audit, error) {
	var (
		gone   []DeletedURL
		ver    int64
		audits []domain.Audit
	)
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const q = `UPDATE users SET deleted_at = now(), version = version + 1
			WHERE id = $1 AND deleted_at IS NULL RETURNING version, deleted_at`
		var at time.Time
		if err := tx.QueryRow(ctx, q, id).Scan(&ver, &at); err != nil {
			return err
		}
		const qu = `UPDATE urls SET deleted_at = $2, version = version + 1
			WHERE user_id = $1 AND deleted_at IS NULL RETURNING id, short_code, version`
		rows, _ := tx.Query(ctx, qu, id, at)
		var err error
		gone, err = pgx.CollectRows(rows, pgx.RowToStructByPos[DeletedURL])
		if err != nil {
			return err
		}
		for _, g := range gone {
			a, err := s.audit(domain.EventDeleted, &g.ID, &id, at, map[string]string{"reason": "user_deleted"})
			if err != nil {
				return err
			}
			audits = append(audits, a)
		}
		a, err := s.audit(domain.EventUserDeleted, nil, &id, at, struct{}{})
		if err != nil {
			return err
		}
		audits = append(audits, a)
		return writeOutbox(ctx, tx, audits)
	})
	return gone, ver, audits, translate(err, "user")
}

// limitArg turns a page into a LIMIT argument; NULL means no limit.
func limitArg(p domain.Page) any {
	if !p.Paged() {
		return nil
	}
	return p.PerPage
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
