package urls_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/routing"
)

// details decodes an event's details as the flat string object every URL event has.
func details(t *testing.T, e domain.Event) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(e.Details, &m); err != nil {
		t.Fatalf("details %s: %v", e.Details, err)
	}
	return m
}

// one wants exactly one event in evs and returns it.
func one(t *testing.T, evs []domain.Event, what string) domain.Event {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("%s: %d events, want exactly 1: %+v", what, len(evs), evs)
	}
	return evs[0]
}

func decodeURL(t *testing.T, r grouptest.Reply) domain.URL {
	t.Helper()
	var u domain.URL
	r.Decode(t, &u)
	return u
}

var generatedCode = regexp.MustCompile(`^[A-Za-z0-9]{6}$`)

func TestCreate(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	user := e.CreateUser(t)

	t.Run("GeneratedCode", func(t *testing.T) {
		r := e.Do(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/a?b=c+d&e=%20f", "is_active": false})
		if r.Status != 201 || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("POST /urls: %v", r)
		}
		u := decodeURL(t, r)
		if !generatedCode.MatchString(u.ShortCode) || u.UserID != user || u.OriginalURL != "https://example.com/a?b=c+d&e=%20f" ||
			u.Title != nil || !u.IsActive || !u.CreatedAt.Equal(u.UpdatedAt) || u.CreatedAt.Location().String() != "UTC" {
			t.Errorf("created url: %s", r.Body)
		}
		ev := one(t, e.Audits(t, fmt.Sprintf("url_id=%d", u.ID)), "create")
		want := map[string]string{"short_code": u.ShortCode, "original_url": u.OriginalURL}
		if ev.EventType != domain.EventCreated || *ev.UserID != user || !reflect.DeepEqual(details(t, ev), want) {
			t.Errorf("created event: %+v %s", ev, ev.Details)
		}
		if again := decodeURL(t, e.Do(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": u.OriginalURL})); again.ShortCode == u.ShortCode {
			t.Errorf("the same original_url twice got the same code %s", u.ShortCode)
		}
	})

	t.Run("CustomCode", func(t *testing.T) {
		r := e.Do(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/c", "short_code": "my_Code-1", "title": "Tïtle"})
		u := decodeURL(t, r)
		if r.Status != 201 || u.ShortCode != "my_Code-1" || u.Title == nil || *u.Title != "Tïtle" {
			t.Fatalf("POST /urls with a code: %v", r)
		}
		one(t, e.Audits(t, fmt.Sprintf("url_id=%d&event_type=created", u.ID)), "create")
	})

	t.Run("CodeTaken", func(t *testing.T) {
		e.CreateURL(t, user, "https://example.com/first") // a fixture, to count from
		before := len(e.Audits(t, "event_type=created"))
		body := map[string]any{"user_id": user, "original_url": "https://example.com/d", "short_code": "taken"}
		if r := e.Do(t, "POST", "/urls", body); r.Status != 201 {
			t.Fatalf("first: %v", r)
		}
		r := e.Do(t, "POST", "/urls", body)
		if r.Status != 409 || r.Object(t)["error"] == nil {
			t.Fatalf("second: %v", r)
		}
		if n := len(e.Audits(t, "event_type=created")); n != before+1 {
			t.Errorf("created events %d, want %d: the refused create wrote one", n, before+1)
		}
	})

	t.Run("UnknownUser", func(t *testing.T) {
		r := e.Do(t, "POST", "/urls", map[string]any{"user_id": 999999999, "original_url": "https://example.com/e"})
		if r.Status != 404 || r.Object(t)["error"] == nil {
			t.Fatalf("POST /urls for an unknown user: %v", r)
		}
		if evs := e.Audits(t, "user_id=999999999"); len(evs) != 0 {
			t.Errorf("a refused create wrote %d events", len(evs))
		}
	})

	t.Run("DeletedUser", func(t *testing.T) {
		gone := e.CreateUser(t)
		if r := e.Fixture(t, "DELETE", fmt.Sprintf("/users/%d", gone), nil); r.Status != 204 {
			t.Fatal(r)
		}
		if r := e.Do(t, "POST", "/urls", map[string]any{"user_id": gone, "original_url": "https://example.com/f"}); r.Status != 404 {
			t.Fatalf("POST /urls for a deleted user: %v", r)
		}
	})
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	user := e.CreateUser(t)
	cases := []struct {
		name   string
		body   string
		fields []string
	}{
		{"Empty", `{}`, []string{"user_id", "original_url"}},
		{"NullURL", fmt.Sprintf(`{"user_id":%d,"original_url":null}`, user), []string{"original_url"}},
		{"UserIDAsString", `{"user_id":"1","original_url":"https://x.io"}`, []string{"user_id"}},
		{"NotAURL", fmt.Sprintf(`{"user_id":%d,"original_url":"hello"}`, user), []string{"original_url"}},
		{"NoScheme", fmt.Sprintf(`{"user_id":%d,"original_url":"example.com"}`, user), []string{"original_url"}},
		{"FTP", fmt.Sprintf(`{"user_id":%d,"original_url":"ftp://x.io"}`, user), []string{"original_url"}},
		{"JavaScript", fmt.Sprintf(`{"user_id":%d,"original_url":"javascript:alert(1)"}`, user), []string{"original_url"}},
		{"LeadingSpace", fmt.Sprintf(`{"user_id":%d,"original_url":" https://x.io"}`, user), []string{"original_url"}},
		{"PortOutOfRange", fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io:99999/"}`, user), []string{"original_url"}},
		{"InvisibleCharacter", fmt.Sprintf(`{"user_id":%d,"original_url":"https://x\u200b.io/"}`, user), []string{"original_url"}},
		{"TooLong", fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io/%s"}`, user, strings.Repeat("a", 2048)), []string{"original_url"}},
		{"TitleTooLong", fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io","title":"%s"}`, user, strings.Repeat("é", 256)), []string{"title"}},
		{"TitleNUL", fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io","title":"a\u0000"}`, user), []string{"title"}},
		{"CodeTooShort", fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io","short_code":"abc"}`, user), []string{"short_code"}},
		{"CodeWithSlash", fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io","short_code":"ab/cd"}`, user), []string{"short_code"}},
		{"CodeReserved", fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io","short_code":"Users"}`, user), []string{"short_code"}},
		{"EveryFieldNamed", `{"original_url":"ftp://x","title":5,"short_code":"no"}`, []string{"user_id", "original_url", "title", "short_code"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(t, "POST", "/urls", c.body)
			if r.Status != 422 {
				t.Fatalf("status %v, want 422", r)
			}
			fields, _ := r.Object(t)["fields"].(map[string]any)
			got := make([]string, 0, len(fields))
			for f := range fields {
				got = append(got, f)
			}
			if len(got) != len(c.fields) {
				t.Errorf("fields %v, want exactly %v", got, c.fields)
			}
			for _, f := range c.fields {
				if _, ok := fields[f]; !ok {
					t.Errorf("fields lack %q: %s", f, r.Body)
				}
			}
		})
	}
	if evs := e.Audits(t, "event_type=created"); len(evs) != 0 {
		t.Errorf("refused creates wrote %d created events", len(evs))
	}
	if r := e.Do(t, "GET", "/urls", nil); string(r.Body) != "[]" {
		t.Errorf("refused creates stored urls: %s", r.Body)
	}
}

func TestBlockPrivateTargets(t *testing.T) {
	t.Parallel()
	private := []string{"http://127.0.0.1:8080/", "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://localhost/", "http://10.0.0.1/", "http://2130706433/"}
	for _, block := range []bool{false, true} {
		t.Run(fmt.Sprintf("Block=%v", block), func(t *testing.T) {
			t.Parallel()
			e := grouptest.Mount(t, routing.URLs, grouptest.Options{BlockPrivateTargets: block})
			user := e.CreateUser(t)
			want, wantPut := 201, 200
			if block {
				want, wantPut = 422, 422
			}
			for _, target := range private {
				r := e.Do(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": target})
				if r.Status != want {
					t.Errorf("POST %s: %v, want %d", target, r, want)
				}
				fields, _ := r.Object(t)["fields"].(map[string]any)
				if _, named := fields["original_url"]; block && !named {
					t.Errorf("POST %s: the refusal does not name original_url: %s", target, r.Body)
				}
			}
			public := e.Do(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/public"})
			if public.Status != 201 {
				t.Fatalf("public target: %v", public)
			}
			r := e.Do(t, "PUT", fmt.Sprintf("/urls/%d", decodeURL(t, public).ID), map[string]any{"original_url": "http://192.168.1.1/"})
			if r.Status != wantPut {
				t.Errorf("PUT to a private target: %v", r)
			}
		})
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	alice, bob := e.CreateUser(t), e.CreateUser(t)
	var a []domain.URL
	for i := range 5 {
		a = append(a, e.CreateURL(t, alice, fmt.Sprintf("https://example.com/a%d", i)))
	}
	b := e.CreateURL(t, bob, "https://example.com/b")
	gone := e.CreateURL(t, bob, "https://example.com/gone")
	e.Fixture(t, "PUT", fmt.Sprintf("/urls/%d", a[1].ID), map[string]any{"is_active": false})
	e.Fixture(t, "DELETE", fmt.Sprintf("/urls/%d", gone.ID), nil)
	a[1].IsActive = false
	ids := func(us ...domain.URL) []int64 {
		out := []int64{}
		for _, u := range us {
			out = append(out, u.ID)
		}
		return out
	}
	cases := []struct {
		name  string
		query string
		want  []int64
		total string // X-Total-Count; "" when the list is not paginated
	}{
		{"Everything", "", ids(a[0], a[1], a[2], a[3], a[4], b), ""},
		{"ByUser", fmt.Sprintf("user_id=%d", bob), ids(b), ""},
		{"UnknownUser", "user_id=99999", ids(), ""},
		{"Active", "is_active=true", ids(a[0], a[2], a[3], a[4], b), ""},
		{"Inactive", "is_active=false", ids(a[1]), ""},
		{"UserAndActive", fmt.Sprintf("user_id=%d&is_active=true", alice), ids(a[0], a[2], a[3], a[4]), ""},
		{"FirstPage", "page=1&per_page=4", ids(a[0], a[1], a[2], a[3]), "6"},
		{"SecondPage", "page=2&per_page=4", ids(a[4], b), "6"},
		{"PastTheEnd", "page=3&per_page=4", ids(), "6"},
		{"PageAlone", "page=1", ids(a[0], a[1], a[2], a[3], a[4], b), "6"},
		{"FilteredPage", fmt.Sprintf("user_id=%d&page=2&per_page=2", alice), ids(a[2], a[3]), "5"},
		{"OffsetPast64Bits", "page=9223372036854775807&per_page=1000", ids(), "6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i, cache := range []string{"MISS", "HIT"} {
				r := e.Do(t, "GET", "/urls?"+c.query, nil)
				var got []domain.URL
				r.Decode(t, &got)
				if r.Status != 200 || !reflect.DeepEqual(ids(got...), c.want) {
					t.Fatalf("read %d: %d ids %v, want %v", i, r.Status, ids(got...), c.want)
				}
				if x := r.Header.Get("X-Cache"); x != cache {
					t.Errorf("read %d: X-Cache %q, want %s", i, x, cache)
				}
				if n := r.Header.Get("X-Total-Count"); n != c.total {
					t.Errorf("read %d: X-Total-Count %q, want %q", i, n, c.total)
				}
			}
		})
	}
	t.Run("FullRows", func(t *testing.T) {
		var got []domain.URL
		e.Do(t, "GET", fmt.Sprintf("/urls?user_id=%d", alice), nil).Decode(t, &got)
		for i := range got {
			want := a[i]
			want.ShortURL = e.URL() + "/" + want.ShortCode // the origin this read reached
			if !reflect.DeepEqual(got[i], want) && i != 1 {
				t.Errorf("listed %+v, created %+v", got[i], a[i])
			}
		}
	})
	t.Run("WriteMakesAMiss", func(t *testing.T) {
		c := e.Do(t, "POST", "/urls", map[string]any{"user_id": bob, "original_url": "https://example.com/new"})
		r := e.Do(t, "GET", fmt.Sprintf("/urls?user_id=%d", bob), nil)
		var got []domain.URL
		r.Decode(t, &got)
		if r.Header.Get("X-Cache") != "MISS" || !reflect.DeepEqual(ids(got...), ids(b, decodeURL(t, c))) {
			t.Errorf("after a create: X-Cache %q, ids %v", r.Header.Get("X-Cache"), ids(got...))
		}
	})
	for _, bad := range []string{"user_id=x", "user_id=99999999999999999999", "is_active=yes", "page=0", "page=abc", "per_page=1001", "per_page=0", "page=99999999999999999999"} {
		t.Run("BadQuery/"+bad, func(t *testing.T) {
			if r := e.Do(t, "GET", "/urls?"+bad, nil); r.Status != 400 || r.Object(t)["error"] == nil {
				t.Errorf("GET /urls?%s: %v", bad, r)
			}
		})
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	user := e.CreateUser(t)
	u := e.CreateURL(t, user, "https://example.com/get")
	u.ShortURL = e.URL() + "/" + u.ShortCode // the origin the reads reach
	path := fmt.Sprintf("/urls/%d", u.ID)
	for i, cache := range []string{"MISS", "HIT"} {
		r := e.Do(t, "GET", path, nil)
		if r.Status != 200 || !reflect.DeepEqual(decodeURL(t, r), u) || r.Header.Get("X-Cache") != cache {
			t.Fatalf("read %d: %v, X-Cache %q, want %s and %+v", i, r, r.Header.Get("X-Cache"), cache, u)
		}
	}
	gone := e.CreateURL(t, user, "https://example.com/gone")
	e.Do(t, "GET", fmt.Sprintf("/urls/%d", gone.ID), nil) // cached, then deleted
	e.Fixture(t, "DELETE", fmt.Sprintf("/urls/%d", gone.ID), nil)
	e.WantNotFound(t, map[string]string{
		"Unknown": "/urls/999999999", "Deleted": fmt.Sprintf("/urls/%d", gone.ID), "NotInteger": "/urls/abc",
		"Zero": "/urls/0", "Negative": "/urls/-1", "Past64Bits": "/urls/99999999999999999999",
	})
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	user := e.CreateUser(t)
	u := e.CreateURL(t, user, "https://example.com/old")
	path := fmt.Sprintf("/urls/%d", u.ID)
	updates := func() []domain.Event {
		return e.Audits(t, fmt.Sprintf("url_id=%d&event_type=updated", u.ID))
	}

	t.Run("EveryField", func(t *testing.T) {
		e.Do(t, "GET", path, nil) // cached
		r := e.Do(t, "PUT", path, map[string]any{"title": "T", "is_active": false, "original_url": "https://example.org/new", "user_id": 12345})
		got := decodeURL(t, r)
		if r.Status != 200 || got.Title == nil || *got.Title != "T" || got.IsActive || got.OriginalURL != "https://example.org/new" ||
			got.UserID != user || got.ShortCode != u.ShortCode || !got.CreatedAt.Equal(u.CreatedAt) || !got.UpdatedAt.After(u.UpdatedAt) {
			t.Fatalf("PUT: %v", r)
		}
		evs := updates()
		if len(evs) != 3 {
			t.Fatalf("%d updated events, want one per changed field: %+v", len(evs), evs)
		}
		byField := map[string]string{}
		for _, ev := range evs {
			d := details(t, ev)
			byField[d["field"]] = d["new_value"]
			if *ev.UserID != user || !ev.Timestamp.Equal(got.UpdatedAt) {
				t.Errorf("event %+v: user or timestamp is not the update's", ev)
			}
		}
		if want := map[string]string{"title": "T", "is_active": "false", "original_url": "https://example.org/new"}; !reflect.DeepEqual(byField, want) {
			t.Errorf("updated events %v, want %v", byField, want)
		}
		read := e.Do(t, "GET", path, nil)
		if read.Header.Get("X-Cache") != "MISS" || !reflect.DeepEqual(decodeURL(t, read), got) {
			t.Errorf("read after the update: X-Cache %q, %s", read.Header.Get("X-Cache"), read.Body)
		}
		u = got
	})

	for _, c := range []struct {
		name string
		body any
	}{
		{"EmptyIsANoOp", map[string]any{}},
		{"SameValuesAreANoOp", map[string]any{"title": "T", "is_active": false, "original_url": "https://example.org/new"}},
		{"IgnoredFieldsAreANoOp", map[string]any{"user_id": 1, "short_code": "other"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(updates())
			r := e.Do(t, "PUT", path, c.body)
			if got := decodeURL(t, r); r.Status != 200 || !reflect.DeepEqual(got, u) {
				t.Fatalf("no-op PUT: %v, want %+v (updated_at unmoved)", r, u)
			}
			if n := len(updates()); n != before {
				t.Errorf("a no-op wrote %d events", n-before)
			}
		})
	}

	t.Run("OneChangeOneEvent", func(t *testing.T) {
		before := len(updates())
		r := e.Do(t, "PUT", path, map[string]any{"title": "T", "is_active": true})
		got := decodeURL(t, r)
		if r.Status != 200 || !got.IsActive || !got.UpdatedAt.After(u.UpdatedAt) {
			t.Fatalf("PUT: %v", r)
		}
		evs := updates()
		if len(evs) != before+1 || !reflect.DeepEqual(details(t, evs[len(evs)-1]), map[string]string{"field": "is_active", "new_value": "true"}) {
			t.Errorf("events after one change: %+v", evs)
		}
		u = got
	})

	t.Run("InvalidChangesNothing", func(t *testing.T) {
		before := len(updates())
		r := e.Do(t, "PUT", path, map[string]any{"title": "new", "original_url": "https://x.io:99999/", "is_active": "false"})
		fields, _ := r.Object(t)["fields"].(map[string]any)
		if r.Status != 422 || len(fields) != 2 || fields["original_url"] == nil || fields["is_active"] == nil {
			t.Fatalf("invalid PUT: %v", r)
		}
		if got := decodeURL(t, e.Do(t, "GET", path, nil)); !reflect.DeepEqual(got, u) {
			t.Errorf("a refused PUT changed the url: %+v", got)
		}
		if n := len(updates()); n != before {
			t.Errorf("a refused PUT wrote %d events", n-before)
		}
	})

	t.Run("Unknown", func(t *testing.T) {
		for _, p := range []string{"/urls/999999999", "/urls/abc"} {
			if r := e.Do(t, "PUT", p, map[string]any{"title": "x"}); r.Status != 404 {
				t.Errorf("PUT %s: %v", p, r)
			}
		}
	})

	t.Run("Deleted", func(t *testing.T) {
		gone := e.CreateURL(t, user, "https://example.com/gone")
		e.Fixture(t, "DELETE", fmt.Sprintf("/urls/%d", gone.ID), nil)
		if r := e.Do(t, "PUT", fmt.Sprintf("/urls/%d", gone.ID), map[string]any{"title": "x"}); r.Status != 404 {
			t.Errorf("PUT on a deleted url: %v", r)
		}
		if evs := e.Audits(t, fmt.Sprintf("url_id=%d&event_type=updated", gone.ID)); len(evs) != 0 {
			t.Errorf("a refused PUT wrote %d events", len(evs))
		}
	})
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	user := e.CreateUser(t)
	u := e.CreateURL(t, user, "https://example.com/del")
	keep := e.CreateURL(t, user, "https://example.com/keep")
	path := fmt.Sprintf("/urls/%d", u.ID)
	e.Do(t, "GET", path, nil) // cached item
	e.Do(t, "GET", "/urls", nil)

	r := e.Do(t, "DELETE", path, nil)
	if r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("DELETE: %v", r)
	}
	ev := one(t, e.Audits(t, fmt.Sprintf("url_id=%d&event_type=deleted", u.ID)), "delete")
	if *ev.UserID != user || !reflect.DeepEqual(details(t, ev), map[string]string{"reason": "user_requested"}) {
		t.Errorf("deleted event: %+v %s", ev, ev.Details)
	}
	if r := e.Do(t, "GET", path, nil); r.Status != 404 {
		t.Errorf("GET after delete: %v", r)
	}
	var left []domain.URL
	e.Do(t, "GET", "/urls", nil).Decode(t, &left)
	if len(left) != 1 || left[0].ID != keep.ID {
		t.Errorf("list after delete: %+v", left)
	}
	if r := e.Do(t, "DELETE", path, nil); r.Status != 404 || r.Object(t)["error"] == nil {
		t.Errorf("second DELETE: %v", r)
	}
	// The row and its history stay for audit; the second delete wrote nothing.
	types := map[string]int{}
	for _, ev := range e.Audits(t, fmt.Sprintf("url_id=%d", u.ID)) {
		types[ev.EventType]++
	}
	if want := map[string]int{domain.EventCreated: 1, domain.EventDeleted: 1}; !reflect.DeepEqual(types, want) {
		t.Errorf("the url's events by type: %v, want %v", types, want)
	}
	for _, p := range []string{"/urls/999999999", "/urls/abc"} {
		if r := e.Do(t, "DELETE", p, nil); r.Status != 404 {
			t.Errorf("DELETE %s: %v", p, r)
		}
	}
}
