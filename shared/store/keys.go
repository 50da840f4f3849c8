package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
)

const keyCols = `id, name, scopes, user_id, expires_at, created_at, prefix`

func keyDest(k *domain.APIKey) []any {
	return []any{&k.ID, &k.Name, &k.Scopes, &k.UserID, &k.ExpiresAt, &k.CreatedAt, &k.Prefix}
}

// CreateAPIKey stores a new key (its hash, never the secret) with its api_key_created
// event. A key confined to a user can only make keys of that user: without a user_id the
// new key gets the caller's, and naming another user is Forbidden.
func (s *Store) CreateAPIKey(ctx context.Context, n domain.NewAPIKey) (domain.Written[domain.APIKey], error) {
	w := domain.Written[domain.APIKey]{Version: 1}
	if owner := domain.OwnerOf(ctx); owner != nil {
		if n.UserID != nil && *n.UserID != *owner {
			return w, domain.Errorf(domain.Forbidden, "this key may only make keys of user %d", *owner)
		}
		n.UserID = owner
	}
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		if n.UserID != nil {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL FOR SHARE`, *n.UserID).Scan(&one)
			if err != nil {
				return translate(err, "user")
			}
		}
		const q = `INSERT INTO api_keys (name, prefix, hash, scopes, user_id, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING ` + keyCols
		k := &w.Value
		if err := tx.QueryRow(ctx, q, n.Name, n.Prefix, n.Hash, n.Scopes, n.UserID, n.ExpiresAt).Scan(keyDest(k)...); err != nil {
			return err
		}
		return s.keyAudit(ctx, tx, &w.Audits, domain.EventAPIKeyCreated, *k, k.CreatedAt)
	})
	return w, translate(err, "api key")
}

// FindAPIKeyByID returns a key that is not revoked, if the caller may see it.
func (s *Store) FindAPIKeyByID(ctx context.Context, id int64) (domain.APIKey, error) {
	const q = `SELECT ` + keyCols + ` FROM api_keys
		WHERE id = $1 AND revoked_at IS NULL AND ($2::bigint IS NULL OR user_id = $2)`
	var k domain.APIKey
	err := s.rw.QueryRow(ctx, q, id, domain.OwnerOf(ctx)).Scan(keyDest(&k)...)
	return k, translate(err, "api key")
}

// FindAPIKeys lists the keys that are not revoked and that the caller may see.
func (s *Store) FindAPIKeys(ctx context.Context, p domain.Page) ([]domain.APIKey, int64, error) {
	const from = `FROM api_keys WHERE revoked_at IS NULL AND ($1::bigint IS NULL OR user_id = $1)`
	return findPage(ctx, s.ro, "api keys", keyCols, from, []any{domain.OwnerOf(ctx)}, p, keyDest)
}

// RevokeAPIKey revokes a key with its api_key_revoked event and returns what caches must
// drop. Revoking it again, or another user's key, is NotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64) (domain.Written[domain.KeyRef], error) {
	var w domain.Written[domain.KeyRef]
	err := pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		const q = `UPDATE api_keys SET revoked_at = now(), version = version + 1
			WHERE id = $1 AND revoked_at IS NULL AND ($2::bigint IS NULL OR user_id = $2)
			RETURNING ` + keyCols + `, hash, version, revoked_at`
		var (
			k  domain.APIKey
			at time.Time
		)
		if err := tx.QueryRow(ctx, q, id, domain.OwnerOf(ctx)).Scan(append(keyDest(&k), &w.Value.Hash, &w.Version, &at)...); err != nil {
			return err
		}
		w.Value.Version = w.Version
		return s.keyAudit(ctx, tx, &w.Audits, domain.EventAPIKeyRevoked, k, at)
	})
	return w, translate(err, "api key")
}

// keyAudit writes a key's event to the outbox in tx and keeps it in *audits: the key's
// user, no URL, and never the secret.
func (s *Store) keyAudit(ctx context.Context, tx pgx.Tx, audits *[]domain.Audit, eventType string, k domain.APIKey, at time.Time) error {
	a, err := s.audit(eventType, nil, k.UserID, at, domain.APIKeyDetails{KeyID: k.ID, Name: k.Name, Scopes: k.Scopes})
	if err != nil {
		return err
	}
	*audits = []domain.Audit{a}
	return writeOutbox(ctx, tx, *audits)
}

// FindPrincipal resolves a key's hash to whom it acts for. A revoked key, or one whose
// user was deleted, comes back Revoked (so it can be cached as such); an unknown hash is
// NotFound. Expiry is left to the caller, who checks it at each use.
func (s *Store) FindPrincipal(ctx context.Context, hash []byte) (domain.Principal, error) {
	const q = `SELECT k.id, k.scopes, k.user_id, k.expires_at, k.version,
			k.revoked_at IS NOT NULL OR coalesce(u.deleted_at IS NOT NULL, false)
		FROM api_keys k LEFT JOIN users u ON u.id = k.user_id WHERE k.hash = $1`
	var (
		p      domain.Principal
		scopes []string
	)
	err := s.rw.QueryRow(ctx, q, hash).Scan(&p.KeyID, &scopes, &p.UserID, &p.ExpiresAt, &p.Version, &p.Revoked)
	if err != nil {
		return p, translate(err, "api key")
	}
	p.Scope = domain.StrongestScope(scopes)
	return p, nil
}
