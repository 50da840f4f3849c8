// Package urls serves the short-URL routes: create, list, read, update, delete.
package urls

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

// Store is the part of the store the URL routes use.
type Store interface {
	CreateURL(ctx context.Context, n domain.NewURL) (domain.Written[domain.URL], error)
	FindURLByID(ctx context.Context, id int64) (domain.Versioned[domain.URL], error)
	FindURLs(ctx context.Context, f domain.URLFilter) ([]domain.URL, int64, error)
	ExportURLs(ctx context.Context, f domain.URLFilter, fn func(domain.URL) error) error
	UpdateURL(ctx context.Context, id int64, p domain.URLPatch) (domain.Written[domain.URL], error)
	DeleteURL(ctx context.Context, id int64) (domain.Written[domain.URLRef], error)
	URLStats(ctx context.Context, id int64, r domain.StatsRange) (domain.Stats, error)
}

// Publisher sends committed audit events on their way.
type Publisher interface {
	Publish(audits []domain.Audit)
}

// Deps is what the URL routes need. Cache may be nil.
type Deps struct {
	Store     Store
	Cache     *cache.Cache
	Publisher Publisher
	BodyLimit int64
	// BlockPrivateTargets refuses original URLs whose host is a private address.
	BlockPrivateTargets bool
	// PublicBaseURL is what short links start with (PUBLIC_BASE_URL); empty builds them
	// from the request.
	PublicBaseURL string
}

type handlers struct{ Deps }

// Routes returns the URL routes.
func Routes(d Deps) []web.Route {
	h := handlers{d}
	return []web.Route{
		{Pattern: "POST /urls", Handler: h.create},
		{Pattern: "GET /urls", Handler: h.list},
		{Pattern: "GET /urls/{id}", Handler: h.get},
		{Pattern: "PUT /urls/{id}", Handler: h.update},
		{Pattern: "DELETE /urls/{id}", Handler: h.delete},
		{Pattern: "GET /urls/{id}/qr", Handler: h.qrCode},
		{Pattern: "GET /urls/{id}/stats", Handler: h.stats},
	}
}

func (h handlers) create(w http.ResponseWriter, r *http.Request) {
	body, err := web.DecodeObject(w, r, h.BodyLimit)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	userID := body.Int("user_id", true)
	original := body.String("original_url", true)
	title := body.String("title", false)
	code := body.String("short_code", false)
	h.checkURL(body, original, title)
	opts := linkOptions(body)
	if code != nil {
		if msg := domain.CheckShortCode(*code); msg != "" {
			body.Invalid("short_code", msg)
		}
	}
	if err := body.Err(); err != nil {
		web.Error(w, r, err)
		return
	}
	n := domain.NewURL{UserID: *userID, OriginalURL: *original, Title: title,
		ExpiresAt: opts.ExpiresAt.Value, ValidSince: opts.ValidSince.Value, MaxVisits: opts.MaxVisits.Value}
	if opts.Tags != nil {
		n.Tags = *opts.Tags
	}
	if code != nil {
		n.ShortCode = *code
	}
	created, err := h.Store.CreateURL(r.Context(), n)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	h.Cache.URLCreated(r.Context(), created.Value.ShortCode, created.Version)
	h.after(r, created.Audits)
	web.JSON(w, http.StatusCreated, h.withLink(r, created.Value))
}

// base is the origin of this request's short links.
func (h handlers) base(r *http.Request) string { return web.PublicBase(r, h.PublicBaseURL) }

// withLink fills u's short_url for this request.
func (h handlers) withLink(r *http.Request, u domain.URL) domain.URL {
	u.ShortURL = h.base(r) + "/" + u.ShortCode
	return u
}

// linkOptions reads the link options of a create or update body: null clears the
// instants and max_visits (the one place where null is not a wrong type), [] clears the
// tags.
func linkOptions(body *web.Object) domain.URLPatch {
	p := domain.URLPatch{ExpiresAt: body.NullableTime("expires_at"), ValidSince: body.NullableTime("valid_since"),
		MaxVisits: body.NullableCount("max_visits")}
	if body.Has("tags") {
		if tags := body.Strings("tags", false); tags != nil {
			norm, msg := domain.NormalizeTags(tags)
			if msg != "" {
				body.Invalid("tags", msg)
			} else {
				p.Tags = &norm
			}
		}
	}
	return p
}

