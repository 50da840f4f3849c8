package function

import (
	"net/http"
	"regexp"
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
				continue // every function answers /metrics on its own address; Traefik does not route it
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

// TestMounted checks which groups each function serves.
func TestMounted(t *testing.T) {
	if got := Mounted(""); len(got) != 4 {
		t.Errorf("all-in-one mounts %v", got)
	}
	if got := Mounted(routing.Health); len(got) != 0 {
		t.Errorf("health mounts %v besides health", got)
	}
	for _, n := range routing.All {
		if !known(n) {
			t.Errorf("%s unknown", n)
		}
	}
}
