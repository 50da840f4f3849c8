package grouptest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/web"
)

// errorsOf records the errors a test reports instead of failing it.
type errorsOf struct {
	testing.TB
	errs []string
}

func (r *errorsOf) Helper() {}

func (r *errorsOf) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestSendChecksOpenAPI shows that an answer the document does not allow fails the test
// that received it: the hook in Send is on, and it can fail.
func TestSendChecksOpenAPI(t *testing.T) {
	answer := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		}
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		method  string
		path    string
		body    any
		bad     string
	}{
		{"Allowed", answer(200, `{"status":"ok"}`), "GET", "/health", nil, ""},
		{"StatusNotInTheDocument", answer(418, `{"error":"teapot"}`), "GET", "/health", nil, "status is not supported"},
		{"BodyNotInTheDocument", answer(200, `{"status":"fine"}`), "GET", "/health", nil, "doesn't match"},
		{"SuccessForAnInvalidRequest", answer(201, `{"id":1,"username":"u","email":"u@example.com","created_at":"2026-11-21T08:15:00Z"}`),
			"POST", "/users", map[string]any{"username": "u"}, "calls invalid"},
		{"RefusalOfAnInvalidRequest", answer(422, `{"error":"invalid","fields":{"email":"is required"}}`),
			"POST", "/users", map[string]any{"username": "u"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			routes := []web.Route{{Pattern: "GET /health", Handler: c.handler}, {Pattern: "POST /users", Handler: c.handler}}
			srv := httptest.NewServer(c.handler)
			t.Cleanup(srv.Close)
			e := &Env{srv: srv}
			e.checkOpenAPI(t, srv, routes)
			rec := &errorsOf{TB: t}
			e.Do(rec, c.method, c.path, c.body)
			got := strings.Join(rec.errs, "\n")
			switch {
			case c.bad == "" && got != "":
				t.Errorf("reported: %s", got)
			case c.bad != "" && !strings.Contains(got, c.bad):
				t.Errorf("reported %q, want an error about %q", got, c.bad)
			}
		})
	}
}