// checkURL validates the fields that are present and well-typed.
func (h handlers) checkURL(body *web.Object, original, title *string) {
	if original != nil {
		msg := domain.CheckOriginalURL(*original)
		if msg == "" && h.BlockPrivateTargets {
			msg = domain.CheckPublicTarget(*original)
		}
		if msg != "" {
			body.Invalid("original_url", msg)
		}
	}
	if title != nil {
		if msg := domain.CheckTitle(*title); msg != "" {
			body.Invalid("title", msg)
		}
	}
}

func (h handlers) list(w http.ResponseWriter, r *http.Request) {
	var f domain.URLFilter
	var err error
	if f.Page, err = web.PageOf(r); err == nil {
		if f.UserID, err = web.QueryInt(r, "user_id"); err == nil {
			if f.IsActive, err = web.QueryBool(r, "is_active"); err == nil {
				f.Tag, err = web.QueryString(r, "tag", domain.MaxTagLen)
				f.Tag = strings.ToLower(f.Tag)
			}
		}
	}
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if web.WantsCSV(r) { // an export: every matching row, streamed, never cached
		web.CSV(w, r, domain.URLsCSVHeader, func(write func([]string) error) error {
			return h.Store.ExportURLs(r.Context(), f, func(u domain.URL) error { return write(domain.URLRecord(u)) })
		})
		return
	}
	key := fmt.Sprintf("u%s:a%s:t%q:p%d:%d", ptr(f.UserID), ptr(f.IsActive), f.Tag, f.Page.Number, f.Page.PerPage)
	body, total, hit, err := h.Cache.ReadURLs(r.Context(), key, func(ctx context.Context) (any, int64, error) {
		urls, total, err := h.Store.FindURLs(ctx, f)
		if urls == nil {
			urls = []domain.URL{}
		}
		for i := range urls {
			urls[i].ShortURL = web.RelativeLink(urls[i].ShortCode)
		}
		return urls, total, err
	})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Cached(w, hit)
	web.List(w, web.AbsoluteLinks(body, h.base(r)), total, f.Page.Paged())
}

func ptr[T any](p *T) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func (h handlers) get(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "url")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	body, hit, err := h.Cache.ReadURL(r.Context(), id, func(ctx context.Context) (any, int64, error) {
		v, err := h.Store.FindURLByID(ctx, id)
		v.Value.ShortURL = web.RelativeLink(v.Value.ShortCode)
		return v.Value, v.Version, err
	})
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Cached(w, hit)
	web.Raw(w, http.StatusOK, web.AbsoluteLinks(body, h.base(r)))
}

func (h handlers) update(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "url")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	body, err := web.DecodeObject(w, r, h.BodyLimit)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	opts := linkOptions(body)
	p := domain.URLPatch{
		Title:       body.String("title", false),
		IsActive:    body.Bool("is_active", false),
		OriginalURL: body.String("original_url", false),
		ExpiresAt:   opts.ExpiresAt,
		ValidSince:  opts.ValidSince,
		Tags:        opts.Tags,
		MaxVisits:   opts.MaxVisits,
	}
	h.checkURL(body, p.OriginalURL, p.Title)
	if err := body.Err(); err != nil {
		web.Error(w, r, err)
		return
	}
	updated, err := h.Store.UpdateURL(r.Context(), id, p)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if u := updated.Value; len(updated.Audits) > 0 {
		h.Cache.URLWritten(r.Context(), domain.URLRef{ID: id, ShortCode: u.ShortCode, Version: updated.Version})
		h.after(r, updated.Audits)
	}
	web.JSON(w, http.StatusOK, h.withLink(r, updated.Value))
}

func (h handlers) delete(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "url")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	deleted, err := h.Store.DeleteURL(r.Context(), id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	h.Cache.URLWritten(r.Context(), deleted.Value)
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

// stats answers the url's statistics (see web.Stats).
func (h handlers) stats(w http.ResponseWriter, r *http.Request) {
	web.Stats(w, r, "url", h.Store.URLStats)
}
