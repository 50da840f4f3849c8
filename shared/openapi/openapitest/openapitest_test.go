package openapitest_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/openapi"
	"github.com/urlshort/shortener/shared/openapi/openapitest"
)

func TestDocumentIsOpenAPI31(t *testing.T) {
	doc, err := openapitest.Document()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	// The document says what it leaves out, so nobody takes a gap for a bug.
	if !strings.Contains(doc.Info.Description, "Not implemented yet") {
		t.Error("the description does not say what is not implemented yet")
	}
}

func TestLoadRefuses(t *testing.T) {
	for name, data := range map[string]string{
		"OpenAPI30":   `{"openapi":"3.0.3","info":{"title":"x","version":"1"},"paths":{}}`,
		"NotJSON":     `{"openapi":`,
		"BrokenRef":   `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{"200":{"$ref":"#/components/responses/Nope"}}}}}}`,
		"NoResponses": `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"responses":{}}}}}`,
		"UnknownScheme": `{"openapi":"3.1.0","info":{"title":"x","version":"1"},"paths":{"/a":{"get":{"security":[{"nope":[]}],` +
			`"responses":{"200":{"description":"ok"}}}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := openapitest.Load([]byte(data)); err == nil {
				t.Error("loaded")
			}
		})
	}
	if _, err := openapitest.Load(openapi.JSON()); err != nil {
		t.Errorf("the embedded document: %v", err)
	}
}

// patterns are routes as the functions declare them, for the validator under test.
var patterns = []string{
	"GET /health", "GET /ready", "GET /users", "POST /users", "GET /users/{id}",
	"POST /users/bulk", "GET /{short_code}", "GET /urls/{short_code}/redirect",
}

const (
	user    = `{"id":1,"username":"ada","email":"ada@example.com","created_at":"2026-11-21T08:15:00Z"}`
	errBody = `{"error":"nope"}`
)

func exchange(t *testing.T, method, target, reqBody string, status int, header http.Header, body string) openapitest.Exchange {
	t.Helper()
	req, err := http.NewRequest(method, "http://api.test"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reqBody != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if header == nil {
		header = http.Header{}
	}
	if header.Get("Content-Type") == "" && body != "" {
		header.Set("Content-Type", "application/json")
	}
	return openapitest.Exchange{Request: req, RequestBody: []byte(reqBody), Status: status, Header: header, Body: []byte(body)}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// TestCheck shows that the check passes the answers the document allows and reports the
// ones it does not: it can fail.
func TestCheck(t *testing.T) {
	doc, err := openapitest.Document()
	if err != nil {
		t.Fatal(err)
	}
	v := openapitest.New(doc, append(patterns, "GET /nowhere"))
	cases := []struct {
		name string
		x    openapitest.Exchange
		bad  string // a part of the error; "" for none
	}{
		{"User", exchange(t, "GET", "/users/1", "", 200, nil, user), ""},
		{"UserList", exchange(t, "GET", "/users?page=2&per_page=10", "", 200, hdr("X-Total-Count", "11", "X-Cache", "MISS"), "["+user+"]"), ""},
		{"NotFound", exchange(t, "GET", "/users/abc", "", 404, nil, errBody), ""},
		{"Invalid", exchange(t, "POST", "/users", `{"username":5}`, 422, nil, `{"error":"invalid","fields":{"username":"must be a string","email":"is required"}}`), ""},
		{"Redirect", exchange(t, "GET", "/abc123", "", 302, hdr("Location", "https://example.com/", "Cache-Control", "private, max-age=0"), ""), ""},
		{"RedirectCheck", exchange(t, "HEAD", "/urls/abc123/redirect", "", 404, nil, ""), ""},
		{"Unavailable", exchange(t, "GET", "/users", "", 503, hdr("Retry-After", "1"), errBody), ""},
		{"UnmatchedNotFound", exchange(t, "GET", "/no/such/path", "", 404, nil, errBody), ""},
		{"UnmatchedMethod", exchange(t, "DELETE", "/health", "", 405, hdr("Allow", "GET, HEAD"), errBody), ""},
		{"Ready503", exchange(t, "GET", "/ready", "", 503, hdr("Retry-After", "1"), `{"status":"unavailable","checks":{"postgres":"unavailable","valkey":"ok"},"error":"postgres is unreachable"}`), ""},

		{"StatusNotDocumented", exchange(t, "GET", "/users/1", "", 418, nil, errBody), "status is not supported"},
		{"ServerError", exchange(t, "GET", "/users", "", 500, nil, `{"error":"internal error"}`), "status is not supported"},
		{"MissingField", exchange(t, "GET", "/users/1", "", 200, nil, `{"id":1,"username":"ada","created_at":"2026-11-21T08:15:00Z"}`), "email"},
		{"UndocumentedField", exchange(t, "GET", "/users/1", "", 200, nil, strings.Replace(user, `{`, `{"secret":"x",`, 1)), "secret"},
		{"WrongType", exchange(t, "GET", "/users/1", "", 200, nil, strings.Replace(user, `"id":1`, `"id":"1"`, 1)), "doesn't match"},
		{"NotATimestamp", exchange(t, "GET", "/users/1", "", 200, nil, strings.Replace(user, `2026-11-21T08:15:00Z`, `yesterday`, 1)), "date-time"},
		{"WrongContentType", exchange(t, "GET", "/users/1", "", 200, hdr("Content-Type", "text/html"), user), "text/html"},
		{"ErrorWithoutMessage", exchange(t, "GET", "/users/1", "", 404, nil, `{}`), "error"},
		{"BadXCache", exchange(t, "GET", "/users/1", "", 200, hdr("X-Cache", "MAYBE"), user), "X-Cache"},
		{"RedirectWithoutLocation", exchange(t, "GET", "/abc123", "", 302, hdr("Cache-Control", "private, max-age=0"), ""), "Location"},
		{"UnavailableWithoutRetryAfter", exchange(t, "GET", "/users", "", 503, nil, errBody), "Retry-After"},
		{"HeadStatusNotDocumented", exchange(t, "HEAD", "/abc123", "", 500, nil, ""), "not a response"},
		{"AcceptedInvalidBody", exchange(t, "POST", "/users", `{"username":5,"email":"a@b.co"}`, 201, nil, user), "calls invalid"},
		{"AcceptedInvalidQuery", exchange(t, "GET", "/users?per_page=0", "", 200, nil, "[]"), "calls invalid"},
		{"UnmatchedAnswered200", exchange(t, "GET", "/no/such/path", "", 200, nil, "[]"), "not 404 or 405"},
		{"MethodWithoutAllow", exchange(t, "DELETE", "/health", "", 405, nil, errBody), "Allow"},
		{"UnmatchedNotJSON", exchange(t, "GET", "/no/such/path", "", 404, hdr("Content-Type", "text/plain"), "404 page not found"), "text/plain"},
		{"RouteWithoutOperation", exchange(t, "GET", "/nowhere", "", 200, nil, "{}"), "no path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.Check(c.x)
			switch {
			case c.bad == "" && err != nil:
				t.Errorf("reported: %v", err)
			case c.bad != "" && err == nil:
				t.Errorf("not reported, want an error about %q", c.bad)
			case c.bad != "" && !strings.Contains(err.Error(), c.bad):
				t.Errorf("reported %v, want an error about %q", err, c.bad)
			}
		})
	}
}
