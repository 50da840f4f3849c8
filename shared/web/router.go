package web

import (
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
	// Quiet routes log their successful answers at debug level, not info: a route that
	// keeps its own durable record of every request (the redirect's click event) would
	// otherwise write each one twice, tens of thousands of lines a second on the hot
	// path. Their errors and refusals (status 400 and up) still log at info.
	Quiet bool
}

// Router is a ServeMux whose every route is instrumented and logged, and whose 404 and
// 405 answers are JSON like every other error.
type Router struct {
	mux     *http.ServeMux
	metrics *metrics.Metrics
	log     *slog.Logger    // the default logger, with the function's name pre-encoded
	quiet   map[string]bool // patterns of the Quiet routes
	guard   Guard
	inner   http.Handler // the mux, or what Wrap put around it
}

// Guard admits a request to the route with pattern, or answers it itself (401, 403,
// 429) and returns false. The request it returns goes on to the handler, carrying what
// the guard learnt (the principal). It sits in the router so that every route of every
// function passes it, and no handler needs to remember it.
type Guard interface {
	Admit(w http.ResponseWriter, r *http.Request, pattern string) (*http.Request, bool)
}

// SetGuard puts g in front of every route added after it.
func (rt *Router) SetGuard(g Guard) { rt.guard = g }

// Wrap puts a handler around the whole router, inside its logging and metrics: what it
// answers (CORS preflights) is counted and logged like every other request.
func (rt *Router) Wrap(mw func(http.Handler) http.Handler) { rt.inner = mw(rt.mux) }

// unmatchedPattern catches every request no route takes. Being the least specific
// pattern, it never shadows a route; serveUnmatched then tells a 405 from a 404.
const unmatchedPattern = "/"

// NewRouter returns an empty router for the named function.
func NewRouter(m *metrics.Metrics, function string) *Router {
	rt := &Router{
		mux: http.NewServeMux(), metrics: m, log: slog.Default().With("function", function),
		quiet: map[string]bool{},
	}
	rt.mux.HandleFunc(unmatchedPattern, rt.serveUnmatched)
	rt.inner = rt.mux
	return rt
}

// Handle adds routes.
func (rt *Router) Handle(routes ...Route) {
	for _, r := range routes {
		var h http.Handler = r.Handler
		if g := rt.guard; g != nil {
			pattern, next := r.Pattern, r.Handler
			h = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req, ok := g.Admit(w, req, pattern); ok {
					next(w, req)
				}
			})
		}
		rt.mux.Handle(r.Pattern, h)
		if r.Quiet {
			rt.quiet[r.Pattern] = true
		}
	}
}

// Every answer says its Content-Type is to be believed, so no browser sniffs a JSON error
// that echoes client text into HTML. One shared slice: no allocation per request.
const nosniffHeader = "X-Content-Type-Options"

var nosniff = []string{"nosniff"}

// requestIDHeader carries the request id in and out.
const requestIDHeader = "X-Request-Id"

// RequestID returns the id of the request being served. The router leaves it in the
// request's header, which costs less than a context value and a request copy.
func RequestID(r *http.Request) string {
	return r.Header.Get(requestIDHeader)
}

// requestID keeps a sane incoming X-Request-Id (from Traefik or a client) so one id
// follows a request across hops, and makes one otherwise.
func requestID(r *http.Request) (id string, fresh bool) {
	if id := r.Header.Get(requestIDHeader); id != "" && len(id) <= 64 {
		return id, false
	}
	// Ids need to be unique, not unpredictable: math/rand/v2 is far cheaper per request.
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:]), true
}

// served is what the router keeps of one request, in one allocation: the hot path pays
// for every one.
type served struct {
	statusWriter
	id [1]string // the X-Request-Id header value
}

// ServeHTTP routes the request, then counts it and writes one log line for it (at debug
// level for a Quiet route's success), under its route pattern ("unmatched" when no route
// took it), never the path, which carries ids.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rt.metrics.RequestStarted()
	defer rt.metrics.RequestDone()
	s := &served{statusWriter: statusWriter{ResponseWriter: w, status: http.StatusOK}}
	id, fresh := requestID(r)
	s.id[0] = id
	// Set as map entries (the key is canonical already) sharing one slice: Header.Set
	// would canonicalize and allocate each time.
	h := w.Header()
	h[requestIDHeader] = s.id[:]
	h[nosniffHeader] = nosniff
	if fresh {
		r.Header[requestIDHeader] = s.id[:] // for RequestID
	}

	rt.inner.ServeHTTP(&s.statusWriter, r)
	route := r.Pattern
	if route == unmatchedPattern || route == "" { // "": answered around the mux (a preflight)
		route = "unmatched"
	}
	elapsed := time.Since(start)
	rt.metrics.ObserveRequest(route, r.Method, s.status, elapsed)
	// The handler is called directly, as slog's docs show for wrappers: Logger would read
	// the clock again and capture a call stack no line of ours shows.
	ctx := r.Context()
	level := slog.LevelInfo
	if s.status < http.StatusBadRequest && rt.quiet[route] {
		level = slog.LevelDebug
	}
	if h := rt.log.Handler(); h.Enabled(ctx, level) {
		rec := slog.NewRecord(start.Add(elapsed), level, "request", 0)
		rec.AddAttrs(
			slog.String("request_id", s.id[0]),
			slog.String("route", route),
			slog.String("method", r.Method),
			slog.Int("status", s.status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
		)
		_ = h.Handle(ctx, rec)
	}
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
