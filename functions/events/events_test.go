package events_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/routing"
)

func decodeEvent(t *testing.T, r grouptest.Reply) domain.Event {
	t.Helper()
	var e domain.Event
	r.Decode(t, &e)
	return e
}

func ids(evs []domain.Event) []int64 {
	out := []int64{}
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func TestCreate(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Events, grouptest.Options{})
	user := e.CreateUser(t)
	u := e.CreateURL(t, user, "https://example.com/ev")
	gone := e.CreateURL(t, user, "https://example.com/gone")
	e.Fixture(t, "DELETE", fmt.Sprintf("/urls/%d", gone.ID), nil)
	deletedUser := e.CreateUser(t)
	e.Fixture(t, "DELETE", fmt.Sprintf("/users/%d", deletedUser), nil)

	t.Run("Created", func(t *testing.T) {
		cases := []struct {
			name    string
			body    string
			user    *int64
			details string
		}{
			{"Minimal", fmt.Sprintf(`{"event_type":"share","url_id":%d}`, u.ID), nil, `{}`},
			{"WithUserAndDetails", fmt.Sprintf(`{"event_type":"share","url_id":%d,"user_id":%d,"details":{"to":"mail","n":[1,2.5,null],"ü":{"deep":true}}}`, u.ID, user),
				&user, `{"to":"mail","n":[1,2.5,null],"ü":{"deep":true}}`},
			{"EmptyDetails", fmt.Sprintf(`{"event_type":"x","url_id":%d,"details":{}}`, u.ID), nil, `{}`},
			{"LongestType", fmt.Sprintf(`{"event_type":"%s","url_id":%d}`, strings.Repeat("é", 64), u.ID), nil, `{}`},
			{"IgnoredFields", fmt.Sprintf(`{"event_type":"x","url_id":%d,"id":5,"timestamp":"2000-01-01T00:00:00Z"}`, u.ID), nil, `{}`},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				start := time.Now().Add(-time.Second)
				r := e.Do(t, "POST", "/events", c.body)
				if r.Status != 201 || r.Header.Get("Content-Type") != "application/json" {
					t.Fatalf("POST /events: %v", r)
				}
				ev := decodeEvent(t, r)
				var sent struct {
					EventType string `json:"event_type"`
				}
				_ = json.Unmarshal([]byte(c.body), &sent)
				var got, want any
				_ = json.Unmarshal(ev.Details, &got)
				_ = json.Unmarshal([]byte(c.details), &want)
				if ev.EventType != sent.EventType || ev.URLID == nil || *ev.URLID != u.ID ||
					!reflect.DeepEqual(ev.UserID, c.user) || !reflect.DeepEqual(got, want) {
					t.Errorf("created %s", r.Body)
				}
				// The timestamp is the server's, in UTC.
				ts, _ := r.Object(t)["timestamp"].(string)
				if ev.Timestamp.Before(start) || ev.Timestamp.After(time.Now().Add(time.Second)) || !strings.HasSuffix(ts, "Z") {
					t.Errorf("timestamp %v is not the server's clock in UTC: %s", ev.Timestamp, r.Body)
				}
				read := e.Do(t, "GET", fmt.Sprintf("/events/%d", ev.ID), nil)
				if read.Status != 200 || !reflect.DeepEqual(decodeEvent(t, read), ev) {
					t.Errorf("read back %v, created %s", read, r.Body)
				}
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		for name, body := range map[string]string{
			"UnknownURL":  `{"event_type":"x","url_id":999999999}`,
			"DeletedURL":  fmt.Sprintf(`{"event_type":"x","url_id":%d}`, gone.ID),
			"UnknownUser": fmt.Sprintf(`{"event_type":"x","url_id":%d,"user_id":999999999}`, u.ID),
			"DeletedUser": fmt.Sprintf(`{"event_type":"x","url_id":%d,"user_id":%d}`, u.ID, deletedUser),
		} {
			t.Run(name, func(t *testing.T) {
				if r := e.Do(t, "POST", "/events", body); r.Status != 404 || r.Object(t)["error"] == nil {
					t.Errorf("POST /events %s: %v", body, r)
				}
			})
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		cases := []struct {
			name   string
			body   string
			fields []string
		}{
			{"Empty", `{}`, []string{"event_type", "url_id"}},
			{"DetailsArray", fmt.Sprintf(`{"event_type":"x","url_id":%d,"details":[1]}`, u.ID), []string{"details"}},
			{"DetailsString", fmt.Sprintf(`{"event_type":"x","url_id":%d,"details":"{}"}`, u.ID), []string{"details"}},
			{"DetailsNumber", fmt.Sprintf(`{"event_type":"x","url_id":%d,"details":5}`, u.ID), []string{"details"}},
			{"DetailsNull", fmt.Sprintf(`{"event_type":"x","url_id":%d,"details":null}`, u.ID), []string{"details"}},
			{"NULInDetailsKey", fmt.Sprintf(`{"event_type":"x","url_id":%d,"details":{"\u0000":1}}`, u.ID), []string{"details"}},
			{"NULInDetailsValue", fmt.Sprintf(`{"event_type":"x","url_id":%d,"details":{"k":["a\u0000"]}}`, u.ID), []string{"details"}},
			{"NumberPostgresCannotHold", fmt.Sprintf(`{"event_type":"x","url_id":%d,"details":{"n":1e999999}}`, u.ID), []string{"details"}},
			{"EmptyType", fmt.Sprintf(`{"event_type":"","url_id":%d}`, u.ID), []string{"event_type"}},
			{"TypeTooLong", fmt.Sprintf(`{"event_type":"%s","url_id":%d}`, strings.Repeat("a", 65), u.ID), []string{"event_type"}},
			{"NULInType", fmt.Sprintf(`{"event_type":"\u0000","url_id":%d}`, u.ID), []string{"event_type"}},
			{"URLIDFloat", `{"event_type":"x","url_id":1.5}`, []string{"url_id"}},
			{"UserIDString", fmt.Sprintf(`{"event_type":"x","url_id":%d,"user_id":"1"}`, u.ID), []string{"user_id"}},
			{"EveryFieldNamed", `{"event_type":5,"url_id":"a","user_id":true,"details":[]}`, []string{"event_type", "url_id", "user_id", "details"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := e.Do(t, "POST", "/events", c.body)
				if r.Status != 422 {
					t.Fatalf("status %v, want 422", r)
				}
				fields, _ := r.Object(t)["fields"].(map[string]any)
				if len(fields) != len(c.fields) {
					t.Errorf("fields %v, want exactly %v", fields, c.fields)
				}
				for _, f := range c.fields {
					if _, ok := fields[f]; !ok {
						t.Errorf("fields lack %q: %s", f, r.Body)
					}
				}
			})
		}
	})

	t.Run("NotAnObject", func(t *testing.T) {
		for _, body := range []string{"", "[1]", "42", `"x"`, `{"event_type":`, `{} {}`} {
			if r := e.Do(t, "POST", "/events", body); r.Status != 400 {
				t.Errorf("POST /events %q: %v", body, r)
			}
		}
	})

	// Only the Created cases stored anything, beside the fixture's created event.
	types := map[string]int{}
	for _, ev := range e.Audits(t, fmt.Sprintf("url_id=%d", u.ID)) {
		types[ev.EventType]++
	}
	if want := map[string]int{domain.EventCreated: 1, "share": 2, "x": 2, strings.Repeat("é", 64): 1}; !reflect.DeepEqual(types, want) {
		t.Errorf("the url's events by type after the refusals: %v, want %v", types, want)
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Events, grouptest.Options{})
	user := e.CreateUser(t)
	u := e.CreateURL(t, user, "https://example.com/get")
	// The URL's created event, written by the urls routes and delivered by the publisher.
	created := e.Audits(t, fmt.Sprintf("url_id=%d", u.ID))
	if len(created) != 1 {
		t.Fatalf("url events %+v", created)
	}
	r := e.Do(t, "GET", fmt.Sprintf("/events/%d", created[0].ID), nil)
	got := decodeEvent(t, r)
	if r.Status != 200 || !reflect.DeepEqual(got, created[0]) || got.EventType != domain.EventCreated || *got.UserID != user {
		t.Fatalf("GET the created event: %v", r)
	}
	if x := r.Header.Get("X-Cache"); x != "" {
		t.Errorf("X-Cache %q: events are not cached", x)
	}
	e.WantNotFound(t, map[string]string{
		"Unknown": "/events/999999999", "NotInteger": "/events/abc", "Zero": "/events/0",
		"Past64Bits": "/events/99999999999999999999999",
	})
}

func TestList(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Events, grouptest.Options{})
	alice, bob := e.CreateUser(t), e.CreateUser(t)
	ua, ub := e.CreateURL(t, alice, "https://example.com/a"), e.CreateURL(t, bob, "https://example.com/b")
	post := func(typ string, url int64, user *int64) domain.Event {
		body := map[string]any{"event_type": typ, "url_id": url}
		if user != nil {
			body["user_id"] = *user // absent otherwise: null is a wrong type
		}
		r := e.Do(t, "POST", "/events", body)
		if r.Status != 201 {
			t.Fatalf("POST /events: %v", r)
		}
		return decodeEvent(t, r)
	}
	share1 := post("share", ua.ID, &alice)
	share2 := post("share", ub.ID, &bob)
	view := post("view", ua.ID, nil)
	share3 := post("share", ua.ID, &alice)
	// Everything in the log, fixtures' events included: two user_created, two created.
	all := e.Audits(t, "")
	if len(all) != 8 {
		t.Fatalf("%d events in the log, want 8: %+v", len(all), all)
	}
	allIDs := ids(all)
	// where lists the ids of the log's events that keep says to, in the log's order: the
	// fixtures' events are delivered in the background, so their place in it varies.
	where := func(keep func(domain.Event) bool) []int64 {
		out := []int64{}
		for _, ev := range all {
			if keep(ev) {
				out = append(out, ev.ID)
			}
		}
		return out
	}
	is := func(p *int64, v int64) bool { return p != nil && *p == v }
	if n := len(where(func(ev domain.Event) bool { return is(ev.UserID, alice) })); n != 4 {
		t.Fatalf("%d of alice's events, want 4 (user_created, created, two shares)", n)
	}
	cases := []struct {
		name  string
		query string
		want  []int64
		total string // X-Total-Count; "" when not paginated
	}{
		{"Everything", "", allIDs, ""},
		{"ByType", "event_type=share", []int64{share1.ID, share2.ID, share3.ID}, ""},
		{"ByURL", fmt.Sprintf("url_id=%d", ub.ID), where(func(ev domain.Event) bool { return is(ev.URLID, ub.ID) }), ""},
		{"ByUser", fmt.Sprintf("user_id=%d", alice), where(func(ev domain.Event) bool { return is(ev.UserID, alice) }), ""},
		{"AllThree", fmt.Sprintf("url_id=%d&user_id=%d&event_type=share", ua.ID, alice), []int64{share1.ID, share3.ID}, ""},
		{"TypeAndURL", fmt.Sprintf("url_id=%d&event_type=view", ua.ID), []int64{view.ID}, ""},
		{"UnknownType", "event_type=nothing", []int64{}, ""},
		{"UnknownURL", "url_id=99999", []int64{}, ""},
		{"FirstPage", "page=1&per_page=3", allIDs[:3], "8"},
		{"LastPage", "page=3&per_page=3", allIDs[6:], "8"},
		{"PastTheEnd", "page=4&per_page=3", []int64{}, "8"},
		{"FilteredPage", "event_type=share&page=2&per_page=2", []int64{share3.ID}, "3"},
		{"OffsetPast64Bits", "page=9223372036854775807&per_page=1000", []int64{}, "8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(t, "GET", "/events?"+c.query, nil)
			var got []domain.Event
			r.Decode(t, &got)
			if r.Status != 200 || !reflect.DeepEqual(ids(got), c.want) {
				t.Fatalf("%d ids %v, want %v", r.Status, ids(got), c.want)
			}
			if n := r.Header.Get("X-Total-Count"); n != c.total {
				t.Errorf("X-Total-Count %q, want %q", n, c.total)
			}
			if x := r.Header.Get("X-Cache"); x != "" {
				t.Errorf("X-Cache %q: event lists are not cached", x)
			}
		})
	}
	// The log grows with every click, so a list shows a new event at once.
	fresh := post("share", ub.ID, nil)
	var got []domain.Event
	e.Do(t, "GET", "/events?event_type=share", nil).Decode(t, &got)
	if l := ids(got); len(l) != 4 || l[3] != fresh.ID {
		t.Errorf("list after a post: %v", l)
	}
	for name, q := range map[string]string{
		"TypeNUL": "event_type=%00", "TypeNotUTF8": "event_type=%FF", "TypeTooLong": "event_type=" + strings.Repeat("a", 65),
		"URLNotInteger": "url_id=x", "UserNotInteger": "user_id=1.5", "URLPast64Bits": "url_id=99999999999999999999",
		"PageZero": "page=0", "PagePast64Bits": "page=99999999999999999999", "PerPageTooBig": "per_page=1001",
	} {
		t.Run("BadQuery/"+name, func(t *testing.T) {
			if r := e.Do(t, "GET", "/events?"+q, nil); r.Status != 400 || r.Object(t)["error"] == nil {
				t.Errorf("GET /events?%s: %v", q, r)
			}
		})
	}
}
