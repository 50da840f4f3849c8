// Package users serves the user routes: create, bulk import, list, read, update, delete.
package users

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

// Store is the part of the store the user routes use.
type Store interface {
	UserStats(ctx context.Context, id int64, r domain.StatsRange) (domain.Stats, error)
	CreateUser(ctx context.Context, username, email string) (domain.Written[domain.User], error)
	FindUserByID(ctx context.Context, id int64) (domain.Versioned[domain.User], error)
	FindUsers(ctx context.Context, p domain.Page) ([]domain.User, int64, error)
	ExportUsers(ctx context.Context, fn func(domain.User) error) error
	UpdateUser(ctx context.Context, id int64, p domain.UserPatch) (domain.Written[domain.User], error)
	DeleteUser(ctx context.Context, id int64) (domain.Written[domain.UserDeletion], error)
	ImportUsersInChunks(ctx context.Context, fn func(domain.UserImporter) error) error
}

// Publisher sends committed audit events on their way.
type Publisher interface {
	Publish(audits []domain.Audit)
}

// Deps is what the user routes need. Cache may be nil.
type Deps struct {
	Store Store
	// Keys serves /api-keys.
	Keys      KeyStore
	Cache     *cache.Cache
	Publisher Publisher
	BodyLimit int64
	BulkLimit int64
	// BulkTimeout is how long one bulk import may take, upload included; zero means 60 s.
	BulkTimeout time.Duration
}

type handlers struct{ Deps }

// Routes returns the user routes.
func Routes(d Deps) []web.Route {
	h := handlers{d}
	return append([]web.Route{
		{Pattern: "POST /users", Handler: h.create},
		{Pattern: "POST /users/bulk", Handler: h.bulk},
		{Pattern: "GET /users", Handler: h.list},
		{Pattern: "GET /users/{id}", Handler: h.get},
		{Pattern: "PUT /users/{id}", Handler: h.update},
		{Pattern: "DELETE /users/{id}", Handler: h.delete},
		{Pattern: "GET /users/{id}/stats", Handler: h.stats},
	}, h.keyRoutes()...)
}

func (h handlers) create(w http.ResponseWriter, r *http.Request) {
	body, err := web.DecodeObject(w, r, h.BodyLimit)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	username, email := body.String("username", true), body.String("email", true)
	checkUser(body, username, email)
	if err := body.Err(); err != nil {
		web.Error(w, r, err)
		return
	}
	created, err := h.Store.CreateUser(r.Context(), *username, *email)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	h.Cache.UserCreated(r.Context())
	h.after(r, created.Audits)
	web.JSON(w, http.StatusCreated, created.Value)
}

// checkUser validates the fields that are present and well-typed.
func checkUser(body *web.Object, username, email *string) {
	if username != nil {
		if msg := domain.CheckUsername(*username); msg != "" {
			body.Invalid("username", msg)
		}
	}
	if email != nil {
		if msg := domain.CheckEmail(*email); msg != "" {
			body.Invalid("email", msg)
		}
	}
}

func (h handlers) list(w http.ResponseWriter, r *http.Request) {
	page, err := web.PageOf(r)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if web.WantsCSV(r) { // an export in the seed format, which POST /users/bulk imports
		web.CSV(w, r, domain.UsersCSVHeader, func(write func([]string) error) error {
			return h.Store.ExportUsers(r.Context(), func(u domain.User) error { return write(domain.UserRecord(u)) })
		})
		return
	}
	key := fmt.Sprintf("p%d:%d", page.Number, page.PerPage)
	body, total, hit, err := h.Cache.ReadUsers(r.Context(), key, func(ctx context.Context) (any, int64, error) {
		users, total, err := h.Store.FindUsers(ctx, page)
		if users == nil {
			users = []domain.User{}
		}
		return users, total, err
	})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Cached(w, hit)
	web.List(w, body, total, page.Paged())
}

func (h handlers) get(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "user")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	body, hit, err := h.Cache.ReadUser(r.Context(), id, func(ctx context.Context) (any, int64, error) {
		v, err := h.Store.FindUserByID(ctx, id)
		return v.Value, v.Version, err
	})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Cached(w, hit)
	web.Raw(w, http.StatusOK, body)
}

func (h handlers) update(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "user")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	body, err := web.DecodeObject(w, r, h.BodyLimit)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	patch := domain.UserPatch{Username: body.String("username", false), Email: body.String("email", false)}
	checkUser(body, patch.Username, patch.Email)
	if err := body.Err(); err != nil {
		web.Error(w, r, err)
		return
	}
	updated, err := h.Store.UpdateUser(r.Context(), id, patch)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if len(updated.Audits) > 0 {
		h.Cache.UserWritten(r.Context(), domain.UserRef{ID: id, Version: updated.Version})
		h.after(r, updated.Audits)
	}
	web.JSON(w, http.StatusOK, updated.Value)
}

func (h handlers) delete(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "user")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	deleted, err := h.Store.DeleteUser(r.Context(), id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	h.Cache.UserDeleted(r.Context(), domain.UserRef{ID: id, Version: deleted.Version}, deleted.Value)
	h.after(r, deleted.Audits)
	w.WriteHeader(http.StatusNoContent)
}

// after runs once a mutation committed and the cache was told what it changed (which
// handles its own failures: it keeps and replays what did not land): its audit events
// leave.
func (h handlers) after(r *http.Request, audits []domain.Audit) {
	web.LogAudits(r, audits)
	h.Publisher.Publish(audits)
}

// stats answers the user's statistics (see web.Stats).
func (h handlers) stats(w http.ResponseWriter, r *http.Request) {
	web.Stats(w, r, "user", h.Store.UserStats)
}
