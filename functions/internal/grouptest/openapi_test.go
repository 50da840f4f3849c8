package grouptest_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/urlshort/shortener/functions/events"
	eventswriter "github.com/urlshort/shortener/functions/events-writer"
	"github.com/urlshort/shortener/functions/health"
	"github.com/urlshort/shortener/functions/redirect"
	"github.com/urlshort/shortener/functions/urls"
	"github.com/urlshort/shortener/functions/users"
	"github.com/urlshort/shortener/shared/openapi"
	"github.com/urlshort/shortener/shared/openapi/openapitest"
	"github.com/urlshort/shortener/shared/routing"
	"github.com/urlshort/shortener/shared/web"
)

// keys stands in for the store behind /api-keys, whose routes exist only with one.
type keys struct{ users.KeyStore }

// publicPatterns are the routes of every public function, as each declares them.
func publicPatterns() []string {
	groups := [][]web.Route{
		health.Routes(health.Deps{Metrics: http.NotFoundHandler()}),
		users.Routes(users.Deps{Keys: keys{}}),
		urls.Routes(urls.Deps{}),
		redirect.Routes(redirect.Deps{}),
		events.Routes(events.Deps{}),
	}
	var out []string
	for _, rs := range groups {
		for _, r := range rs {
			out = append(out, r.Pattern)
		}
	}
	return out
}

// scopeOf is the role a security requirement names for each level of routing.AccessOf.
var scopeOf = map[routing.Access]string{routing.Read: "read", routing.Write: "write", routing.Admin: "admin"}

// documentProblems lists how doc and the routes disagree: a route without an operation,
// an operation without a route (a HEAD operation needs a GET route, which answers HEAD),
// or a security requirement other than routing.AccessOf's: none on an open route, a
// bearer or an X-Api-Key key with the route's scope on every other.
func documentProblems(doc *openapi3.T, patterns []string) []string {
	var problems []string
	if len(doc.Security) > 0 {
		problems = append(problems, "the document has a top-level security requirement: each operation says its own")
	}
	for _, p := range patterns {
		method, path, _ := strings.Cut(p, " ")
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(method) == nil {
			problems = append(problems, fmt.Sprintf("route %q has no operation", p))
			continue
		}
		for _, m := range []string{method, http.MethodHead} {
			op := item.GetOperation(m)
			if op == nil {
				continue
			}
			if m == http.MethodHead && method != http.MethodGet {
				continue
			}
			if msg := securityProblem(op, routing.AccessOf(p)); msg != "" {
				problems = append(problems, fmt.Sprintf("%s %s: %s", m, path, msg))
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			want := method
			if method == http.MethodHead {
				want = http.MethodGet
			}
			if !slices.Contains(patterns, want+" "+path) {
				problems = append(problems, fmt.Sprintf("operation %s %s has no route", method, path))
			}
		}
	}
	slices.Sort(problems)
	return problems
}

func securityProblem(op *openapi3.Operation, access routing.Access) string {
	if access == routing.Open {
		if op.Security == nil || len(*op.Security) > 0 {
			return fmt.Sprintf("an open route must say security: [], not %v", op.Security)
		}
		return ""
	}
	scope := scopeOf[access]
	want := openapi3.SecurityRequirements{{"bearerAuth": {scope}}, {"apiKeyHeader": {scope}}}
	if op.Security == nil || fmt.Sprint(*op.Security) != fmt.Sprint(want) {
		return fmt.Sprintf("security %v, want %v (scope %s)", op.Security, want, scope)
	}
	return ""
}

// TestDocumentFollowsTheRoutingTable checks that every rule of the routing table leads to
// paths the document describes, and that each path the document describes is one the
// table sends to a function that serves it (/metrics aside: every function answers it on
// its own address, and Traefik routes none).
func TestDocumentFollowsTheRoutingTable(t *testing.T) {
	doc, err := openapitest.Document()
	if err != nil {
		t.Fatal(err)
	}
	served := map[string][]web.Route{
		routing.Health:   health.Routes(health.Deps{Metrics: http.NotFoundHandler()}),
		routing.Users:    users.Routes(users.Deps{Keys: keys{}}),
		routing.URLs:     urls.Routes(urls.Deps{}),
		routing.Redirect: redirect.Routes(redirect.Deps{}),
		routing.Events:   events.Routes(events.Deps{}),
	}
	sample := strings.NewReplacer("{id}", "1", "{short_code}", "abc123")
	matched := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		concrete := sample.Replace(path)
		for _, rule := range routing.Table {
			if rule.Matches(concrete) {
				matched[rule.Path] = true
			}
		}
		if path == "/metrics" {
			continue
		}
		fn := routing.FunctionFor(concrete)
		for method := range item.Operations() {
			if method == http.MethodHead {
				method = http.MethodGet
			}
			if !slices.ContainsFunc(served[fn], func(r web.Route) bool { return r.Pattern == method+" "+path }) {
				t.Errorf("the routing table sends %s %s to %s, which does not serve it", method, path, fn)
			}
		}
	}
	for _, rule := range routing.Table {
		if !matched[rule.Path] {
			t.Errorf("routing rule %q leads to no path of the document", rule.Path)
		}
	}
}

