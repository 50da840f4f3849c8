package redirect_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/routing"
)

// target has characters a redirect must not rewrite: an encoded space, a plus, a
// fragment-looking escape and a non-ASCII path.
const target = "https://example.com/ü/x?q=a+b&c=%20d&e=%23f"

// get sends method to path of e with the given Referer and User-Agent (none when empty).
func get(t *testing.T, e *grouptest.Env, method, path, referrer, agent string) grouptest.Reply {
	t.Helper()
	req, err := http.NewRequest(method, e.URL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if referrer != "" {
		req.Header.Set("Referer", referrer)
	}
	req.Header["User-Agent"] = []string{agent} // empty: the client sends none
	return e.Send(t, req)
}

func clicks(t *testing.T, e *grouptest.Env, urlID int64) []domain.Event {
	t.Helper()
	return e.Audits(t, fmt.Sprintf("url_id=%d&event_type=click", urlID))
}

func wantRedirect(t *testing.T, r grouptest.Reply, location, cache string) {
	t.Helper()
	if r.Status != 302 || r.Header.Get("Location") != location || r.Header.Get("Cache-Control") != "private, max-age=0" {
		t.Fatalf("%d, Location %q, Cache-Control %q: want 302 to %q, private, max-age=0",
			r.Status, r.Header.Get("Location"), r.Header.Get("Cache-Control"), location)
	}
	if x := r.Header.Get("X-Cache"); x != cache {
		t.Errorf("X-Cache %q, want %s", x, cache)
	}
}

func wantNotFound(t *testing.T, r grouptest.Reply) {
	t.Helper()
	if r.Status != 404 || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Location") != "" {
		t.Fatalf("%v (Location %q), want a 404 JSON error", r, r.Header.Get("Location"))
	}
	if msg, _ := r.Object(t)["error"].(string); msg == "" {
		t.Errorf("no error message: %s", r.Body)
	}
}

func TestRedirect(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Redirect, grouptest.Options{})
	user := e.CreateUser(t)
	u := e.CreateURL(t, user, target)
	routes := []string{"/" + u.ShortCode, "/urls/" + u.ShortCode + "/redirect"}

	t.Run("MissThenHit", func(t *testing.T) {
		wantRedirect(t, get(t, e, "GET", routes[0], "", ""), target, "MISS")
		for _, p := range routes {
			wantRedirect(t, get(t, e, "GET", p, "", ""), target, "HIT")
		}
	})
	t.Run("HeadHasNoBodyAndNoClick", func(t *testing.T) {
		before := len(clicks(t, e, u.ID))
		for _, p := range routes {
			r := get(t, e, "HEAD", p, "", "")
			wantRedirect(t, r, target, "HIT")
			if len(r.Body) != 0 {
				t.Errorf("HEAD %s has a body: %q", p, r.Body)
			}
		}
		if n := len(clicks(t, e, u.ID)); n != before {
			t.Errorf("HEAD recorded %d clicks", n-before)
		}
	})
	t.Run("OneClickPerGet", func(t *testing.T) {
		before := len(clicks(t, e, u.ID))
		agents := []struct{ referrer, agent string }{
			{"", ""},
			{"https://ref.example/page?x=1", "test-agent/1.0"},
			{"", `odd "agent" ü <b>`}, // not plain ASCII: encoded by encoding/json
			{"https://ref.example/", ""},
		}
		for i, a := range agents {
			wantRedirect(t, get(t, e, "GET", routes[i%2], a.referrer, a.agent), target, "HIT")
		}
		evs := clicks(t, e, u.ID)
		if len(evs) != before+len(agents) {
			t.Fatalf("%d clicks after %d GETs, want exactly one each", len(evs)-before, len(agents))
		}
		for i, ev := range evs[before:] {
			var d map[string]any
			if err := json.Unmarshal(ev.Details, &d); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"short_code": u.ShortCode}
			if a := agents[i]; a.referrer != "" {
				want["referrer"] = a.referrer
			}
			if a := agents[i]; a.agent != "" {
				want["user_agent"] = a.agent
			}
			if !reflect.DeepEqual(d, want) || ev.UserID == nil || *ev.UserID != user || *ev.URLID != u.ID {
				t.Errorf("click %d: %+v %s, want details %v", i, ev, ev.Details, want)
			}
		}
	})
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Redirect, grouptest.Options{})
	user := e.CreateUser(t)
	inactive := e.CreateURL(t, user, "https://example.com/inactive")
	e.Fixture(t, "PUT", fmt.Sprintf("/urls/%d", inactive.ID), map[string]any{"is_active": false})
	deleted := e.CreateURL(t, user, "https://example.com/deleted")
	e.Fixture(t, "DELETE", fmt.Sprintf("/urls/%d", deleted.ID), nil)

	stored := []struct{ name, code string }{
		{"Unknown", "zzzzzzzz"},
		{"Inactive", inactive.ShortCode},
		{"Deleted", deleted.ShortCode},
	}
	for _, c := range stored {
		t.Run(c.name, func(t *testing.T) {
			for _, p := range []string{"/" + c.code, "/urls/" + c.code + "/redirect"} {
				for _, m := range []string{"GET", "HEAD"} {
					r := get(t, e, m, p, "", "")
					if m == "HEAD" {
						if r.Status != 404 || len(r.Body) != 0 {
							t.Errorf("HEAD %s: %v", p, r)
						}
						continue
					}
					wantNotFound(t, r)
				}
			}
			// The answer is cached like a found code: the second look-up is a hit.
			r := get(t, e, "GET", "/"+c.code, "", "")
			if x := r.Header.Get("X-Cache"); x != "HIT" {
				t.Errorf("X-Cache %q on a repeated 404, want HIT", x)
			}
		})
	}
	// Nothing of these shapes is ever stored: answered before any look-up, so there is
	// no cache header.
	impossible := []struct{ name, path string }{
		{"NotUTF8", "/%FF"},
		{"NotUTF8OnTheLongRoute", "/urls/%FF%FE%FD%FC/redirect"},
		{"OverlongDot", "/urls/%C0%AE/redirect"},
		{"TooShort", "/abc"},
		{"TooLong", "/" + strings.Repeat("a", 33)},
		{"AMillionChars", "/" + strings.Repeat("a", 1_000_000)},
		{"Dot", "/openapi.json"},
		{"NUL", "/abcd%00"},
		{"Space", "/ab%20cd"},
	}
	for _, c := range impossible {
		t.Run(c.name, func(t *testing.T) {
			r := get(t, e, "GET", c.path, "", "")
			wantNotFound(t, r)
			if x := r.Header.Get("X-Cache"); x != "" {
				t.Errorf("X-Cache %q: an impossible code was looked up", x)
			}
		})
	}
	t.Run("NoClicks", func(t *testing.T) {
		if evs := e.Audits(t, "event_type=click"); len(evs) != 0 {
			t.Errorf("refused redirects recorded %d clicks: %+v", len(evs), evs)
		}
	})
	t.Run("WrongMethod", func(t *testing.T) {
		r := e.Do(t, "POST", "/"+inactive.ShortCode, "{}")
		if r.Status != 405 || r.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST /{short_code}: %v (Allow %q)", r, r.Header.Get("Allow"))
		}
	})
}

