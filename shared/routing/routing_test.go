package routing_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/routing"
)

// TestFunctionFor walks the spec's routing table ("Routing" in api.md), including the
// paths where precedence decides.
func TestFunctionFor(t *testing.T) {
	cases := []struct {
		path string
		want string
	}{
		{"/health", routing.Health},
		{"/ready", routing.Health},
		{"/users", routing.Users},
		{"/users/", routing.Users},
		{"/users/5", routing.Users},
		{"/users/bulk", routing.Users},
		{"/users/5/anything/deeper", routing.Users},
		{"/urls/abc/redirect", routing.Redirect},
		{"/urls/5/redirect", routing.Redirect},
		{"/urls", routing.URLs},
		{"/urls/", routing.URLs},
		{"/urls/5", routing.URLs},
		{"/urls/abc/redirect/more", routing.URLs},
		{"/urls//redirect", routing.URLs}, // an empty segment is not a short code
		{"/urls/redirect", routing.URLs},
		{"/events", routing.Events},
		{"/events/", routing.Events},
		{"/events/7", routing.Events},
		{"/abc123", routing.Redirect},
		{"/", routing.Redirect},
		{"/usersx", routing.Redirect},
		{"/urlsabc", routing.Redirect},
		{"/eventsabc", routing.Redirect},
		{"/healthz", routing.Redirect},
		{"/metrics", routing.Redirect}, // each function serves its own /metrics, not Traefik
		{"/Users/5", routing.Redirect}, // paths are case-sensitive
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			if got := routing.FunctionFor(tc.path); got != tc.want {
				t.Errorf("FunctionFor(%q) = %q, want %q", tc.path, got, tc.want)
			}
		})
	}
}

func TestRuleMatches(t *testing.T) {
	cases := []struct {
		name string
		rule string
		path string
		want bool
	}{
		{"ExactMatches", "/health", "/health", true},
		{"ExactRejectsTrailingSlash", "/health", "/health/", false},
		{"ExactRejectsLonger", "/health", "/health/x", false},
		{"ExactRejectsPrefix", "/health", "/heal", false},
		{"ExactRejectsEmpty", "/health", "", false},
		{"PrefixMatchesChild", "/users/*", "/users/1", true},
		{"PrefixMatchesDeeper", "/users/*", "/users/1/2/3", true},
		{"PrefixMatchesTrailingSlash", "/users/*", "/users/", true},
		{"PrefixRejectsBare", "/users/*", "/users", false},
		{"PrefixRejectsLongerWord", "/users/*", "/usersx/1", false},
		{"SegmentMatchesOne", "/urls/*/redirect", "/urls/abc/redirect", true},
		{"SegmentRejectsEmpty", "/urls/*/redirect", "/urls//redirect", false},
		{"SegmentRejectsTwo", "/urls/*/redirect", "/urls/a/b/redirect", false},
		{"SegmentRejectsMissingTail", "/urls/*/redirect", "/urls/abc", false},
		{"SegmentRejectsTrailingSlash", "/urls/*/redirect", "/urls/abc/redirect/", false},
		{"SegmentRejectsOtherTail", "/urls/*/redirect", "/urls/abc/redirects", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := routing.Rule{Path: tc.rule, Function: "f"}
			if got := r.Matches(tc.path); got != tc.want {
				t.Errorf("Rule{%q}.Matches(%q) = %v, want %v", tc.rule, tc.path, got, tc.want)
			}
		})
	}
}

func TestTableNamesKnownFunctions(t *testing.T) {
	for _, r := range routing.Table {
		if !slices.Contains(routing.Public, r.Function) {
			t.Errorf("rule %q names %q, which is not a public function", r.Path, r.Function)
		}
	}
	if !slices.Contains(routing.Public, routing.Fallback) {
		t.Errorf("fallback %q is not a public function", routing.Fallback)
	}
	for _, f := range routing.Public {
		if !slices.Contains(routing.All, f) {
			t.Errorf("public function %q missing from All", f)
		}
	}
	if slices.Contains(routing.Public, routing.EventsWriter) {
		t.Error("the events-writer must have no public route")
	}
}

// TestReservedCodesAreRoutes keeps the reserved short codes and the table in step: a
// custom code equal to a route word would be shadowed by that route.
func TestReservedCodesAreRoutes(t *testing.T) {
	for _, r := range routing.Table {
		word, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/"), "/")
		if !domain.IsReservedCode(word) {
			t.Errorf("route word %q of %q is not a reserved short code", word, r.Path)
		}
	}
}