// TestDocumentCoversTheRoutes checks that the OpenAPI document has an operation for every
// route of every public function and no other, each with the security the routing table's
// AccessOf gives the route.
func TestDocumentCoversTheRoutes(t *testing.T) {
	doc, err := openapitest.Document()
	if err != nil {
		t.Fatal(err)
	}
	patterns := publicPatterns()
	for _, p := range documentProblems(doc, patterns) {
		t.Error(p)
	}
	// The events-writer has no public route: the document must not describe it.
	for _, r := range eventswriter.Routes(eventswriter.Deps{}) {
		_, path, _ := strings.Cut(r.Pattern, " ")
		if path != "/" && doc.Paths.Value(path) != nil {
			t.Errorf("the document describes the events-writer's %q", r.Pattern)
		}
	}
	if doc.Paths.Value("/") != nil {
		t.Error(`the document describes "/", the events-writer's receiver`)
	}

	// The check itself must catch a wrong document, or this test could not fail.
	wrong := map[string]func(doc *openapi3.T){
		"RouteWithoutOperation": func(doc *openapi3.T) { doc.Paths.Value("/users/{id}").Delete = nil },
		"OperationWithoutRoute": func(doc *openapi3.T) {
			doc.Paths.Value("/users/{id}").Patch = doc.Paths.Value("/users/{id}").Put
		},
		"OpenRouteWithAKey": func(doc *openapi3.T) {
			doc.Paths.Value("/health").Get.Security = &openapi3.SecurityRequirements{{"bearerAuth": {}}}
		},
		"OpenRouteWithoutSaying": func(doc *openapi3.T) { doc.Paths.Value("/{short_code}").Head.Security = nil },
		"WriteRouteWithReadScope": func(doc *openapi3.T) {
			doc.Paths.Value("/urls").Post.Security = doc.Paths.Value("/urls").Get.Security
		},
		"AdminRouteWithoutAPIKeyHeader": func(doc *openapi3.T) {
			doc.Paths.Value("/api-keys").Get.Security = &openapi3.SecurityRequirements{{"bearerAuth": {"admin"}}}
		},
		"KeyedRouteOpen": func(doc *openapi3.T) {
			doc.Paths.Value("/events").Get.Security = &openapi3.SecurityRequirements{}
		},
	}
	for name, change := range wrong {
		t.Run("Catches"+name, func(t *testing.T) {
			doc, err := openapitest.Load(openapi.JSON())
			if err != nil {
				t.Fatal(err)
			}
			change(doc)
			if len(documentProblems(doc, patterns)) == 0 {
				t.Error("a wrong document passes the check")
			}
		})
	}
}
