package web

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
)

// Route is one method-and-path pattern of http.ServeMux and its handler.
type Route struct {
	Pattern string
	Handler http.HandlerFunc
}

// Router is a ServeMux whose every route is instrumented and logged, and whose 404 and
// 405 answers are JSON like every other error.
type Router struct {
	mux      *http.ServeMux
	metrics  *metrics.Metrics
	function string
}

// unmatchedPattern catches every request no route takes. Being the least specific
// pattern, it never shadows a route; serveUnmatched then tells a 405 from a 404.
const unmatchedPattern = "/"

// NewRouter returns an empty router for the named function.
func NewRouter(m *metrics.Metrics, function string) *Router {
	rt := &Router{mux: http.NewServeMux(), metrics: m, function: function}
	rt.mux.Handle(unmatchedPattern, m.Instrument("unmatched", http.HandlerFunc(rt.serveUnmatched)))
	return rt
}

// Handle adds routes.
func (rt *Router) Handle(routes ...Route) {
	for _, r := range routes {
		rt.mux.Handle(r.Pattern, rt.metrics.Instrument(r.Pattern, r.Handler))
	}
}

type ctxKey struct{}

// RequestID returns the id of the request being served, "" outside one.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// newRequestID keeps a sane incoming X-Request-Id (from Traefik or a client) so one id
// follows a request across hops, and makes one otherwise.
func newRequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 64 {
		return id
	}
	// Ids need to be unique, not unpredictable: math/rand/v2 is far cheaper per request.
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// ServeHTTP routes the request and writes one log line for it.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := newRequestID(r)
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))
	w.Header().Set("X-Request-Id", id)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}

	rt.mux.ServeHTTP(sw, r)
	route := r.Pattern
	if route == unmatchedPattern {
		route = "unmatched"
	}
	slog.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("function", rt.function),
		slog.String("request_id", id),
		slog.String("route", route),
		slog.String("method", r.Method),
		slog.Int("status", sw.status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	)
}

// methods are the ones a route may be declared for; HEAD is implied by GET.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// serveUnmatched answers a request no route took: 405 with an Allow header when the path
// has routes for other methods, 404 otherwise, both as JSON. It costs a few extra
// look-ups, but only on requests that are errors anyway.
func (rt *Router) serveUnmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	probe := r.Clone(r.Context())
	for _, m := range methods {
		probe.Method = m
		if _, pattern := rt.mux.Handler(probe); pattern != unmatchedPattern {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		Error(w, r, domain.Errorf(domain.NotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path))
		return
	}
	Error(w, r, domain.Errorf(domain.NotFound, "no route for %s %s", r.Method, r.URL.Path))
}

// statusWriter remembers the status for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
