package grouptest_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/routing"
)

// TestRefusalsFollowTheDocument sends each group the refusals its own tests do not all
// reach (a body that is not JSON, one over the limit, a malformed page, PostgreSQL gone),
// through the hook, which checks every answer against the document.
func TestRefusalsFollowTheDocument(t *testing.T) {
	t.Parallel()
	big := `{"x":"` + strings.Repeat("a", 1<<20) + `"}`
	cases := map[string][]string{ // group: its routes that take a JSON body
		routing.Users:  {"POST /users", "PUT /users/1", "POST /api-keys"},
		routing.URLs:   {"POST /urls", "PUT /urls/1"},
		routing.Events: {"POST /events"},
	}
	lists := map[string][]string{
		routing.Users:  {"/users", "/api-keys"},
		routing.URLs:   {"/urls"},
		routing.Events: {"/events"},
	}
	for group, routes := range cases {
		t.Run(group, func(t *testing.T) {
			t.Parallel()
			e := grouptest.Mount(t, group, grouptest.Options{})
			for _, route := range routes {
				method, path, _ := strings.Cut(route, " ")
				if r := e.Do(t, method, path, "[1]"); r.Status != 400 {
					t.Errorf("%s with a JSON array: %v", route, r)
				}
				if r := e.Do(t, method, path, big); r.Status != 413 {
					t.Errorf("%s with a body over the limit: %.100s", route, r)
				}
			}
			for _, path := range lists[group] {
				if r := e.Do(t, "GET", path+"?page=0", nil); r.Status != 400 {
					t.Errorf("GET %s?page=0: %v", path, r)
				}
			}
		})
	}
	t.Run("BulkOverTheLimit", func(t *testing.T) {
		t.Parallel()
		e := grouptest.Mount(t, routing.Users, grouptest.Options{})
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		fw, _ := mw.CreateFormFile("file", "users.csv")
		_, _ = fw.Write([]byte("username,email\n" + strings.Repeat("x", 10<<20)))
		_ = mw.Close()
		req, err := http.NewRequest("POST", e.URL()+"/users/bulk", &b)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if r := e.Send(t, req); r.Status != 413 {
			t.Errorf("a file over 10 MiB: %.100s", r)
		}
	})
	t.Run("RedirectWithoutPostgres", func(t *testing.T) {
		t.Parallel()
		e := grouptest.Mount(t, routing.Redirect, grouptest.Options{NoCache: true})
		e.CloseStore()
		for _, path := range []string{"/abc123", "/urls/abc123/redirect"} {
			for _, method := range []string{"GET", "HEAD"} {
				if r := e.Do(t, method, path, nil); r.Status != 503 || r.Header.Get("Retry-After") == "" {
					t.Errorf("%s %s with PostgreSQL closed: %v", method, path, r)
				}
			}
		}
	})
}
