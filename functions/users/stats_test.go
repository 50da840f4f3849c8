package users_test

import (
	"fmt"
	"testing"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/routing"
)

// TestUserStats: a user's statistics sum the clicks of all their URLs, a deleted one's
// included; a bad range is 400, an unknown or deleted user 404.
func TestUserStats(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	user := e.CreateUser(t)
	a, b := e.CreateURL(t, user, "https://example.com/a"), e.CreateURL(t, user, "https://example.com/b")
	for _, u := range []domain.URL{a, b, b} {
		if r := e.Fixture(t, "POST", "/events", map[string]any{"event_type": "click", "url_id": u.ID,
			"details": map[string]any{"short_code": u.ShortCode}}); r.Status != 201 {
			t.Fatalf("posting a click: %v", r)
		}
	}
	e.Fixture(t, "DELETE", fmt.Sprintf("/urls/%d", b.ID), nil)
	path := fmt.Sprintf("/users/%d/stats", user)
	var st domain.Stats
	r := e.Do(t, "GET", path, nil)
	r.Decode(t, &st)
	if r.Status != 200 || st.Clicks != 3 || st.UserID == nil || *st.UserID != user || st.URLID != nil ||
		len(st.Referrers) != 1 || st.Referrers[0].Host != "direct" {
		t.Errorf("user stats: %v", r)
	}
	if r := e.Do(t, "GET", path+"?from=2026-01-02&to=2026-01-01", nil); r.Status != 400 {
		t.Errorf("from after to: %v", r)
	}
	if r := e.Do(t, "GET", "/users/999999/stats", nil); r.Status != 404 {
		t.Errorf("unknown user: %v", r)
	}
	e.Do(t, "DELETE", fmt.Sprintf("/users/%d", user), nil)
	if r := e.Do(t, "GET", path, nil); r.Status != 404 {
		t.Errorf("deleted user: %v", r)
	}
}
