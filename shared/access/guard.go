package access

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/routing"
	"github.com/urlshort/shortener/shared/web"
)

// PrincipalStore resolves a key's hash to its principal (the store).
type PrincipalStore interface {
	FindPrincipal(ctx context.Context, hash []byte) (domain.Principal, error)
}

// Options configures a Guard.
type Options struct {
	// Keys turns on API keys (AUTH_MODE=keys): every route but the open ones needs one.
	Keys bool
	// AdminKey is ADMIN_API_KEY: an admin key that works while it is configured.
	AdminKey string
	Store    PrincipalStore
	Cache    *cache.Cache // nil: every look-up goes to the store
	// Limits, when set, admits or refuses a request by its rate limits: key names who is
	// counted (a key, or a client address).
	Limits func(w http.ResponseWriter, r *http.Request, key string, redirect bool) bool
	// ClientKey names the client of a request for the per-address limits; nil: the
	// connection's peer, trusting no proxy.
	ClientKey func(r *http.Request) string
}

// Guard is the one check of every request, in front of every route (web.Router.SetGuard):
// it resolves the API key to a principal, compares the scope with what the routing table
// says the route needs, hands the principal to the store through the context (which
// confines every query to the principal's user), and applies the rate limits.
type Guard struct {
	o         Options
	adminHash []byte
	now       func() time.Time
}

// NewGuard returns the guard of o, or nil when o turns nothing on: the router then runs
// no check at all.
func NewGuard(o Options) *Guard {
	if !o.Keys && o.Limits == nil {
		return nil
	}
	g := &Guard{o: o, now: time.Now}
	if o.AdminKey != "" {
		g.adminHash = HashKey(o.AdminKey)
	}
	return g
}

// need is the scope each access level asks for.
var need = map[routing.Access]domain.Scope{
	routing.Read: domain.ScopeRead, routing.Write: domain.ScopeWrite, routing.Admin: domain.ScopeAdmin,
}

// Admit implements web.Guard.
func (g *Guard) Admit(w http.ResponseWriter, r *http.Request, pattern string) (*http.Request, bool) {
	access := routing.AccessOf(pattern)
	if access == routing.Open {
		redirect := strings.Contains(pattern, "{short_code}")
		if redirect && g.o.Limits != nil && !g.o.Limits(w, r, g.clientKey(r), true) {
			return r, false
		}
		return r, true
	}
	var p domain.Principal
	if g.o.Keys {
		var err error
		if p, err = g.authenticate(r); err != nil {
			web.Error(w, r, err)
			return r, false
		}
		if p.Scope < need[access] {
			web.Error(w, r, domain.Errorf(domain.Forbidden, "this API key lacks the %s scope", need[access]))
			return r, false
		}
		r = r.WithContext(domain.WithPrincipal(r.Context(), p))
	}
	if g.o.Limits == nil || !writes(r.Method) {
		return r, true
	}
	// Writes are counted per key; with access control off, per client address.
	limitKey := "key:" + strconv.FormatInt(p.KeyID, 10)
	if !g.o.Keys {
		limitKey = g.clientKey(r)
	}
	return r, g.o.Limits(w, r, limitKey, false)
}

func writes(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodDelete || method == http.MethodPatch
}

func (g *Guard) clientKey(r *http.Request) string {
	if g.o.ClientKey != nil {
		return "addr:" + g.o.ClientKey(r)
	}
	return "addr:" + AddrKey(ClientAddr(r, nil))
}

// authenticate finds the request's key and whom it acts for. Every refusal is
// Unauthorized with a message that says what to fix, never the key.
func (g *Guard) authenticate(r *http.Request) (domain.Principal, error) {
	secret := bearer(r)
	if secret == "" {
		return domain.Principal{}, domain.Errorf(domain.Unauthorized, "API key required: send Authorization: Bearer <key> or X-Api-Key: <key>")
	}
	hash := HashKey(secret)
	if g.adminHash != nil && subtle.ConstantTimeCompare(hash, g.adminHash) == 1 {
		return domain.Principal{Scope: domain.ScopeAdmin}, nil
	}
	if !LooksLikeKey(secret) {
		return domain.Principal{}, domain.Errorf(domain.Unauthorized, "unknown API key")
	}
	p, err := g.o.Cache.ReadPrincipal(r.Context(), hash, g.o.Store.FindPrincipal)
	switch {
	case domain.KindOf(err) == domain.NotFound:
		return p, domain.Errorf(domain.Unauthorized, "unknown API key")
	case err != nil:
		return p, err
	case p.Revoked:
		return p, domain.Errorf(domain.Unauthorized, "API key revoked")
	case !p.Usable(g.now()):
		return p, domain.Errorf(domain.Unauthorized, "API key expired")
	}
	return p, nil
}

// bearer returns the key a request carries: Authorization: Bearer <key>, else X-Api-Key.
func bearer(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(token)
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-Api-Key"))
}
