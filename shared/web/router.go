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
	log     *slog.Logger // the default logger, with the function's name pre-encoded

	// root is the route "GET /{name}" if there is one: the redirect, the hot path. A
	// request only it can take skips the mux's look-up (see rootSegment), which costs
	// as much as the rest of the routing. first holds the first path segment of every
	// other route; rootOff is set by a route the shortcut cannot rule out (a host, or a
	// wildcard first segment).
	root    *rootRoute
	first   map[string]bool
	rootOff bool
	quiet   map[string]bool // patterns of the Quiet routes
}

// rootRoute is a route of the form "GET /{name}".
type rootRoute struct {
	pattern, name string
	handler       http.Handler
}

// unmatchedPattern catches every request no route takes. Being the least specific
// pattern, it never shadows a route; serveUnmatched then tells a 405 from a 404.
const unmatchedPattern = "/"

// NewRouter returns an empty router for the named function.
func NewRouter(m *metrics.Metrics, function string) *Router {
	rt := &Router{
		mux: http.NewServeMux(), metrics: m, log: slog.Default().With("function", function),
		first: map[string]bool{}, quiet: map[string]bool{},
	}
	rt.mux.HandleFunc(unmatchedPattern, rt.serveUnmatched)
	return rt
}

// Handle adds routes.
func (rt *Router) Handle(routes ...Route) {
	for _, r := range routes {
		rt.mux.Handle(r.Pattern, r.Handler) // panics on a bad or conflicting pattern first
		if r.Quiet {
			rt.quiet[r.Pattern] = true
		}
		method, path, found := strings.Cut(r.Pattern, " ")
		if !found {
			method, path = "", r.Pattern
		}
		seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
		switch {
		case !strings.HasPrefix(path, "/"):
			rt.rootOff = true // a host pattern
		case method == http.MethodGet && strings.HasPrefix(seg, "{") && len(path) == 1+len(seg) &&
			!strings.ContainsAny(seg, ".$"):
			rt.root = &rootRoute{pattern: r.Pattern, name: seg[1 : len(seg)-1], handler: r.Handler}
		case strings.HasPrefix(seg, "{"):
			rt.rootOff = true
		default:
			rt.first[seg] = true
		}
	}
}

// rootSegment returns the path's one segment when the root route is the only one that
// can take the request, so ServeMux would pick it too: a GET or HEAD of a clean,
// unescaped one-segment path of the short-code alphabet that no other route begins
// with. Anything else goes through the mux.
func (rt *Router) rootSegment(r *http.Request) (string, bool) {
	if rt.root == nil || rt.rootOff || r.Method != http.MethodGet && r.Method != http.MethodHead ||
		r.URL.RawPath != "" || len(r.URL.Path) < 2 || r.URL.Path[0] != '/' {
		return "", false
	}
	seg := r.URL.Path[1:]
	for i := 0; i < len(seg); i++ {
		if c := seg[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return seg, !rt.first[seg]
}

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
	w.Header()[requestIDHeader] = s.id[:]
	if fresh {
		r.Header[requestIDHeader] = s.id[:] // for RequestID
	}

	if seg, ok := rt.rootSegment(r); ok {
		r.Pattern = rt.root.pattern
		r.SetPathValue(rt.root.name, seg)
		rt.root.handler.ServeHTTP(&s.statusWriter, r)
	} else {
		rt.mux.ServeHTTP(&s.statusWriter, r)
	}
	route := r.Pattern
	if route == unmatchedPattern {
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
