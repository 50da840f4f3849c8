// Package routing is the one table that says which function answers which path. The
// all-in-one server, each function's own mux and the Traefik routes of the platform are all
// derived from it or tested against it, so they cannot drift apart.
package routing

import "strings"

// Function names, which are also the Knative Service names (K_SERVICE).
const (
	Health       = "health"
	Users        = "users"
	URLs         = "urls"
	Redirect     = "redirect"
	Events       = "events"
	EventsWriter = "events-writer"
)

// Public lists the functions that clients reach through Traefik, in the order their path
// rules are tried (most specific first).
var Public = []string{Health, Users, Redirect, URLs, Events}

// All lists every function, the events-writer included.
var All = []string{Health, Users, URLs, Redirect, Events, EventsWriter}

// Rule maps a path shape to the function that answers it. Path is one of:
// an exact path ("/health"), a prefix ending in "/*" ("/users/*" matches "/users/1" and
// deeper), or a shape with "*" standing for exactly one segment ("/urls/*/redirect").
type Rule struct {
	Path     string
	Function string
}

// Table is the spec's routing table in order of precedence. Anything no rule matches goes
// to Fallback (the short-code redirect).
var Table = []Rule{
	{"/health", Health},
	{"/ready", Health},
	{"/openapi.json", Health},
	{"/users", Users},
	{"/users/*", Users},
	{"/api-keys", Users},
	{"/api-keys/*", Users},
	{"/urls/*/redirect", Redirect},
	{"/urls", URLs},
	{"/urls/*", URLs},
	{"/events", Events},
	{"/events/*", Events},
}

// Fallback answers every path no rule matches: "/{short_code}".
const Fallback = Redirect

// FunctionFor returns the function that answers path.
func FunctionFor(path string) string {
	for _, r := range Table {
		if r.Matches(path) {
			return r.Function
		}
	}
	return Fallback
}

// Matches reports whether path has the rule's shape.
func (r Rule) Matches(path string) bool {
	if prefix, ok := strings.CutSuffix(r.Path, "/*"); ok && !strings.Contains(prefix, "*") {
		return strings.HasPrefix(path, prefix+"/")
	}
	want := strings.Split(r.Path, "/")
	got := strings.Split(path, "/")
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] != "*" && want[i] != got[i] {
			return false
		}
		if want[i] == "*" && got[i] == "" {
			return false
		}
	}
	return true
}

// Access is what a route asks of the caller when access control is on.
type Access int

// The levels of access, weakest first. Read, Write and Admin are the API key scopes.
const (
	Open  Access = iota // no key: redirects, probes, the API description
	Read                // a key with the read scope: every GET
	Write               // write: creating, changing and deleting users, URLs and events
	Admin               // admin: /api-keys
)

// public lists the routes, as ServeMux patterns, that need no key. The events-writer's
// receiver is among them: only the broker reaches it (no public route, and a
// NetworkPolicy in the cluster), and it authenticates nothing a client sends. /metrics is
// the function's own address, scraped by Prometheus, never routed by Traefik.
var public = map[string]bool{
	"GET /health":                     true,
	"GET /ready":                      true,
	"GET /metrics":                    true,
	"GET /openapi.json":               true,
	"GET /{short_code}":               true,
	"GET /urls/{short_code}/redirect": true,
	"POST /":                          true,
}

// AccessOf returns what the route with a ServeMux pattern ("GET /urls/{id}") needs: the
// one table every function's router consults, so no handler decides it.
func AccessOf(pattern string) Access {
	method, path, _ := strings.Cut(pattern, " ")
	switch {
	case public[pattern]:
		return Open
	case path == "/api-keys" || strings.HasPrefix(path, "/api-keys/"):
		return Admin
	case method == "GET" || method == "HEAD":
		return Read
	}
	return Write
}
