package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
)

// UserImport is one users import in progress (a domain.UserImporter): a transaction that holds the users table
// and remembers, for the whole file, which ids and emails its rows have used.
type UserImport struct {
	s      *Store
	tx     pgx.Tx
	now    time.Time
	seed   maphash.Seed
	ids    firstLines // id given in the file -> the first line that gave it
	emails firstLines // hash of lower(email) -> the first line that used it
}

// firstLines remembers, for a whole file, the first line that used each key. It is two
// sorted arrays, 12 bytes a key, rather than a map: a 10 MiB file has up to a million.
// Emails are kept as 64-bit hashes with a seed of the import's own: two emails of one
// file share a hash with a chance of about one in 10^7 for the largest file, and would
// cost the later row a wrong "already used".
type firstLines struct {
	keys  []uint64
	lines []int32
	added []keyLine // this chunk's keys, merged in by commit
}

type keyLine struct {
	key  uint64
	line int32
}

// line returns the first line that used k in an earlier chunk, or 0.
func (f *firstLines) line(k uint64) int {
	if i, ok := slices.BinarySearch(f.keys, k); ok {
		return int(f.lines[i])
	}
	return 0
}

// add records the first use of k, which line and the chunk's earlier adds do not know.
func (f *firstLines) add(k uint64, line int) { f.added = append(f.added, keyLine{k, int32(line)}) }

// commit merges the chunk's keys in, from the back so no array is copied whole.
func (f *firstLines) commit() {
	slices.SortFunc(f.added, func(a, b keyLine) int { return cmp.Compare(a.key, b.key) })
	n, m := len(f.keys), len(f.added)
	f.keys, f.lines = slices.Grow(f.keys, m)[:n+m], slices.Grow(f.lines, m)[:n+m]
	for i, j, k := n-1, m-1, n+m-1; j >= 0; k-- {
		if i >= 0 && f.keys[i] > f.added[j].key {
			f.keys[k], f.lines[k] = f.keys[i], f.lines[i]
			i--
		} else {
			f.keys[k], f.lines[k] = f.added[j].key, f.added[j].line
			j--
		}
	}
	f.added = f.added[:0]
}

// commitTimeout bounds the commit of an import. The commit does not run under the
// import's own deadline: a commit cut short leaves unknown whether the file was stored.
const commitTimeout = 30 * time.Second

// ImportUsers imports rows as one file in one chunk, for callers that hold the rows
// already; see ImportUsersInChunks.
func (s *Store) ImportUsers(ctx context.Context, rows []domain.ImportRow) (domain.ImportChunk, error) {
	var res domain.ImportChunk
	err := s.ImportUsersInChunks(ctx, func(imp domain.UserImporter) error {
		var err error
		res, err = imp.Add(ctx, rows)
		return err
	})
	if err != nil {
		return domain.ImportChunk{}, err
	}
	return res, nil
}

