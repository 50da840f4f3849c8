package access_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/urlshort/shortener/shared/access"
	"github.com/urlshort/shortener/shared/web"
)

// corsNext stands for the router: it marks the answers it wrote, and answers OPTIONS as
// the router does, 405 JSON.
var corsNext = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Next", "1")
	if r.Method == http.MethodOptions {
		web.JSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		return
	}
	w.WriteHeader(http.StatusOK)
})

func corsDo(h http.Handler, method, origin string, extra map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/urls", nil)
	if origin != "" {
		r.Header.Set("Origin", origin)
	}
	for k, v := range extra {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

var preflight = map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}

func TestCORSOff(t *testing.T) {
	for _, origins := range [][]string{nil, {}, {"", " "}} {
		if c := access.NewCORS(origins); c != nil {
			t.Fatalf("NewCORS(%q) = %v, want nil", origins, c)
		}
	}
	var c *access.CORS
	w := corsDo(c.Wrap(corsNext), http.MethodOptions, "https://app.example.com", preflight)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Access-Control-Allow-Origin") != "" || w.Header().Get("Vary") != "" {
		t.Fatalf("off: %d, headers %v", w.Code, w.Header())
	}
}

func TestCORSPreflight(t *testing.T) {
	list := access.NewCORS([]string{"https://app.example.com", " HTTPS://Admin.Example.com/ "})
	anyOrigin := access.NewCORS([]string{"*"})
	cases := []struct {
		name, origin string
		c            *access.CORS
		allowOrigin  string
	}{
		{"Listed", "https://app.example.com", list, "https://app.example.com"},
		{"ListedNormalised", "https://admin.example.com", list, "https://admin.example.com"},
		{"Any", "https://elsewhere.example", anyOrigin, "*"},
		{"AnyNullOrigin", "null", anyOrigin, "*"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := corsDo(c.c.Wrap(corsNext), http.MethodOptions, c.origin, preflight)
			if w.Code != http.StatusNoContent || w.Header().Get("X-Next") != "" || w.Body.Len() != 0 {
				t.Fatalf("preflight: %d, reached next %q, body %q", w.Code, w.Header().Get("X-Next"), w.Body)
			}
			h := w.Header()
			want := map[string]string{
				"Access-Control-Allow-Origin":  c.allowOrigin,
				"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, DELETE, OPTIONS",
				"Access-Control-Allow-Headers": "Authorization, X-Api-Key, Content-Type, X-Request-Id",
				"Access-Control-Max-Age":       "600",
				"Vary":                         "Origin",
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if _, ok := h["Access-Control-Allow-Credentials"]; ok {
				t.Error("credentials allowed")
			}
		})
	}
}

func TestCORSDisallowedPreflightReachesNext(t *testing.T) {
	c := access.NewCORS([]string{"https://app.example.com"})
	for _, origin := range []string{"https://evil.example", "https://app.example.com.evil.example", "http://app.example.com", "null"} {
		w := corsDo(c.Wrap(corsNext), http.MethodOptions, origin, preflight)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("X-Next") != "1" {
			t.Fatalf("%s: %d, reached next %q: want next's 405", origin, w.Code, w.Header().Get("X-Next"))
		}
		for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Expose-Headers"} {
			if v := w.Header().Get(k); v != "" {
				t.Errorf("%s: %s = %q", origin, k, v)
			}
		}
		// The answer depends on the Origin, so a cache must keep them apart.
		if v := w.Header().Get("Vary"); v != "Origin" {
			t.Errorf("%s: Vary = %q", origin, v)
		}
	}
	// An OPTIONS without Access-Control-Request-Method is no preflight, even from an
	// allowed origin.
	w := corsDo(c.Wrap(corsNext), http.MethodOptions, "https://app.example.com", nil)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("X-Next") != "1" {
		t.Fatalf("plain OPTIONS: %d", w.Code)
	}
}

func TestCORSSimpleRequest(t *testing.T) {
	const expose = "X-Total-Count, X-Cache, X-Request-Id, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, Location"
	cases := []struct {
		name, origin string
		origins      []string
		allowOrigin  string
		vary         []string
	}{
		{"Listed", "https://app.example.com", []string{"https://app.example.com"}, "https://app.example.com", []string{"Accept-Encoding", "Origin"}},
		{"Any", "https://elsewhere.example", []string{"https://app.example.com", "*"}, "*", []string{"Accept-Encoding", "Origin"}},
		{"NotListed", "https://evil.example", []string{"https://app.example.com"}, "", []string{"Accept-Encoding", "Origin"}},
		{"NoOriginListed", "", []string{"https://app.example.com"}, "", []string{"Accept-Encoding", "Origin"}},
		{"NoOriginAny", "", []string{"*"}, "", []string{"Accept-Encoding"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/urls", nil)
			if c.origin != "" {
				r.Header.Set("Origin", c.origin)
			}
			// What a wrapper outside CORS may have added already.
			w.Header().Add("Vary", "Accept-Encoding")
			access.NewCORS(c.origins).Wrap(corsNext).ServeHTTP(w, r)
			if w.Code != http.StatusOK || w.Header().Get("X-Next") != "1" {
				t.Fatalf("%d, reached next %q", w.Code, w.Header().Get("X-Next"))
			}
			h := w.Header()
			if got := h.Get("Access-Control-Allow-Origin"); got != c.allowOrigin {
				t.Errorf("Allow-Origin = %q, want %q", got, c.allowOrigin)
			}
			wantExpose := ""
			if c.allowOrigin != "" {
				wantExpose = expose
			}
			if got := h.Get("Access-Control-Expose-Headers"); got != wantExpose {
				t.Errorf("Expose-Headers = %q, want %q", got, wantExpose)
			}
			if got := h.Values("Vary"); len(got) != len(c.vary) || len(got) > 0 && (got[0] != c.vary[0] || got[len(got)-1] != c.vary[len(c.vary)-1]) {
				t.Errorf("Vary = %q, want %q", got, c.vary)
			}
			if _, ok := h["Access-Control-Allow-Credentials"]; ok {
				t.Error("credentials allowed")
			}
			if h.Get("Access-Control-Allow-Methods") != "" {
				t.Error("a simple request got the preflight's headers")
			}
		})
	}
}

// TestCORSSharedValuesNotAliased: the header values are shared between answers, so a
// handler that adds to one must not change what the next answer gets.
func TestCORSSharedValuesNotAliased(t *testing.T) {
	c := access.NewCORS([]string{"*"})
	h := c.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		w.Header().Add("Access-Control-Expose-Headers", "X-Other")
	}))
	corsDo(h, http.MethodGet, "https://a.example", nil)
	w := corsDo(h, http.MethodGet, "https://a.example", nil)
	if got := w.Header().Values("Vary"); len(got) != 2 || got[0] != "Origin" {
		t.Fatalf("Vary of the second answer = %q", got)
	}
	if got := w.Header().Values("Access-Control-Expose-Headers"); len(got) != 2 {
		t.Fatalf("Expose-Headers of the second answer = %q", got)
	}
}
