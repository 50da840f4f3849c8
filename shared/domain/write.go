package domain

import (
	"context"
	"time"
)

// Versioned is a value as it was read, with the version of its row: every write moves a
// row's version up, so a cache can refuse to overwrite newer data with older.
type Versioned[T any] struct {
	Value   T
	Version int64
}

// Written is what a committed write returns: the value it left, the version of its row
// after it, and the audit events it wrote to the outbox in the same transaction, to be
// published once the caches have been told. An update that changed nothing has no Audits.
type Written[T any] struct {
	Value   T
	Version int64
	Audits  []Audit
}

// URLRef names a URL a write changed, at the version the write left: enough for a cache
// to drop its item and the redirect of its code.
type URLRef struct {
	ID        int64
	ShortCode string
	Version   int64
}

// UserRef names a user a write changed, at the version the write left.
type UserRef struct {
	ID      int64
	Version int64
}

// UserDeletion is what deleting a user took down with them: their URLs and API keys, each
// at the version the deletion left.
type UserDeletion struct {
	URLs []URLRef
	Keys []KeyRef
}

// MaxClientID is the largest id a client may give a row it imports (bulk import, seed):
// 2^53-1, the largest integer a JSON number keeps exactly in JavaScript. Every identity
// sequence is a bigint, so after any import it still has 2^63-2^53 values to hand out: no
// imported id can bring POST /users (or /urls, /events) to the end of its sequence.
const MaxClientID = 1<<53 - 1

// ImportRow is one well-formed row of a users CSV; Line is its line in the file.
type ImportRow struct {
	Line      int
	ID        *int64
	Username  string
	Email     string
	CreatedAt *time.Time
}

// RowError says why a row of an import was skipped; it is one element of the errors a
// bulk import answers with.
type RowError struct {
	Row   int    `json:"row"`
	Error string `json:"error"`
}

// ImportChunk is what adding one chunk of rows to an import did.
type ImportChunk struct {
	Imported int        // rows stored, including rows already stored as they are
	Skipped  []RowError // rows refused, in line order
	Audits   []Audit    // written to the outbox with the chunk
	// Stale names the users that existed before and changed, at the version the import
	// left: their cached copies must go. New users are not listed, as nothing can have
	// cached a user that did not exist.
	Stale []UserRef
}

// UserImporter is one users import in progress, to which a caller adds the rows of a file
// chunk by chunk, in line order; calls must not overlap.
type UserImporter interface {
	Add(ctx context.Context, rows []ImportRow) (ImportChunk, error)
}

// visitBits is how many low bits of a URL's item version count its visits.
const visitBits = 40

// URLItemVersion is the version of a URL as a cached item: its row's version in the high
// bits and its counted visits in the low 40 (a trillion), so it grows with every edit and
// every stored click, and a reader that saw fewer visits can never put its copy back over
// a newer one. Edits invalidate at URLItemVersion(version, 0), which is above every copy
// of the previous edit whatever its visits.
func URLItemVersion(version, visits int64) int64 { return version<<visitBits | visits }

// URLCount is a URL whose clicks a transaction stored, at the item version it left.
type URLCount struct {
	ID          int64
	ItemVersion int64
}