// ImportUsersInChunks runs one import of users in one transaction: fn adds the file's
// rows chunk by chunk with Add, so the rows are never held in memory all at once, and the
// import commits when fn returns nil. An error from fn or Add, or ctx ending before the
// commit, rolls back the whole file. The users table is locked for the import so no
// concurrent write can slip an email in between the checks and the writes.
//
// It manages the transaction itself rather than with pgx.BeginFunc: the commit must not
// be cancelled by ctx, and the rollback must still run after ctx has ended.
func (s *Store) ImportUsersInChunks(ctx context.Context, fn func(domain.UserImporter) error) error {
	if owner := domain.OwnerOf(ctx); owner != nil {
		return domain.Errorf(domain.Forbidden, "this key acts for user %d only, so it cannot import users", *owner)
	}
	tx, err := s.rw.Begin(ctx)
	if err != nil {
		return translate(err, "users")
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tx.Rollback(rctx) // a no-op after the commit
	}()
	if _, err := tx.Exec(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return translate(err, "users")
	}
	imp := &UserImport{s: s, tx: tx, now: time.Now().UTC().Truncate(time.Microsecond), seed: maphash.MakeSeed()}
	if err := fn(imp); err != nil {
		return translate(err, "users")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	return translate(tx.Commit(cctx), "users")
}

// createdDetails is the details of every user_created event of an import.
// It is encoded once: an import writes up to a million of them.
var createdDetails = func() json.RawMessage {
	b, _ := json.Marshal(domain.UserCreatedDetails{Source: domain.SourceBulkImport})
	return b
}()

// importUser is a user as an import sees it: stored, or written earlier in the chunk.
type importUser struct {
	ID        int64
	Username  string
	Email     string
	Key       string // lower(email), as PostgreSQL lowers it
	CreatedAt time.Time
	Deleted   bool
}

// importWrite is one row an import stores.
type importWrite struct {
	row     int   // index in the chunk
	id      int64 // negative: the n-th id still to reserve from the sequence, -1 first
	created time.Time
	fields  []string // changed fields of an update; nil for a new or revived user
	existed bool     // the id was a user before (an update or a revival)
	group   int
}

// Add imports rows, in line order, into the import: it upserts them by id (inserting rows
// without one) and reports which were skipped: a row that reuses an id or an email of an
// earlier row of the file, that names by id a user whose email an earlier row used, or
// whose email belongs to another user. A row that matches what is stored counts as
// imported and writes nothing, so importing the same file twice changes nothing. Calls
// must not overlap.
func (m *UserImport) Add(ctx context.Context, rows []domain.ImportRow) (domain.ImportChunk, error) {
	var out domain.ImportChunk
	skip := func(line int, format string, args ...any) {
		out.Skipped = append(out.Skipped, domain.RowError{Row: line, Error: fmt.Sprintf(format, args...)})
	}
	// The schema could store neither: a NUL or invalid UTF-8 fails the statement, and an
	// id near the top of the sequence stops every later create. The handler refuses these
	// first; this keeps one such row from failing the whole file whoever calls.
	valid := make([]domain.ImportRow, 0, len(rows))
	for _, r := range rows {
		switch {
		case r.ID != nil && (*r.ID < 1 || *r.ID > domain.MaxClientID):
			skip(r.Line, "id must be an integer from 1 to %d", domain.MaxClientID)
		case !storable(r.Username) || !storable(r.Email):
			skip(r.Line, "username and email must be UTF-8 without NUL bytes")
		default:
			valid = append(valid, r)
		}
	}
	rows = valid

	keys, byID, err := m.load(ctx, rows)
	if err != nil {
		return domain.ImportChunk{}, err
	}
	owner := make(map[string]int64, len(byID)) // live email key -> user
	for _, u := range byID {
		if !u.Deleted {
			owner[u.Key] = u.ID
		}
	}
	var (
		writes  []importWrite
		usedID  = map[int64]int{}  // in this chunk: id -> line
		usedKey = map[uint64]int{} // in this chunk: email hash -> line
		reserve int64
		maxID   int64
		group   int
		freed   = map[string]bool{} // keys given up by an update in the current group
	)
	// queue orders a write: a row taking an email that an earlier update of its group gave
	// up starts a new group. PostgreSQL does check an unnest's rows in order, but nothing
	// promises it, and one statement checks uniqueness row by row.
	queue := func(w importWrite, key string, old *importUser) {
		if freed[key] {
			group++
			clear(freed)
		}
		w.group = group
		if old != nil && !old.Deleted && old.Key != key {
			freed[old.Key] = true
		}
		writes = append(writes, w)
	}
	for i, r := range rows {
		key := keys[i]
		hash := maphash.String(m.seed, key)
		if line := cmp.Or(m.emails.line(hash), usedKey[hash]); line != 0 {
			skip(r.Line, "email already used on line %d", line)
			continue
		}
		if r.ID != nil {
			if line := cmp.Or(m.ids.line(uint64(*r.ID)), usedID[*r.ID]); line != 0 {
				skip(r.Line, "id already used on line %d", line)
				continue
			}
		}
		usedKey[hash] = r.Line
		m.emails.add(hash, r.Line)
		if r.ID != nil {
			usedID[*r.ID] = r.Line
			m.ids.add(uint64(*r.ID), r.Line)
			// A user an earlier row found by email, or tried to take the email of, is not
			// named again by id: a file that did both would change again on every import.
			if old := byID[*r.ID]; old != nil && !old.Deleted && old.Key != key {
				h := maphash.String(m.seed, old.Key)
				if line := cmp.Or(m.emails.line(h), usedKey[h]); line != 0 {
					skip(r.Line, "the email of user %d was used on line %d", *r.ID, line)
					continue
				}
			}
		}

		ownerID, taken := owner[key]
		if r.ID == nil {
			if taken {
				if u := byID[ownerID]; u != nil && u.Username == r.Username && u.Email == r.Email {
					out.Imported++ // already there: re-importing changes nothing
					continue
				}
				skip(r.Line, "email already belongs to another user")
				continue
			}
			reserve++
			id := -reserve // the real id is reserved below, with the others of the chunk
			created := m.now
			if r.CreatedAt != nil {
				created = r.CreatedAt.UTC().Truncate(time.Microsecond)
			}
			queue(importWrite{row: i, id: id, created: created}, key, nil)
			owner[key] = id
			byID[id] = &importUser{ID: id, Username: r.Username, Email: r.Email, Key: key, CreatedAt: created}
			out.Imported++
			continue
		}
		id := *r.ID
		if taken && ownerID != id {
			skip(r.Line, "email already belongs to user %d", ownerID)
			continue
		}
		created := m.now
		if r.CreatedAt != nil {
			created = r.CreatedAt.UTC().Truncate(time.Microsecond)
		}
		old := byID[id]
		switch {
		case old == nil || old.Deleted:
			queue(importWrite{row: i, id: id, created: created, existed: old != nil}, key, old)
			byID[id] = &importUser{ID: id, Username: r.Username, Email: r.Email, Key: key, CreatedAt: created}
			maxID = max(maxID, id)
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
				queue(importWrite{row: i, id: id, created: created, fields: changed, existed: true}, key, old)
				delete(owner, old.Key)
				*old = importUser{ID: id, Username: r.Username, Email: r.Email, Key: key, CreatedAt: created}
			}
		}
		owner[key] = id
		out.Imported++
	}

	ids, err := m.reserve(ctx, maxID, reserve)
	if err != nil {
		return domain.ImportChunk{}, err
	}
	for i := range writes {
		if w := &writes[i]; w.id < 0 {
			w.id = ids[-w.id-1]
		}
	}
	if err := m.write(ctx, rows, writes, &out); err != nil {
		return domain.ImportChunk{}, err
	}
	if err := writeOutbox(ctx, m.tx, out.Audits); err != nil {
		return domain.ImportChunk{}, err
	}
	m.ids.commit()
	m.emails.commit()
	slices.SortStableFunc(out.Skipped, func(a, b domain.RowError) int { return cmp.Compare(a.Row, b.Row) })
	return out, nil
}

