package users

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/urlshort/shortener/shared/access"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

// KeyStore is the part of the store the /api-keys routes use.
type KeyStore interface {
	CreateAPIKey(ctx context.Context, n domain.NewAPIKey) (domain.Written[domain.APIKey], error)
	FindAPIKeyByID(ctx context.Context, id int64) (domain.APIKey, error)
	FindAPIKeys(ctx context.Context, p domain.Page) ([]domain.APIKey, int64, error)
	RevokeAPIKey(ctx context.Context, id int64) (domain.Written[domain.KeyRef], error)
}

// keyRoutes are the /api-keys routes; the users function serves them (no Service of
// their own: they are rare and small). The router's guard asks the admin scope of each.
func (h handlers) keyRoutes() []web.Route {
	return []web.Route{
		{Pattern: "POST /api-keys", Handler: h.createKey},
		{Pattern: "GET /api-keys", Handler: h.listKeys},
		{Pattern: "GET /api-keys/{id}", Handler: h.getKey},
		{Pattern: "DELETE /api-keys/{id}", Handler: h.revokeKey},
	}
}

// createdKey is the answer to POST /api-keys: the only one that shows the secret.
type createdKey struct {
	domain.APIKey
	Key string `json:"key"`
}

const maxKeyName = 100

func (h handlers) createKey(w http.ResponseWriter, r *http.Request) {
	body, err := web.DecodeObject(w, r, h.BodyLimit)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	name := body.String("name", true)
	scopes := body.Strings("scopes", true)
	// Optional, and as everywhere a null is a wrong type: leave the field out for none.
	userID := body.Int("user_id", false)
	expires := body.Time("expires_at", false)
	if name != nil {
		if n := utf8.RuneCountInString(*name); n < 1 || n > maxKeyName {
			body.Invalid("name", fmt.Sprintf("must be 1 to %d characters", maxKeyName))
		}
	}
	if scopes != nil {
		if msg := checkScopes(scopes); msg != "" {
			body.Invalid("scopes", msg)
		}
	}
	if expires != nil && !expires.After(time.Now()) {
		body.Invalid("expires_at", "must be in the future")
	}
	if err := body.Err(); err != nil {
		web.Error(w, r, err)
		return
	}
	slices.Sort(scopes)
	scopes = slices.Compact(scopes)
	secret, hash, prefix := access.NewKey()
	created, err := h.Keys.CreateAPIKey(r.Context(), domain.NewAPIKey{
		Name: *name, Scopes: scopes, UserID: userID, ExpiresAt: expires, Hash: hash, Prefix: prefix,
	})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	h.after(r, created.Audits)
	web.JSON(w, http.StatusCreated, createdKey{created.Value, secret})
}

func checkScopes(scopes []string) string {
	if len(scopes) == 0 {
		return "must name at least one of read, write, admin"
	}
	for _, s := range scopes {
		if _, ok := domain.ScopeNames[s]; !ok {
			return fmt.Sprintf("unknown scope %q: want read, write or admin", s)
		}
	}
	return ""
}

func (h handlers) listKeys(w http.ResponseWriter, r *http.Request) {
	page, err := web.PageOf(r)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	keys, total, err := h.Keys.FindAPIKeys(r.Context(), page)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if keys == nil {
		keys = []domain.APIKey{}
	}
	if page.Paged() {
		w.Header().Set("X-Total-Count", fmt.Sprint(total))
	}
	web.JSON(w, http.StatusOK, keys)
}

func (h handlers) getKey(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "api key")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	k, err := h.Keys.FindAPIKeyByID(r.Context(), id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, k)
}

func (h handlers) revokeKey(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "api key")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	revoked, err := h.Keys.RevokeAPIKey(r.Context(), id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	h.Cache.KeyRevoked(r.Context(), revoked.Value)
	h.after(r, revoked.Audits)
	w.WriteHeader(http.StatusNoContent)
}
