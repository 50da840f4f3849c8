// Package events serves the audit log: list, read, and post an event directly.
package events

import (
	"context"
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

// Store is the part of the store the event routes use.
type Store interface {
	CreateEvent(ctx context.Context, n domain.NewEvent) (domain.Event, error)
	FindEventByID(ctx context.Context, id int64) (domain.Event, error)
	FindEvents(ctx context.Context, f domain.EventFilter) ([]domain.Event, int64, error)
	ExportEvents(ctx context.Context, f domain.EventFilter, fn func(domain.Event) error) error
}

// Deps is what the event routes need.
type Deps struct {
	Store     Store
	BodyLimit int64
}

type handlers struct{ Deps }

// Routes returns the event routes. Lists are not cached: the log grows with every click,
// so a cached page would be stale at once and the one-second visibility promise broken.
func Routes(d Deps) []web.Route {
	h := handlers{d}
	return []web.Route{
		{Pattern: "GET /events", Handler: h.list},
		{Pattern: "GET /events/{id}", Handler: h.get},
		{Pattern: "POST /events", Handler: h.create},
	}
}

// maxEventType bounds event_type, which clients choose freely.
const maxEventType = 64

func (h handlers) create(w http.ResponseWriter, r *http.Request) {
	body, err := web.DecodeObject(w, r, h.BodyLimit)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	n := domain.NewEvent{}
	eventType := body.String("event_type", true)
	urlID := body.Int("url_id", true)
	n.UserID = body.Int("user_id", false)
	n.Details = body.JSONObject("details", false)
	if eventType != nil {
		if c := utf8.RuneCountInString(*eventType); c == 0 || c > maxEventType {
			body.Invalid("event_type", "must be 1 to 64 characters")
		}
	}
	if err := body.Err(); err != nil {
		web.Error(w, r, err)
		return
	}
	n.EventType, n.URLID = *eventType, *urlID
	e, err := h.Store.CreateEvent(r.Context(), n)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, e)
}

func (h handlers) get(w http.ResponseWriter, r *http.Request) {
	id, err := web.PathID(r, "id", "event")
	if err != nil {
		web.Error(w, r, err)
		return
	}
	e, err := h.Store.FindEventByID(r.Context(), id)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, e)
}

func (h handlers) list(w http.ResponseWriter, r *http.Request) {
	var f domain.EventFilter
	var err error
	if f.Page, err = web.PageOf(r); err == nil {
		if f.URLID, err = web.QueryInt(r, "url_id"); err == nil {
			f.UserID, err = web.QueryInt(r, "user_id")
		}
	}
	if err == nil {
		f.EventType, err = web.QueryString(r, "event_type", maxEventType)
	}
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if web.WantsCSV(r) {
		web.CSV(w, r, domain.EventsCSVHeader, func(write func([]string) error) error {
			return h.Store.ExportEvents(r.Context(), f, func(e domain.Event) error { return write(domain.EventRecord(e)) })
		})
		return
	}
	events, total, err := h.Store.FindEvents(r.Context(), f)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	if events == nil {
		events = []domain.Event{}
	}
	body, err := json.Marshal(events)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.List(w, body, total, f.Page.Paged())
}
