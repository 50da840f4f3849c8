package domain

import (
	"context"
	"time"
)

// Scope is what an API key may do. Each scope includes the ones before it.
type Scope int

// The scopes, weakest first; NoScope is the zero value and allows nothing.
const (
	NoScope    Scope = iota
	ScopeRead        // every GET
	ScopeWrite       // read, plus creating, changing and deleting users, URLs and events
	ScopeAdmin       // write, plus /api-keys
)

// ScopeNames are the scopes as the API spells them.
var ScopeNames = map[string]Scope{"read": ScopeRead, "write": ScopeWrite, "admin": ScopeAdmin}

// String returns the scope as the API spells it.
func (s Scope) String() string {
	for name, v := range ScopeNames {
		if v == s {
			return name
		}
	}
	return "none"
}

// StrongestScope returns the strongest of the named scopes (NoScope for none known).
func StrongestScope(names []string) Scope {
	best := NoScope
	for _, n := range names {
		best = max(best, ScopeNames[n])
	}
	return best
}

// KeyRef names an API key a write changed, by the hash its look-ups are cached under, at
// the version the write left.
type KeyRef struct {
	Hash    []byte
	Version int64
}

// APIKey is an API key as it is listed: never its secret, only its prefix.
type APIKey struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"`
	UserID    *int64     `json:"user_id"`
	ExpiresAt *time.Time `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
	Prefix    string     `json:"prefix"`
}

// NewAPIKey is what creating a key takes: the secret is made by the caller, and only its
// hash and prefix reach the store.
type NewAPIKey struct {
	Name      string
	Scopes    []string
	UserID    *int64
	ExpiresAt *time.Time
	Hash      []byte
	Prefix    string
}

// APIKeyDetails are the details of api_key_created and api_key_revoked events.
type APIKeyDetails struct {
	KeyID  int64    `json:"key_id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// Principal is who a request acts for: an API key, resolved once per request. A zero
// Principal (no key: access control off) may do everything on every user.
type Principal struct {
	KeyID     int64  // 0 for ADMIN_API_KEY or with access control off
	Scope     Scope  // the strongest of the key's scopes
	UserID    *int64 // the user the key belongs to; nil acts on every user
	ExpiresAt *time.Time
	Version   int64 // of the key's row, for caches
	Revoked   bool
}

// Usable reports whether the key may be used at now.
func (p Principal) Usable(now time.Time) bool {
	return !p.Revoked && (p.ExpiresAt == nil || now.Before(*p.ExpiresAt))
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p: the store reads it to filter every query by the
// principal's user, so that no handler can forget the check.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalOf returns the principal ctx carries, and whether it carries one.
func PrincipalOf(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// OwnerOf returns the user a request is confined to, or nil when it may act on every user
// (an unowned key, or access control off).
func OwnerOf(ctx context.Context) *int64 {
	if p, ok := PrincipalOf(ctx); ok {
		return p.UserID
	}
	return nil
}

// Audit event types of API keys.
const (
	EventAPIKeyCreated = "api_key_created"
	EventAPIKeyRevoked = "api_key_revoked"
)
