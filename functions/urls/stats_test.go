package urls_test

import (
	"fmt"
	"testing"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/routing"
)

// TestVisitLimitAndStats: max_visits is taken on create and update (an integer of at
// least 1, null clears it, each change one updated event), visits and the statistics
// follow the clicks stored (also past a cached copy), and the stats route refuses a bad
// range and answers 404 as GET /urls/{id} does.
func TestVisitLimitAndStats(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	user := e.CreateUser(t)
	r := e.Do(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/v", "max_visits": 3})
	var u domain.URL
	r.Decode(t, &u)
	if r.Status != 201 || u.MaxVisits == nil || *u.MaxVisits != 3 || u.Visits != 0 {
		t.Fatalf("create: %v", r)
	}
	path := fmt.Sprintf("/urls/%d", u.ID)
	for _, bad := range []any{0, -1, "3", 1.5, true, []int{3}} {
		for _, method := range []string{"POST", "PUT"} {
			p, body := path, map[string]any{"max_visits": bad}
			if method == "POST" {
				p, body = "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/x", "max_visits": bad}
			}
			r := e.Do(t, method, p, body)
			fields, _ := r.Object(t)["fields"].(map[string]any)
			if r.Status != 422 || fields["max_visits"] == nil {
				t.Errorf("%s max_visits %v: %v, want 422 naming it", method, bad, r)
			}
		}
	}
	e.Do(t, "PUT", path, map[string]any{"max_visits": 5})
	e.Do(t, "PUT", path, map[string]any{"max_visits": 5}) // no change, no event
	var cleared domain.URL
	e.Do(t, "PUT", path, map[string]any{"max_visits": nil}).Decode(t, &cleared)
	if cleared.MaxVisits != nil {
		t.Errorf("max_visits null left %v", *cleared.MaxVisits)
	}
	var values []string
	for _, ev := range e.Audits(t, fmt.Sprintf("url_id=%d&event_type=updated", u.ID)) {
		if d := details(t, ev); d["field"] == "max_visits" {
			values = append(values, d["new_value"])
		}
	}
	if fmt.Sprint(values) != "[5 null]" {
		t.Errorf("max_visits updated events %v, want [5 null]", values)
	}

	// Stats of a link without clicks, then after two clicks posted to the log: the copy of
	// the item cached before them does not come back.
	var st domain.Stats
	if r := e.Do(t, "GET", path+"/stats", nil); r.Status != 200 {
		t.Fatalf("stats: %v", r)
	} else {
		r.Decode(t, &st)
	}
	if st.Clicks != 0 || st.FirstClickAt != nil || len(st.Daily) != 0 || st.Referrers == nil || st.Devices == nil {
		t.Errorf("stats without clicks: %+v", st)
	}
	e.Do(t, "GET", path, nil) // cached with visits 0
	for _, ua := range []string{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ""} {
		if r := e.Fixture(t, "POST", "/events", map[string]any{"event_type": "click", "url_id": u.ID,
			"details": map[string]any{"short_code": u.ShortCode, "user_agent": ua, "referrer": "https://t.co/x"}}); r.Status != 201 {
			t.Fatalf("posting a click: %v", r)
		}
	}
	var got domain.URL
	e.Do(t, "GET", path, nil).Decode(t, &got)
	if got.Visits != 2 {
		t.Errorf("visits %d after two clicks, want 2", got.Visits)
	}
	e.Do(t, "GET", path+"/stats", nil).Decode(t, &st)
	if st.Clicks != 2 || st.BotClicks != 1 || st.HumanClicks != 1 || len(st.Daily) != 1 || st.Daily[0].Clicks != 2 ||
		len(st.Referrers) != 1 || st.Referrers[0] != (domain.HostCount{Host: "t.co", Clicks: 2}) || st.URLID == nil || *st.URLID != u.ID {
		t.Errorf("stats after two clicks: %+v", st)
	}
	day := st.Daily[0].Date
	e.Do(t, "GET", path+"/stats?from="+day+"&to="+day, nil).Decode(t, &st)
	if st.Clicks != 2 {
		t.Errorf("stats of the day: %+v", st)
	}
	e.Do(t, "GET", path+"/stats?to=2000-01-01", nil).Decode(t, &st)
	if st.Clicks != 0 || len(st.Daily) != 0 {
		t.Errorf("stats before any click: %+v", st)
	}

	for q, want := range map[string]int{
		"?from=2026-13-01": 400, "?to=yesterday": 400, "?from=2026-02-02&to=2026-02-01": 400, "?from=2026-2-1": 400,
	} {
		if r := e.Do(t, "GET", path+"/stats"+q, nil); r.Status != want {
			t.Errorf("stats%s: %v, want %d", q, r, want)
		}
	}
	for _, p := range []string{"/urls/999999/stats", "/urls/abc/stats"} {
		if r := e.Do(t, "GET", p, nil); r.Status != 404 {
			t.Errorf("%s: %v, want 404", p, r)
		}
	}
	e.Do(t, "DELETE", path, nil)
	if r := e.Do(t, "GET", path+"/stats", nil); r.Status != 404 {
		t.Errorf("stats of a deleted URL: %v, want 404", r)
	}
}