// TestWritesTakeEffect changes a cached URL through the urls routes: every redirect after
// the write answers with its result, whatever was cached.
func TestWritesTakeEffect(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Redirect, grouptest.Options{})
	user := e.CreateUser(t)
	u := e.CreateURL(t, user, target)
	code, path := "/"+u.ShortCode, fmt.Sprintf("/urls/%d", u.ID)
	wantRedirect(t, get(t, e, "GET", code, "", ""), target, "MISS")
	wantRedirect(t, get(t, e, "GET", code, "", ""), target, "HIT")
	steps := []struct {
		name     string
		method   string
		body     any
		location string // "" for a 404
	}{
		{"Edited", "PUT", map[string]any{"original_url": "https://example.org/new"}, "https://example.org/new"},
		{"Deactivated", "PUT", map[string]any{"is_active": false}, ""},
		{"Reactivated", "PUT", map[string]any{"is_active": true}, "https://example.org/new"},
		{"Deleted", "DELETE", nil, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if r := e.Fixture(t, s.method, path, s.body); r.Status >= 300 {
				t.Fatalf("%s %s: %v", s.method, path, r)
			}
			for range 2 {
				r := get(t, e, "GET", code, "", "")
				if s.location == "" {
					wantNotFound(t, r)
				} else if r.Status != 302 || r.Header.Get("Location") != s.location {
					t.Fatalf("%d to %q, want 302 to %q", r.Status, r.Header.Get("Location"), s.location)
				}
			}
		})
	}
	// Two GETs answered 302 before the writes, two after the edit and two after the
	// reactivation: six clicks, none for the 404s.
	if n := len(clicks(t, e, u.ID)); n != 6 {
		t.Errorf("%d clicks, want 6", n)
	}
}

// TestWithoutValkey: the cache is optional, so a redirect answers from PostgreSQL alone,
// every look-up a miss, and its clicks are recorded all the same.
func TestWithoutValkey(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]grouptest.Options{
		"NotConfigured": {NoCache: true},
		"Down":          {CacheURL: "redis://127.0.0.1:1/0"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := grouptest.Mount(t, routing.Redirect, opt)
			user := e.CreateUser(t)
			u := e.CreateURL(t, user, target)
			for range 3 {
				wantRedirect(t, get(t, e, "GET", "/"+u.ShortCode, "", ""), target, "MISS")
			}
			wantNotFound(t, get(t, e, "GET", "/zzzzzzzz", "", ""))
			if n := len(clicks(t, e, u.ID)); n != 3 {
				t.Errorf("%d clicks after 3 redirects", n)
			}
		})
	}
}
