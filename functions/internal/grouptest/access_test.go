package grouptest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/access"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/openapi/openapitest"
	"github.com/urlshort/shortener/shared/routing"
	"github.com/urlshort/shortener/shared/web"
)

// principals answers every key with the same principal, or err.
type principals struct {
	p   domain.Principal
	err error
}

func (s principals) FindPrincipal(context.Context, []byte) (domain.Principal, error) {
	return s.p, s.err
}

// TestAccessRefusalsFollowTheDocument sends every route the refusals of access control
// and limits (401, 403, 429, and 503 when keys cannot be looked up), through the real
// guard in the real router, and checks each answer against the OpenAPI document: the
// group tests run with access control off, so they never see these.
func TestAccessRefusalsFollowTheDocument(t *testing.T) {
	doc, err := openapitest.Document()
	if err != nil {
		t.Fatal(err)
	}
	patterns := publicPatterns()
	v := openapitest.New(doc, patterns)
	secret, _, _ := access.NewKey()
	refuse := func(w http.ResponseWriter, r *http.Request, _ string, _ bool) bool {
		access.Refuse(w, r, access.Decision{Limit: 10, Reset: 6 * time.Second, RetryAfter: 6 * time.Second})
		return false
	}
	cases := []struct {
		name   string
		o      access.Options
		key    string
		status int
		routes func(routing.Access, string) bool
	}{
		{"NoKey", access.Options{Keys: true}, "", 401,
			func(a routing.Access, _ string) bool { return a != routing.Open }},
		{"UnknownKey", access.Options{Keys: true, Store: principals{err: domain.Errorf(domain.NotFound, "no")}}, secret, 401,
			func(a routing.Access, _ string) bool { return a != routing.Open }},
		{"ReadKey", access.Options{Keys: true, Store: principals{p: domain.Principal{KeyID: 1, Scope: domain.ScopeRead}}}, secret, 403,
			func(a routing.Access, _ string) bool { return a == routing.Write || a == routing.Admin }},
		{"KeyWithoutScope", access.Options{Keys: true, Store: principals{p: domain.Principal{KeyID: 1}}}, secret, 403,
			func(a routing.Access, _ string) bool { return a != routing.Open }},
		{"WriteKeyOnAPIKeys", access.Options{Keys: true, Store: principals{p: domain.Principal{KeyID: 1, Scope: domain.ScopeWrite}}}, secret, 403,
			func(a routing.Access, _ string) bool { return a == routing.Admin }},
		{"KeysUnavailable", access.Options{Keys: true, Store: principals{err: domain.Unavailablef(context.DeadlineExceeded, "postgres down")}}, secret, 503,
			func(a routing.Access, _ string) bool { return a != routing.Open }},
		{"WriteLimit", access.Options{Keys: true, Store: principals{p: domain.Principal{KeyID: 1, Scope: domain.ScopeAdmin}}, Limits: refuse}, secret, 429,
			func(a routing.Access, p string) bool { return a != routing.Open && !strings.HasPrefix(p, "GET ") }},
		{"RedirectLimit", access.Options{Limits: refuse}, "", 429,
			func(_ routing.Access, p string) bool { return strings.Contains(p, "{short_code}") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := web.NewRouter(metrics.New(), "access")
			rt.SetGuard(access.NewGuard(c.o))
			var routes []web.Route
			for _, p := range patterns {
				routes = append(routes, web.Route{Pattern: p, Handler: func(w http.ResponseWriter, r *http.Request) {
					t.Errorf("%s reached its handler", p)
				}})
			}
			rt.Handle(routes...)
			srv := httptest.NewServer(rt)
			t.Cleanup(srv.Close)
			sent := 0
			for _, p := range patterns {
				if !c.routes(routing.AccessOf(p), p) {
					continue
				}
				method, path, _ := strings.Cut(p, " ")
				path = strings.NewReplacer("{id}", "1", "{short_code}", "abc123").Replace(path)
				methods := []string{method}
				if method == http.MethodGet && strings.Contains(p, "{short_code}") {
					methods = append(methods, http.MethodHead)
				}
				for _, m := range methods {
					req, err := http.NewRequest(m, srv.URL+path, nil)
					if err != nil {
						t.Fatal(err)
					}
					if c.key != "" {
						req.Header.Set("Authorization", "Bearer "+c.key)
					}
					res, err := srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != c.status {
						t.Errorf("%s %s: %d %s, want %d", m, path, res.StatusCode, body, c.status)
					}
					x := openapitest.Exchange{Request: req, Status: res.StatusCode, Header: res.Header, Body: body}
					if err := v.Check(x); err != nil {
						t.Errorf("OpenAPI: %s %s: %v", m, path, err)
					}
					sent++
				}
			}
			if sent == 0 {
				t.Fatal("no route to send to")
			}
		})
	}
}
