package access

import (
	"net/http"
	"strings"
)

// CORS answers browsers on other origins (CORS_ALLOWED_ORIGINS): it tells them which of
// our answers they may read and answers their preflights. A nil *CORS is off.
//
// It never sends Access-Control-Allow-Credentials: API keys travel in a header the page
// sets itself, not in cookies, so no answer needs the browser's credentials, and "*"
// must never be combined with them.
type CORS struct {
	any     bool
	origins map[string]bool // lower case, as browsers serialise an origin
}

// NewCORS returns CORS for origins ("https://app.example.com"), or for any origin when
// one of them is "*"; nil (off) when there are none. Case and a trailing slash are
// ignored, since an Origin header has neither.
func NewCORS(origins []string) *CORS {
	c := &CORS{origins: map[string]bool{}}
	for _, o := range origins {
		o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
		switch o {
		case "":
		case "*":
			c.any = true
		default:
			c.origins[o] = true
		}
	}
	if !c.any && len(c.origins) == 0 {
		return nil
	}
	return c
}

// The answers' header values, one shared slice each (the router does the same for
// nosniff): full slices, so a handler that adds to one gets a copy.
var (
	corsAnyOrigin = []string{"*"}
	corsVary      = []string{"Origin"}
	// Expose: the headers a page may read beyond the always-readable ones.
	corsExpose = []string{"X-Total-Count, X-Cache, X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, Location"}
	// Methods and headers a preflight may ask for: every method and request header of
	// the API.
	corsMethods = []string{"GET, HEAD, POST, PUT, DELETE, OPTIONS"}
	corsHeaders = []string{"Authorization, X-Api-Key, Content-Type, X-Request-Id"}
	// corsMaxAge lets a browser keep a preflight's answer for ten minutes (the most
	// Chromium honours is two hours, Firefox a day).
	corsMaxAge = []string{"600"}
)

// allowed reports whether origin may read our answers.
func (c *CORS) allowed(origin string) bool {
	return c.any || c.origins[origin] || c.origins[strings.ToLower(origin)]
}

// Wrap returns next with CORS: a request from an allowed Origin gets
// Access-Control-Allow-Origin (its origin, or "*" when any is allowed), Vary: Origin and
// Access-Control-Expose-Headers; a preflight from one (OPTIONS with
// Access-Control-Request-Method) is answered 204 here, with the methods, headers and
// Max-Age, before any authentication, as the spec wants preflights public. Anything else,
// a preflight from another origin included, goes to next unchanged, which answers it as it
// answers any request (405 for OPTIONS). With a list of origins, every answer carries
// Vary: Origin, since whether it allows CORS depends on the Origin: a shared cache must
// not hand one origin's answer to another.
func (c *CORS) Wrap(next http.Handler) http.Handler {
	if c == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !c.allowed(origin) {
			if !c.any {
				w.Header()["Vary"] = append(w.Header()["Vary"], "Origin")
			}
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		if c.any {
			h["Access-Control-Allow-Origin"] = corsAnyOrigin
		} else {
			h["Access-Control-Allow-Origin"] = []string{origin}
		}
		if len(h["Vary"]) == 0 {
			h["Vary"] = corsVary
		} else {
			h["Vary"] = append(h["Vary"], "Origin")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h["Access-Control-Allow-Methods"] = corsMethods
			h["Access-Control-Allow-Headers"] = corsHeaders
			h["Access-Control-Max-Age"] = corsMaxAge
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h["Access-Control-Expose-Headers"] = corsExpose
		next.ServeHTTP(w, r)
	})
}
