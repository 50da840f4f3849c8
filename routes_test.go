package function

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/urlshort/shortener/functions/events"
	eventswriter "github.com/urlshort/shortener/functions/events-writer"
	"github.com/urlshort/shortener/functions/health"
	"github.com/urlshort/shortener/functions/redirect"
	"github.com/urlshort/shortener/functions/urls"
	"github.com/urlshort/shortener/functions/users"
	"github.com/urlshort/shortener/shared/routing"
	"github.com/urlshort/shortener/shared/web"
)

var wildcard = regexp.MustCompile(`\{[^}]+\}`)

// TestRoutesAgreeWithTheRoutingTable checks that every route a function serves is a path
// the routing table sends to that function, so the all-in-one mux, each function's mux
// and the Traefik routes cannot disagree.
func TestRoutesAgreeWithTheRoutingTable(t *testing.T) {
	groups := map[string][]web.Route{
		routing.Health:   health.Routes(health.Deps{Metrics: http.NotFoundHandler()}),
		routing.Users:    users.Routes(users.Deps{}),
		routing.URLs:     urls.Routes(urls.Deps{}),
		routing.Redirect: redirect.Routes(redirect.Deps{}),
		routing.Events:   events.Routes(events.Deps{}),
	}
	for name, routes := range groups {
		for _, r := range routes {
			_, path, _ := strings.Cut(r.Pattern, " ")
			if name == routing.Health && path == "/metrics" {
				continue // every function answers /metrics on its own address; from outside, /metrics is a path like any other and reaches the catch-all (redirect), whose own metrics answer
			}
			sample := wildcard.ReplaceAllString(path, "abc123")
			if got := routing.FunctionFor(sample); got != name {
				t.Errorf("%s serves %q but the routing table sends %q to %s", name, r.Pattern, sample, got)
			}
		}
	}
	for _, r := range eventswriter.Routes(eventswriter.Deps{}) {
		_, path, _ := strings.Cut(r.Pattern, " ")
		if got := routing.FunctionFor(path); got == routing.EventsWriter {
			t.Errorf("the routing table routes %q to the events-writer, which must have no public route", path)
		}
	}
}

// TestMounted checks, for the all-in-one server and every function, that health's routes
// plus the groups Mounted names are exactly the routes whose paths the routing table sends
// to the functions that process answers for, each once: the events-writer's only in its
// own process, health's in every one, nothing of another group anywhere.
func TestMounted(t *testing.T) {
	for _, p := range mountedProblems(Mounted) {
		t.Error(p)
	}
	for _, n := range routing.All {
		if !known(n) {
			t.Errorf("Start would refuse %q", n)
		}
	}
	if known("nope") {
		t.Error(`Start would take the unknown function "nope"`)
	}
	// The check itself must catch a wrong Mounted, or this test could not fail.
	wrong := map[string]func(string) []string{
		"AllInOneWithoutEvents": func(n string) []string {
			if n == "" {
				return []string{routing.Users, routing.URLs, routing.Redirect}
			}
			return Mounted(n)
		},
		"AllInOneWithTheWriter": func(n string) []string {
			if n == "" {
				return append(Mounted(n), routing.EventsWriter)
			}
			return Mounted(n)
		},
		"HealthMountsUsers": func(n string) []string {
			if n == routing.Health {
				return []string{routing.Users}
			}
			return Mounted(n)
		},
		"UsersMountsURLs": func(n string) []string {
			if n == routing.Users {
				return []string{routing.URLs}
			}
			return Mounted(n)
		},
		"WriterMountsNothing": func(n string) []string {
			if n == routing.EventsWriter {
				return nil
			}
			return Mounted(n)
		},
		"EventsMountedTwice": func(n string) []string {
			if n == routing.Events {
				return []string{routing.Events, routing.Events}
			}
			return Mounted(n)
		},
	}
	for name, mounted := range wrong {
		t.Run("Catches"+name, func(t *testing.T) {
			if len(mountedProblems(mounted)) == 0 {
				t.Error("a wrong Mounted passes the check")
			}
		})
	}
}

// mountedProblems lists how the routes mounted(name) gives each function (besides health's,
// which Start always mounts) differ from the routes it should serve: every known route
// whose path the routing table sends to one of the functions that process answers for.
func mountedProblems(mounted func(string) []string) []string {
	healthRoutes := health.Routes(health.Deps{Metrics: http.NotFoundHandler()})
	writer := eventswriter.Routes(eventswriter.Deps{})
	groups := map[string][]web.Route{
		routing.Users:        users.Routes(users.Deps{}),
		routing.URLs:         urls.Routes(urls.Deps{}),
		routing.Redirect:     redirect.Routes(redirect.Deps{}),
		routing.Events:       events.Routes(events.Deps{}),
		routing.EventsWriter: writer,
	}
	// owner is the function a pattern belongs to by the routing table: /metrics is health's
	// (every process answers it on its own address), the writer's routes are the writer's
	// (the table has no rule for it, on purpose).
	owner := func(pattern string) string {
		for _, r := range writer {
			if r.Pattern == pattern {
				return routing.EventsWriter
			}
		}
		_, path, _ := strings.Cut(pattern, " ")
		if path == "/metrics" {
			return routing.Health
		}
		return routing.FunctionFor(wildcard.ReplaceAllString(path, "abc123"))
	}
	all := slices.Clone(healthRoutes)
	for _, routes := range groups {
		all = append(all, routes...)
	}

	var problems []string
	for _, name := range append([]string{""}, routing.All...) {
		serves := []string{routing.Health, name}
		if name == "" {
			serves = routing.Public // the all-in-one server: every public function
		}
		var want, got []string
		for _, r := range all {
			if slices.Contains(serves, owner(r.Pattern)) {
				want = append(want, r.Pattern)
			}
		}
		for _, r := range healthRoutes {
			got = append(got, r.Pattern)
		}
		for _, g := range mounted(name) {
			routes, ok := groups[g]
			if !ok {
				problems = append(problems, fmt.Sprintf("function %q mounts %q, which is no route group", name, g))
			}
			for _, r := range routes {
				got = append(got, r.Pattern)
			}
		}
		if missing, extra := difference(want, got), difference(got, want); len(missing)+len(extra) > 0 {
			problems = append(problems, fmt.Sprintf("function %q (groups %q): missing %q, extra %q", name, mounted(name), missing, extra))
		}
	}
	return problems
}

// difference returns what a holds more often than b: a duplicate counts.
func difference(a, b []string) []string {
	left := slices.Clone(b)
	var out []string
	for _, x := range a {
		if i := slices.Index(left, x); i >= 0 {
			left = slices.Delete(left, i, i+1)
		} else {
			out = append(out, x)
		}
	}
	return out
}