// storable reports whether PostgreSQL can keep s in a text column.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// load reads, in one round trip, what the rows can touch: each row's email key as
// PostgreSQL lowers it (the unique index's own rule), and the users the rows name by id
// or by email.
func (m *UserImport) load(ctx context.Context, rows []domain.ImportRow) (keys []string, byID map[int64]*importUser, err error) {
	emails := make([]string, len(rows))
	ids := make([]int64, 0, len(rows))
	for i, r := range rows {
		emails[i] = r.Email
		if r.ID != nil {
			ids = append(ids, *r.ID)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT lower(e) FROM unnest($1::text[]) WITH ORDINALITY AS c(e, n) ORDER BY n`, emails)
	const q = `SELECT id, username, email, lower(email), created_at, deleted_at IS NOT NULL FROM users
		WHERE id = ANY($1) OR (deleted_at IS NULL AND lower(email) = ANY(ARRAY(SELECT lower(x) FROM unnest($2::text[]) x)))`
	b.Queue(q, ids, emails)
	br := m.tx.SendBatch(ctx, b)
	defer br.Close()
	res, _ := br.Query()
	if keys, err = pgx.CollectRows(res, pgx.RowTo[string]); err != nil {
		return nil, nil, err
	}
	if len(keys) != len(rows) {
		return nil, nil, fmt.Errorf("lowered %d emails, want %d", len(keys), len(rows))
	}
	res, _ = br.Query()
	found, err := pgx.CollectRows(res, pgx.RowToStructByPos[importUser])
	if err != nil {
		return nil, nil, err
	}
	byID = make(map[int64]*importUser, len(found))
	for i := range found {
		byID[found[i].ID] = &found[i]
	}
	return keys, byID, br.Close()
}

// reserve moves the id sequence past maxID, the largest id the chunk writes explicitly,
// and then takes n ids from it, all in one round trip. Explicit ids bypass the sequence:
// without the move an id it hands out later, to this import or to POST /users, could be
// one a row already took.
func (m *UserImport) reserve(ctx context.Context, maxID, n int64) ([]int64, error) {
	b := &pgx.Batch{}
	if maxID > 0 {
		const bump = `SELECT setval(pg_get_serial_sequence('users', 'id'), $1)
			FROM users_id_seq WHERE last_value <= $1`
		b.Queue(bump, maxID)
	}
	if n > 0 {
		b.Queue(`SELECT nextval(pg_get_serial_sequence('users', 'id')) FROM generate_series(1, $1)`, n)
	}
	if b.Len() == 0 {
		return nil, nil
	}
	br := m.tx.SendBatch(ctx, b)
	defer br.Close()
	if maxID > 0 {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	var ids []int64
	if n > 0 {
		res, _ := br.Query()
		var err error
		if ids, err = pgx.CollectRows(res, pgx.RowTo[int64]); err != nil {
			return nil, err
		}
		if int64(len(ids)) != n {
			return nil, fmt.Errorf("reserved %d user ids, want %d", len(ids), n)
		}
	}
	return ids, br.Close()
}

// write stores the chunk's writes, one statement per group in order, and builds their
// audit events. An upsert by id covers new, revived and changed users alike.
func (m *UserImport) write(ctx context.Context, rows []domain.ImportRow, writes []importWrite, out *domain.ImportChunk) error {
	if len(writes) == 0 {
		return nil
	}
	const q = `INSERT INTO users (id, username, email, created_at)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[])
		ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, email = EXCLUDED.email,
			created_at = EXCLUDED.created_at, deleted_at = NULL, version = users.version + 1
		RETURNING id, version`
	b := &pgx.Batch{}
	for start := 0; start < len(writes); {
		end := start + 1
		for end < len(writes) && writes[end].group == writes[start].group {
			end++
		}
		n := end - start
		ids, names, emails, created := make([]int64, n), make([]string, n), make([]string, n), make([]time.Time, n)
		for j, w := range writes[start:end] {
			r := rows[w.row]
			ids[j], names[j], emails[j], created[j] = w.id, r.Username, r.Email, w.created
		}
		b.Queue(q, ids, names, emails, created)
		start = end
	}
	existed := make(map[int64]bool)
	for _, w := range writes {
		if w.existed {
			existed[w.id] = true
		}
		id := w.id
		var (
			a   domain.Audit
			err error
		)
		if w.fields == nil {
			a, err = m.s.audit(domain.EventUserCreated, nil, &id, m.now, createdDetails)
		} else {
			a, err = m.s.audit(domain.EventUserUpdated, nil, &id, m.now, domain.UserUpdatedDetails{Fields: w.fields})
		}
		if err != nil {
			return err
		}
		out.Audits = append(out.Audits, a)
	}
	br := m.tx.SendBatch(ctx, b)
	defer br.Close()
	for range b.Len() {
		res, _ := br.Query()
		var v domain.UserRef
		_, err := pgx.ForEachRow(res, []any{&v.ID, &v.Version}, func() error {
			if existed[v.ID] {
				out.Stale = append(out.Stale, v)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return br.Close()
}
