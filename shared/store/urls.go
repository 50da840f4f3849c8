package store

import (
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
)

// visits is read from the click rollups, which count the URL's click events in the log.
const urlCols = `id, user_id, short_code, original_url, title, is_active, created_at, updated_at,
	expires_at, valid_since, tags, max_visits, coalesce((SELECT clicks FROM click_totals WHERE url_id = urls.id), 0)`

// urlDest lists where the urlCols of a row go.
func urlDest(u *domain.URL) []any {
	return []any{&u.ID, &u.UserID, &u.ShortCode, &u.OriginalURL, &u.Title, &u.IsActive, &u.CreatedAt, &u.UpdatedAt,
		&u.ExpiresAt, &u.ValidSince, &u.Tags, &u.MaxVisits, &u.Visits}
}

// checkWindow refuses a link that would start redirecting only after it stopped.
func checkWindow(validSince, expiresAt *time.Time) error {
	if validSince != nil && expiresAt != nil && !validSince.Before(*expiresAt) {
		return domain.FieldErrors{"valid_since": "must be before expires_at"}.Err()
	}
	return nil
}

// optionValue is a link option as an updated event's new_value: the timestamp, or "null".
func optionValue(t *time.Time) string {
	if t == nil {
		return "null"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// limitValue is max_visits as an updated event's new_value: the number, or "null".
func limitValue(n *int64) string {
	if n == nil {
		return "null"
	}
	return strconv.FormatInt(*n, 10)
}

func scanURL(row pgx.CollectableRow) (domain.URL, error) {
	var u domain.URL
	err := row.Scan(urlDest(&u)...)
	return u, err
}

// codeAttempts bounds the retries on a generated-code collision, which at 62^6 codes
// needs billions of rows to happen even once.
const codeAttempts = 8

// CreateURL inserts a URL for a live user with its created event. The user row is locked
// in share mode so a concurrent deletion of the user cannot leave a live URL behind.
func (s *Store) CreateURL(ctx context.Context, n domain.NewURL) (domain.Written[domain.URL], error) {
	w := domain.Written[domain.URL]{Version: 1}
	if err := mayActOn(ctx, n.UserID); err != nil {
		return w, err
	}
	if err := checkWindow(n.ValidSince, n.ExpiresAt); err != nil {
		return w, err
	}
	if n.Tags == nil {
		n.Tags = []string{}
	}
	u := &w.Value
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL FOR SHARE`, n.UserID).Scan(&one); err != nil {
			return translate(err, "user")
		}
		const q = `INSERT INTO urls (user_id, short_code, original_url, title, expires_at, valid_since, tags, max_visits)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (short_code) DO NOTHING RETURNING ` + urlCols
		for attempt := 0; ; attempt++ {
			code := n.ShortCode
			if code == "" {
				code = newShortCode()
			}
			rows, _ := tx.Query(ctx, q, n.UserID, code, n.OriginalURL, n.Title, n.ExpiresAt, n.ValidSince, n.Tags, n.MaxVisits)
			var err error
			*u, err = pgx.CollectExactlyOneRow(rows, scanURL)
			if err == nil {
				break
			}
			if err != pgx.ErrNoRows {
				return err
			}
			if n.ShortCode != "" {
				return domain.Errorf(domain.Conflict, "short_code already taken")
			}
			if attempt == codeAttempts {
				return domain.Errorf(domain.Conflict, "could not find a free short_code")
			}
		}
		a, err := s.audit(domain.EventCreated, &u.ID, &u.UserID, u.CreatedAt,
			domain.URLCreatedDetails{ShortCode: u.ShortCode, OriginalURL: u.OriginalURL})
		if err != nil {
			return err
		}
		w.Audits = []domain.Audit{a}
		return writeOutbox(ctx, tx, w.Audits)
	})
	return w, translate(err, "url")
}

// newShortCode draws a code uniformly from the alphabet, never a reserved word.
func newShortCode() string {
	for {
		b := make([]byte, domain.GeneratedCodeLength)
		for i := range b {
			b[i] = domain.ShortCodeAlphabet[randIndex(len(domain.ShortCodeAlphabet))]
		}
		if !domain.IsReservedCode(string(b)) {
			return string(b)
		}
	}
}

// randIndex returns a uniform index below n from crypto/rand, rejecting the bytes that
// would bias the result.
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// FindURLByID returns a live (not deleted) URL and its item version
// (domain.URLItemVersion: its edits and its visits).
func (s *Store) FindURLByID(ctx context.Context, id int64) (domain.Versioned[domain.URL], error) {
	const q = `SELECT ` + urlCols + `, version FROM urls
		WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint IS NULL OR user_id = $2)`
	var v domain.Versioned[domain.URL]
	err := s.rw.QueryRow(ctx, q, id, domain.OwnerOf(ctx)).Scan(append(urlDest(&v.Value), &v.Version)...)
	v.Version = domain.URLItemVersion(v.Version, v.Value.Visits)
	return v, translate(err, "url")
}

// FindRedirect returns what a redirect needs for a short code; Active is false for an
// inactive or deleted URL. It reads the primary: a redirect must follow an edit at once.
func (s *Store) FindRedirect(ctx context.Context, code string) (domain.Redirect, error) {
	const q = `SELECT id, user_id, original_url, is_active AND deleted_at IS NULL, version, valid_since, expires_at,
		max_visits IS NOT NULL FROM urls WHERE short_code = $1`
	var r domain.Redirect
	err := s.rw.QueryRow(ctx, q, code).Scan(&r.URLID, &r.UserID, &r.Location, &r.Active, &r.Version, &r.ValidSince, &r.ExpiresAt, &r.Limited)
	return r, translate(err, "short code")
}

// TakeVisit answers one redirect of a link with a max_visits: it takes one of the link's
// visits and writes the click to the outbox in one transaction, so exactly max_visits
// redirects ever succeed, each with its click, however many instances ask at once. ok is
// false when none is left (or the link stopped redirecting). The URL's row lock orders
// concurrent takers; only limited links pay for it.
func (s *Store) TakeVisit(ctx context.Context, click domain.Audit) (ok bool, err error) {
	err = pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const q = `UPDATE urls SET reserved_visits = reserved_visits + 1
			WHERE id = $1 AND deleted_at IS NULL AND is_active AND reserved_visits < max_visits RETURNING true`
		if err := tx.QueryRow(ctx, q, click.URLID).Scan(&ok); err != nil {
			if err == pgx.ErrNoRows {
				return nil
			}
			return err
		}
		return writeOutbox(ctx, tx, []domain.Audit{click})
	})
	return ok, translate(err, "url")
}

// VisitsLeft reports whether a limited link has a visit left, for a HEAD, which uses none.
func (s *Store) VisitsLeft(ctx context.Context, urlID int64) (bool, error) {
	var left bool
	err := s.rw.QueryRow(ctx, `SELECT max_visits IS NULL OR reserved_visits < max_visits FROM urls WHERE id = $1`, urlID).Scan(&left)
	return left, translate(err, "url")
}

// urlsFrom selects the live URLs a filter (and the caller's owner) lets through.
const urlsFrom = `FROM urls WHERE deleted_at IS NULL
	AND ($1::bigint IS NULL OR user_id = $1) AND ($2::boolean IS NULL OR is_active = $2)
	AND ($3::bigint IS NULL OR user_id = $3) AND ($4 = '' OR $4 = ANY (tags))`

// FindURLs lists live URLs by id with the filter's conditions ANDed, and the total count.
func (s *Store) FindURLs(ctx context.Context, f domain.URLFilter) ([]domain.URL, int64, error) {
	return findPage(ctx, s.ro, "urls", urlCols, urlsFrom, []any{f.UserID, f.IsActive, domain.OwnerOf(ctx), f.Tag}, f.Page, urlDest)
}

// ExportURLs calls fn with every URL FindURLs would list, by id, one at a time as the
// database sends them (the filter's page is ignored), so an export of any size holds one
// row in memory. An error of fn stops the export and is returned as it is.
func (s *Store) ExportURLs(ctx context.Context, f domain.URLFilter, fn func(domain.URL) error) error {
	return exportRows(ctx, s.ro, "urls", urlCols, urlsFrom, []any{f.UserID, f.IsActive, domain.OwnerOf(ctx), f.Tag}, urlDest, fn)
}

// UpdateURL applies a partial update. Only fields whose value changes are written, each
// with its own updated event; updated_at moves only then. It returns the URL and its new
// cache version, with no audit events when nothing changed.
func (s *Store) UpdateURL(ctx context.Context, id int64, p domain.URLPatch) (domain.Written[domain.URL], error) {
	var w domain.Written[domain.URL]
	u := &w.Value
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const lock = `SELECT ` + urlCols + `, version FROM urls
			WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint IS NULL OR user_id = $2) FOR UPDATE`
		err := tx.QueryRow(ctx, lock, id, domain.OwnerOf(ctx)).Scan(append(urlDest(u), &w.Version)...)
		if err != nil {
			return err
		}
		type change struct{ field, value string }
		var changes []change
		if p.Title != nil && (u.Title == nil || *u.Title != *p.Title) {
			u.Title = p.Title
			changes = append(changes, change{"title", *p.Title})
		}
		if p.IsActive != nil && *p.IsActive != u.IsActive {
			u.IsActive = *p.IsActive
			changes = append(changes, change{"is_active", strconv.FormatBool(u.IsActive)})
		}
		if p.OriginalURL != nil && *p.OriginalURL != u.OriginalURL {
			u.OriginalURL = *p.OriginalURL
			changes = append(changes, change{"original_url", u.OriginalURL})
		}
		for _, o := range []struct {
			name string
			p    domain.Optional[time.Time]
			cur  **time.Time
		}{{"expires_at", p.ExpiresAt, &u.ExpiresAt}, {"valid_since", p.ValidSince, &u.ValidSince}} {
			if o.p.Set && !sameTime(o.p.Value, *o.cur) {
				*o.cur = o.p.Value
				changes = append(changes, change{o.name, optionValue(o.p.Value)})
			}
		}
		if p.Tags != nil && !slices.Equal(*p.Tags, u.Tags) {
			u.Tags = *p.Tags
			changes = append(changes, change{"tags", strings.Join(u.Tags, ",")})
		}
		if p.MaxVisits.Set && !sameInt(p.MaxVisits.Value, u.MaxVisits) {
			u.MaxVisits = p.MaxVisits.Value
			changes = append(changes, change{"max_visits", limitValue(u.MaxVisits)})
		}
		if len(changes) == 0 {
			return nil
		}
		if err := checkWindow(u.ValidSince, u.ExpiresAt); err != nil {
			return err
		}
		// A limit set on a link that was not limited starts from the visits it already had:
		// max_visits bounds the redirects ever answered.
		const q = `UPDATE urls SET title = $2, is_active = $3, original_url = $4, expires_at = $5, valid_since = $6,
			tags = $7, max_visits = $8,
			reserved_visits = CASE WHEN max_visits IS NULL AND $8::bigint IS NOT NULL
				THEN greatest(reserved_visits, $9) ELSE reserved_visits END,
			updated_at = greatest(now(), updated_at + interval '1 microsecond'), version = version + 1
			WHERE id = $1 RETURNING updated_at, version`
		if err := tx.QueryRow(ctx, q, id, u.Title, u.IsActive, u.OriginalURL, u.ExpiresAt, u.ValidSince, u.Tags,
			u.MaxVisits, u.Visits).Scan(&u.UpdatedAt, &w.Version); err != nil {
			return err
		}
		for _, c := range changes {
			a, err := s.audit(domain.EventUpdated, &u.ID, &u.UserID, u.UpdatedAt,
				domain.URLUpdatedDetails{Field: c.field, NewValue: c.value})
			if err != nil {
				return err
			}
			w.Audits = append(w.Audits, a)
		}
		return writeOutbox(ctx, tx, w.Audits)
	})
	return w, translate(err, "url")
}

// DeleteURL hides a URL from every reader; its row and events stay for the audit log.
func (s *Store) DeleteURL(ctx context.Context, id int64) (domain.Written[domain.URLRef], error) {
	var w domain.Written[domain.URLRef]
	d := &w.Value
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const q = `UPDATE urls SET deleted_at = now(), version = version + 1
			WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint IS NULL OR user_id = $2)
			RETURNING id, short_code, version, user_id, deleted_at`
		var (
			owner int64
			at    time.Time
		)
		if err := tx.QueryRow(ctx, q, id, domain.OwnerOf(ctx)).Scan(&d.ID, &d.ShortCode, &d.Version, &owner, &at); err != nil {
			return err
		}
		a, err := s.audit(domain.EventDeleted, &d.ID, &owner, at, domain.URLDeletedDetails{Reason: domain.ReasonUserRequested})
		if err != nil {
			return err
		}
		w.Version, w.Audits = d.Version, []domain.Audit{a}
		return writeOutbox(ctx, tx, w.Audits)
	})
	return w, translate(err, "url")
}

// sameInt reports whether two optional integers are the same.
func sameInt(a, b *int64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// sameTime reports whether two optional instants are the same.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}
