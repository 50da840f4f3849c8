// Package domain holds the nouns of the URL shortener (users, short URLs, audit events) and
// the error kinds every layer speaks. It imports nothing of ours.
package domain

import (
	"encoding/json"
	"math"
	"time"
)

// User is an account that owns short URLs. Usernames are not unique; emails are, compared
// case-insensitively.
type User struct {
	ID        int64     `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// URL is a short link. Deleted URLs keep their row for the audit log but are invisible to
// every reader.
type URL struct {
	ID          int64     `json:"id"`
	UserID      int64     `json:"user_id"`
	ShortCode   string    `json:"short_code"`
	OriginalURL string    `json:"original_url"`
	Title       *string   `json:"title"`
	IsActive    bool      `json:"is_active"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// The link options: the link redirects only from ValidSince on and until ExpiresAt
	// (nil: no bound), and carries Tags (lower-case, sorted, never nil).
	ExpiresAt  *time.Time `json:"expires_at"`
	ValidSince *time.Time `json:"valid_since"`
	Tags       []string   `json:"tags"`
	// MaxVisits bounds the redirects ever answered (nil: no bound); Visits counts the
	// URL's click events in the log.
	MaxVisits *int64 `json:"max_visits"`
	Visits    int64  `json:"visits"`
	// ShortURL is the public link: the origin the client reached (or PUBLIC_BASE_URL),
	// "/" and the code. The store leaves it empty; the edge fills it per request.
	ShortURL string `json:"short_url"`
}

// Event is one row of the append-only audit log.
type Event struct {
	ID        int64           `json:"id"`
	URLID     *int64          `json:"url_id"`
	UserID    *int64          `json:"user_id"`
	EventType string          `json:"event_type"`
	Timestamp time.Time       `json:"timestamp"`
	Details   json.RawMessage `json:"details"`
}

// SeedTimeLayout is how the seed files (and so the CSV import and export) write
// timestamps, always in UTC: 2025-07-18 23:45:12.
const SeedTimeLayout = "2006-01-02 15:04:05"

// Page selects a slice of a list; the zero value means "every row".
type Page struct {
	Number  int // 1-based
	PerPage int
}

// Paged reports whether the caller asked for a page.
func (p Page) Paged() bool { return p.PerPage > 0 }

// Offset is the number of rows before the page. A page so far out that the product
// overflows saturates at the largest offset: it is past the end of any list, so it reads
// as an empty page instead of wrapping to a negative offset the database refuses.
func (p Page) Offset() int64 {
	n, per := int64(p.Number-1), int64(p.PerPage)
	if n <= 0 || per <= 0 {
		return 0
	}
	if n > math.MaxInt64/per {
		return math.MaxInt64
	}
	return n * per
}

// URLFilter narrows a URL list; nil or empty fields do not filter.
type URLFilter struct {
	UserID   *int64
	IsActive *bool
	Tag      string
	Page     Page
}

// EventFilter narrows an event list; nil or empty fields do not filter.
type EventFilter struct {
	URLID     *int64
	UserID    *int64
	EventType string
	Page      Page
}

// UserPatch is a partial update of a user; nil fields are left alone.
type UserPatch struct {
	Username *string
	Email    *string
}

// URLPatch is a partial update of a URL; nil fields are left alone.
type URLPatch struct {
	Title       *string
	IsActive    *bool
	OriginalURL *string
	ExpiresAt   Optional[time.Time]
	ValidSince  Optional[time.Time]
	Tags        *[]string
	MaxVisits   Optional[int64]
}

// Optional is a field that may be left alone, cleared (null) or set.
type Optional[T any] struct {
	Set   bool // the field was given
	Value *T   // nil clears it
}

// Audit event types of the log (the event_type column).
const (
	EventCreated     = "created"
	EventUpdated     = "updated"
	EventDeleted     = "deleted"
	EventClick       = "click"
	EventUserCreated = "user_created"
	EventUserUpdated = "user_updated"
	EventUserDeleted = "user_deleted"
)

// Click is one successful redirect, recorded after the response is sent.
type Click struct {
	URLID     int64
	UserID    int64
	ShortCode string
	Referrer  string
	UserAgent string
	At        time.Time
}

// Audit is one audit event as a mutation writes it to the outbox, in the same transaction
// as the change. EventID (a UUID) becomes the CloudEvent id and makes storing idempotent.
type Audit struct {
	EventID   string          `json:"-"`
	Source    string          `json:"-"`
	URLID     *int64          `json:"url_id"`
	UserID    *int64          `json:"user_id"`
	EventType string          `json:"event_type"`
	Timestamp time.Time       `json:"timestamp"`
	Details   json.RawMessage `json:"details"`
	// Click is what the statistics keep of a click event, when the process that built it
	// classified its user agent and referrer already; nil means the store reads Details.
	Click *ClickFacts `json:"-"`
}

// ClickFacts classify one click for the statistics: a bot (flagged, or known to the
// parser), its referrer host and its browser, operating system and device type.
type ClickFacts struct {
	Bot                     bool
	Referrer                string
	Browser, OS, DeviceType string
}

// Redirect is what the redirect path needs to know about a short code. Active is false
// for an inactive or deleted URL; Version grows with every change, so caches can refuse
// to overwrite newer data with older.
type Redirect struct {
	URLID    int64  `json:"url_id"`
	UserID   int64  `json:"user_id"`
	Location string `json:"location"`
	Active   bool   `json:"active"`
	Version  int64  `json:"version"`
	// The link's window, checked at each redirect against the clock: nil is no bound.
	ValidSince *time.Time `json:"valid_since,omitempty"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	// Limited says the link has a max_visits: each redirect must take one of its visits
	// from the store, which keeps the count exact across instances.
	Limited bool `json:"limited,omitempty"`
}

// NewURL is what creating a URL takes; an empty ShortCode asks for a generated one.
type NewURL struct {
	UserID      int64
	OriginalURL string
	Title       *string
	ShortCode   string
	ExpiresAt   *time.Time
	ValidSince  *time.Time
	Tags        []string
	MaxVisits   *int64
}

// NewEvent is an event posted directly to the log.
type NewEvent struct {
	EventType string
	URLID     int64
	UserID    *int64
	Details   json.RawMessage
}
