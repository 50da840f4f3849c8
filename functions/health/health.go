// Package health answers liveness, readiness, metrics and the API's OpenAPI document.
// Every function mounts these routes on its own address; the health function serves only
// them.
package health

import (
	"context"
	"net/http"
	"time"

	"github.com/urlshort/shortener/shared/openapi"
	"github.com/urlshort/shortener/shared/web"
)

// Pinger is a dependency that can be checked.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Deps is what the health routes need. Cache may be nil (no Valkey configured).
type Deps struct {
	DB      Pinger
	Cache   Pinger
	Metrics http.Handler
	// Observe records each check's outcome (dependency name, up).
	Observe func(dependency string, up bool)
}

// checkTimeout keeps a readiness probe short even when a dependency hangs.
const checkTimeout = time.Second

// Routes returns the health routes.
func Routes(d Deps) []web.Route {
	return []web.Route{
		{Pattern: "GET /health", Handler: live},
		{Pattern: "GET /ready", Handler: d.ready},
		{Pattern: "GET /metrics", Handler: d.Metrics.ServeHTTP},
		{Pattern: "GET /openapi.json", Handler: describe},
	}
}

// describe answers the OpenAPI document of the whole public API, which the routing table
// sends to the health function.
func describe(w http.ResponseWriter, _ *http.Request) {
	web.Raw(w, http.StatusOK, openapi.JSON())
}

// live answers while the process serves; it calls no dependency.
func live(w http.ResponseWriter, _ *http.Request) {
	web.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
	Error  string            `json:"error,omitempty"`
}

// ready checks PostgreSQL (required) and Valkey (optional: down is "degraded", still 200).
func (d Deps) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), checkTimeout)
	defer cancel()
	res := readiness{Status: "ok", Checks: map[string]string{"postgres": "ok", "valkey": "ok"}}
	pgUp := d.DB.Ping(ctx) == nil
	vkUp := d.Cache != nil && d.Cache.Ping(ctx) == nil
	if d.Observe != nil {
		d.Observe("postgres", pgUp)
		d.Observe("valkey", vkUp)
	}
	if !vkUp {
		res.Status, res.Checks["valkey"] = "degraded", "degraded"
	}
	if !pgUp {
		res.Status, res.Checks["postgres"] = "unavailable", "unavailable"
		res.Error = "postgres is unreachable"
		w.Header().Set("Retry-After", "1")
		web.JSON(w, http.StatusServiceUnavailable, res)
		return
	}
	web.JSON(w, http.StatusOK, res)
}
