package users_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/routing"
)

// email is an address no other test of this binary uses, so -count=2 and parallel tests
// never clash by accident.
func email(tag string) string {
	return fmt.Sprintf("%s%d@example.com", tag, time.Now().UnixNano())
}

func decodeUser(t *testing.T, r grouptest.Reply) domain.User {
	t.Helper()
	var u domain.User
	r.Decode(t, &u)
	return u
}

// one wants exactly one event in evs and returns it.
func one(t *testing.T, evs []domain.Event, what string) domain.Event {
	t.Helper()
	if len(evs) != 1 {
		t.Fatalf("%s: %d events, want exactly 1: %+v", what, len(evs), evs)
	}
	return evs[0]
}

// fieldNames is the sorted keys of a 422 answer's "fields".
func fieldNames(t *testing.T, r grouptest.Reply) []string {
	t.Helper()
	fields, _ := r.Object(t)["fields"].(map[string]any)
	got := make([]string, 0, len(fields))
	for f := range fields {
		got = append(got, f)
	}
	slices.Sort(got)
	return got
}

// changedFields is the "fields" list of a user_updated event's details.
func changedFields(t *testing.T, ev domain.Event) []string {
	t.Helper()
	var d struct{ Fields []string }
	if err := json.Unmarshal(ev.Details, &d); err != nil {
		t.Fatalf("details %s: %v", ev.Details, err)
	}
	return d.Fields
}

func TestCreate(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})

	t.Run("Created", func(t *testing.T) {
		addr := email("Ann")
		r := e.Do(t, "POST", "/users", map[string]any{"username": " ann ", "email": addr, "is_admin": true})
		u := decodeUser(t, r)
		if r.Status != 201 || u.ID <= 0 || u.Username != " ann " || u.Email != addr || u.CreatedAt.IsZero() || u.CreatedAt.Location().String() != "UTC" {
			t.Fatalf("POST /users: %v", r)
		}
		ev := one(t, e.Audits(t, fmt.Sprintf("user_id=%d", u.ID)), "create")
		if ev.EventType != domain.EventUserCreated || ev.URLID != nil || *ev.UserID != u.ID {
			t.Errorf("created event: %+v", ev)
		}
		if strings.Contains(string(ev.Details), addr) {
			t.Errorf("user_created details carry the email: %s", ev.Details)
		}
		if got := decodeUser(t, e.Do(t, "GET", fmt.Sprintf("/users/%d", u.ID), nil)); !reflect.DeepEqual(got, u) {
			t.Errorf("read back %+v, created %+v", got, u)
		}
	})

	t.Run("DuplicateEmailIs409", func(t *testing.T) {
		addr := email("dup")
		if r := e.Do(t, "POST", "/users", map[string]any{"username": "a", "email": addr}); r.Status != 201 {
			t.Fatalf("first: %v", r)
		}
		before := len(e.Audits(t, "event_type=user_created"))
		for name, again := range map[string]string{"SameCase": addr, "OtherCase": strings.ToUpper(addr)} {
			t.Run(name, func(t *testing.T) {
				r := e.Do(t, "POST", "/users", map[string]any{"username": "b", "email": again})
				if r.Status != 409 || r.Object(t)["error"] == nil {
					t.Errorf("POST /users with %s: %v, want 409", again, r)
				}
			})
		}
		if n := len(e.Audits(t, "event_type=user_created")); n != before {
			t.Errorf("refused creates wrote %d user_created events", n-before)
		}
	})
}

func TestCreateInvalid(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	long := strings.Repeat("é", 256) // 256 characters, 512 bytes
	cases := []struct {
		name   string
		body   string
		fields []string
	}{
		{"Empty", `{}`, []string{"email", "username"}},
		{"NoUsername", `{"email":"a@example.com"}`, []string{"username"}},
		{"EmptyUsername", `{"username":"","email":"a@example.com"}`, []string{"username"}},
		{"BlankUsername", `{"username":" \t\n","email":"a@example.com"}`, []string{"username"}},
		{"UsernameTooLong", `{"username":"` + long + `","email":"a@example.com"}`, []string{"username"}},
		{"NoAt", `{"username":"a","email":"example.com"}`, []string{"email"}},
		{"NoTLD", `{"username":"a","email":"a@example"}`, []string{"email"}},
		{"EmailTooLong", `{"username":"a","email":"` + strings.Repeat("a", 250) + `@example.com"}`, []string{"email"}},
		{"UsernameNUL", `{"username":"a\u0000b","email":"a@example.com"}`, []string{"username"}},
		{"EmailNUL", `{"username":"a","email":"a\u0000@example.com"}`, []string{"email"}},
		{"UsernameNumber", `{"username":5,"email":"a@example.com"}`, []string{"username"}},
		{"EmailArray", `{"username":"a","email":["a@example.com"]}`, []string{"email"}},
		{"UsernameNull", `{"username":null,"email":"a@example.com"}`, []string{"username"}},
		{"BothNull", `{"username":null,"email":null}`, []string{"email", "username"}},
		{"BothWrong", `{"username":"","email":true}`, []string{"email", "username"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(t, "POST", "/users", c.body)
			if r.Status != 422 || r.Object(t)["error"] == nil {
				t.Fatalf("status %v, want 422", r)
			}
			if got := fieldNames(t, r); !reflect.DeepEqual(got, c.fields) {
				t.Errorf("fields %v, want exactly %v: %s", got, c.fields, r.Body)
			}
		})
	}
	for name, body := range map[string]string{
		"EmptyBody": ``, "NotJSON": `{"username":`, "String": `"a"`, "Array": `[{"username":"a","email":"a@example.com"}]`,
		"Number": `1`, "Null": `null`,
	} {
		t.Run("NotAnObject/"+name, func(t *testing.T) {
			if r := e.Do(t, "POST", "/users", body); r.Status != 400 || r.Object(t)["error"] == nil {
				t.Errorf("POST /users %q: %v, want 400", body, r)
			}
		})
	}
	if evs := e.Audits(t, "event_type=user_created"); len(evs) != 0 {
		t.Errorf("refused creates wrote %d user_created events", len(evs))
	}
	if r := e.Do(t, "GET", "/users", nil); string(r.Body) != "[]" {
		t.Errorf("refused creates stored users: %s", r.Body)
	}
}

// TestCreateRace: of many creates of one email at once (in varied case), exactly one
// wins and every other is a 409.
func TestCreateRace(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	const n = 16
	addr := email("race")
	statuses, errs := make([]int, n), make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := addr
			if i%2 == 1 {
				a = strings.ToUpper(addr)
			}
			body := fmt.Sprintf(`{"username":"r%d","email":%q}`, i, a)
			<-start
			// Sent by hand: the harness's Do may call t.Fatal, which only the test's own
			// goroutine may.
			res, err := http.Post(e.URL()+"/users", "application/json", strings.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i, s := range statuses {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		count[s]++
	}
	if count[201] != 1 || count[409] != n-1 {
		t.Errorf("statuses %v, want one 201 and %d 409", count, n-1)
	}
	var us []domain.User
	e.Do(t, "GET", "/users", nil).Decode(t, &us)
	if len(us) != 1 {
		t.Errorf("%d users stored, want 1", len(us))
	}
	if evs := e.Audits(t, "event_type=user_created"); len(evs) != 1 {
		t.Errorf("%d user_created events, want 1", len(evs))
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	var ids []int64
	for range 5 {
		ids = append(ids, e.CreateUser(t))
	}
	gone := e.CreateUser(t)
	if r := e.Fixture(t, "DELETE", fmt.Sprintf("/users/%d", gone), nil); r.Status != 204 {
		t.Fatal(r)
	}
	cases := []struct {
		name  string
		query string
		want  []int64
		total string // X-Total-Count; "" when the list is not paginated
	}{
		{"Everything", "", ids, ""},
		{"FirstPage", "page=1&per_page=2", ids[0:2], "5"},
		{"LastPage", "page=3&per_page=2", ids[4:5], "5"},
		{"PastTheEnd", "page=4&per_page=2", []int64{}, "5"},
		{"PageAlone", "page=1", ids, "5"},
		{"OffsetPast64Bits", "page=9223372036854775807&per_page=1000", []int64{}, "5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for i, cache := range []string{"MISS", "HIT"} {
				r := e.Do(t, "GET", "/users?"+c.query, nil)
				var got []domain.User
				r.Decode(t, &got)
				gotIDs := []int64{}
				for _, u := range got {
					gotIDs = append(gotIDs, u.ID)
				}
				if r.Status != 200 || !reflect.DeepEqual(gotIDs, c.want) {
					t.Fatalf("read %d: %d ids %v, want %v", i, r.Status, gotIDs, c.want)
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
	t.Run("CreateMakesAMiss", func(t *testing.T) {
		added := decodeUser(t, e.Do(t, "POST", "/users", map[string]any{"username": "new", "email": email("new")}))
		r := e.Do(t, "GET", "/users?page=3&per_page=2", nil)
		var got []domain.User
		r.Decode(t, &got)
		if r.Header.Get("X-Cache") != "MISS" || len(got) != 2 || got[1].ID != added.ID || r.Header.Get("X-Total-Count") != "6" {
			t.Errorf("after a create: X-Cache %q, X-Total-Count %q, %s", r.Header.Get("X-Cache"), r.Header.Get("X-Total-Count"), r.Body)
		}
	})
	for _, bad := range []string{"page=0", "page=abc", "per_page=0", "per_page=1001", "page=99999999999999999999"} {
		t.Run("BadQuery/"+bad, func(t *testing.T) {
			if r := e.Do(t, "GET", "/users?"+bad, nil); r.Status != 400 || r.Object(t)["error"] == nil {
				t.Errorf("GET /users?%s: %v", bad, r)
			}
		})
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	id := e.CreateUser(t)
	path := fmt.Sprintf("/users/%d", id)
	var first domain.User
	for i, cache := range []string{"MISS", "HIT"} {
		r := e.Do(t, "GET", path, nil)
		u := decodeUser(t, r)
		if r.Status != 200 || u.ID != id || r.Header.Get("X-Cache") != cache {
			t.Fatalf("read %d: %v, X-Cache %q, want %s", i, r, r.Header.Get("X-Cache"), cache)
		}
		if i == 1 && !reflect.DeepEqual(u, first) {
			t.Errorf("the cached read %+v differs from the first %+v", u, first)
		}
		first = u
	}
	gone := e.CreateUser(t)
	e.Do(t, "GET", fmt.Sprintf("/users/%d", gone), nil) // cached, then deleted
	if r := e.Fixture(t, "DELETE", fmt.Sprintf("/users/%d", gone), nil); r.Status != 204 {
		t.Fatal(r)
	}
	e.WantNotFound(t, map[string]string{
		"Unknown": "/users/999999999", "Deleted": fmt.Sprintf("/users/%d", gone), "NotInteger": "/users/abc",
		"Zero": "/users/0", "Negative": "/users/-1", "Past64Bits": "/users/99999999999999999999",
	})
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	id := e.CreateUser(t)
	other := decodeUser(t, e.Fixture(t, "GET", fmt.Sprintf("/users/%d", e.CreateUser(t)), nil))
	path := fmt.Sprintf("/users/%d", id)
	u := decodeUser(t, e.Do(t, "GET", path, nil))
	updates := func() []domain.Event {
		return e.Audits(t, fmt.Sprintf("user_id=%d&event_type=user_updated", id))
	}

	for _, c := range []struct {
		name string
		body any
	}{
		{"EmptyIsANoOp", map[string]any{}},
		{"SameValuesAreANoOp", map[string]any{"username": u.Username, "email": u.Email}},
		{"IgnoredFieldsAreANoOp", map[string]any{"id": 5, "created_at": "2000-01-01T00:00:00Z"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(t, "PUT", path, c.body)
			if got := decodeUser(t, r); r.Status != 200 || !reflect.DeepEqual(got, u) {
				t.Fatalf("no-op PUT: %v, want %+v", r, u)
			}
			if evs := updates(); len(evs) != 0 {
				t.Errorf("a no-op wrote %d user_updated events", len(evs))
			}
		})
	}

	t.Run("OneChangeOneEvent", func(t *testing.T) {
		e.Do(t, "GET", path, nil) // cached
		r := e.Do(t, "PUT", path, map[string]any{"username": "renamed", "email": u.Email})
		got := decodeUser(t, r)
		if r.Status != 200 || got.Username != "renamed" || got.Email != u.Email || got.ID != id || !got.CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("PUT: %v", r)
		}
		ev := one(t, updates(), "rename")
		if f := changedFields(t, ev); !reflect.DeepEqual(f, []string{"username"}) || ev.URLID != nil || *ev.UserID != id {
			t.Errorf("user_updated event %+v %s, want fields [username]", ev, ev.Details)
		}
		if strings.Contains(string(ev.Details), "renamed") {
			t.Errorf("user_updated details carry personal data: %s", ev.Details)
		}
		read := e.Do(t, "GET", path, nil)
		if read.Header.Get("X-Cache") != "MISS" || !reflect.DeepEqual(decodeUser(t, read), got) {
			t.Errorf("read after the update: X-Cache %q, %s", read.Header.Get("X-Cache"), read.Body)
		}
		u = got
	})

	t.Run("BothFieldsOneEvent", func(t *testing.T) {
		addr := email("both")
		r := e.Do(t, "PUT", path, map[string]any{"username": "both", "email": addr})
		got := decodeUser(t, r)
		if r.Status != 200 || got.Username != "both" || got.Email != addr {
			t.Fatalf("PUT: %v", r)
		}
		evs := updates()
		if len(evs) != 2 {
			t.Fatalf("%d user_updated events, want 2 (one per PUT that changed something): %+v", len(evs), evs)
		}
		f := changedFields(t, evs[1])
		slices.Sort(f)
		if !reflect.DeepEqual(f, []string{"email", "username"}) {
			t.Errorf("fields %v, want [email username]", f)
		}
		u = got
	})

	t.Run("EmailOfAnotherUserIs409", func(t *testing.T) {
		for name, addr := range map[string]string{"SameCase": other.Email, "OtherCase": strings.ToUpper(other.Email)} {
			t.Run(name, func(t *testing.T) {
				r := e.Do(t, "PUT", path, map[string]any{"email": addr})
				if r.Status != 409 || r.Object(t)["error"] == nil {
					t.Errorf("PUT with another user's email: %v, want 409", r)
				}
			})
		}
		if got := decodeUser(t, e.Do(t, "GET", path, nil)); !reflect.DeepEqual(got, u) {
			t.Errorf("a refused PUT changed the user: %+v", got)
		}
		if n := len(updates()); n != 2 {
			t.Errorf("%d user_updated events after refused PUTs, want 2", n)
		}
	})

	t.Run("InvalidChangesNothing", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			body   string
			fields []string
		}{
			{"BadEmailWithGoodName", `{"username":"fine","email":"nope"}`, []string{"email"}},
			{"BlankName", `{"username":"  "}`, []string{"username"}},
			{"NullEmail", `{"email":null}`, []string{"email"}},
			{"NULAndWrongType", `{"username":"a\u0000","email":1}`, []string{"email", "username"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := e.Do(t, "PUT", path, c.body)
				if r.Status != 422 {
					t.Fatalf("invalid PUT: %v", r)
				}
				if got := fieldNames(t, r); !reflect.DeepEqual(got, c.fields) {
					t.Errorf("fields %v, want exactly %v", got, c.fields)
				}
			})
		}
		if got := decodeUser(t, e.Do(t, "GET", path, nil)); !reflect.DeepEqual(got, u) {
			t.Errorf("a refused PUT changed the user: %+v", got)
		}
		if n := len(updates()); n != 2 {
			t.Errorf("%d user_updated events after refused PUTs, want 2", n)
		}
	})

	t.Run("NotAnObjectIs400", func(t *testing.T) {
		if r := e.Do(t, "PUT", path, `["username"]`); r.Status != 400 {
			t.Errorf("PUT with an array: %v", r)
		}
	})

	for name, p := range map[string]string{"Unknown": "/users/999999999", "NotInteger": "/users/abc"} {
		t.Run(name+"Is404", func(t *testing.T) {
			if r := e.Do(t, "PUT", p, map[string]any{"username": "x"}); r.Status != 404 {
				t.Errorf("PUT %s: %v", p, r)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	id, bystander := e.CreateUser(t), e.CreateUser(t)
	owned := []domain.URL{
		e.CreateURL(t, id, "https://example.com/1"),
		e.CreateURL(t, id, "https://example.com/2"),
		e.CreateURL(t, id, "https://example.com/3"),
	}
	// One URL is inactive (still deleted with its user), one already deleted (not again).
	if r := e.Fixture(t, "PUT", fmt.Sprintf("/urls/%d", owned[1].ID), map[string]any{"is_active": false}); r.Status != 200 {
		t.Fatal(r)
	}
	earlier := e.CreateURL(t, id, "https://example.com/earlier")
	if r := e.Fixture(t, "DELETE", fmt.Sprintf("/urls/%d", earlier.ID), nil); r.Status != 204 {
		t.Fatal(r)
	}
	kept := e.CreateURL(t, bystander, "https://example.com/kept")
	path := fmt.Sprintf("/users/%d", id)
	for _, u := range owned {
		e.Fixture(t, "GET", fmt.Sprintf("/urls/%d", u.ID), nil) // cached before the delete
	}
	e.Do(t, "GET", path, nil)
	e.Do(t, "GET", "/users", nil)

	if r := e.Do(t, "DELETE", path, nil); r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("DELETE %s: %v", path, r)
	}

	t.Run("UserGone", func(t *testing.T) {
		if r := e.Do(t, "GET", path, nil); r.Status != 404 {
			t.Errorf("GET after delete: %v", r)
		}
		var us []domain.User
		e.Do(t, "GET", "/users", nil).Decode(t, &us)
		if len(us) != 1 || us[0].ID != bystander {
			t.Errorf("list after delete: %+v, want only user %d", us, bystander)
		}
	})

	t.Run("URLsGone", func(t *testing.T) {
		for _, u := range owned {
			if r := e.Fixture(t, "GET", fmt.Sprintf("/urls/%d", u.ID), nil); r.Status != 404 {
				t.Errorf("GET /urls/%d of a deleted user: %v", u.ID, r)
			}
		}
		var left []domain.URL
		e.Fixture(t, "GET", fmt.Sprintf("/urls?user_id=%d", id), nil).Decode(t, &left)
		if len(left) != 0 {
			t.Errorf("the deleted user's URLs are still listed: %+v", left)
		}
		if r := e.Fixture(t, "GET", fmt.Sprintf("/urls/%d", kept.ID), nil); r.Status != 200 {
			t.Errorf("another user's URL: %v", r)
		}
	})

	t.Run("EventsOnce", func(t *testing.T) {
		for _, u := range owned {
			ev := one(t, e.Audits(t, fmt.Sprintf("url_id=%d&event_type=deleted", u.ID)), fmt.Sprintf("url %d deleted", u.ID))
			var d map[string]string
			if err := json.Unmarshal(ev.Details, &d); err != nil || !reflect.DeepEqual(d, map[string]string{"reason": "user_deleted"}) || *ev.UserID != id {
				t.Errorf("deleted event of url %d: %+v %s", u.ID, ev, ev.Details)
			}
		}
		ev := one(t, e.Audits(t, fmt.Sprintf("url_id=%d&event_type=deleted", earlier.ID)), "the earlier delete")
		if !strings.Contains(string(ev.Details), "user_requested") {
			t.Errorf("the URL deleted before its user got a second deleted event: %s", ev.Details)
		}
		ud := one(t, e.Audits(t, fmt.Sprintf("user_id=%d&event_type=user_deleted", id)), "user_deleted")
		if ud.URLID != nil {
			t.Errorf("user_deleted names url %d", *ud.URLID)
		}
		if evs := e.Audits(t, fmt.Sprintf("user_id=%d&event_type=deleted", bystander)); len(evs) != 0 {
			t.Errorf("another user's URLs got deleted events: %+v", evs)
		}
	})

	t.Run("SecondDeleteIs404", func(t *testing.T) {
		if r := e.Do(t, "DELETE", path, nil); r.Status != 404 || r.Object(t)["error"] == nil {
			t.Errorf("second DELETE: %v", r)
		}
		one(t, e.Audits(t, fmt.Sprintf("user_id=%d&event_type=user_deleted", id)), "user_deleted after a second delete")
	})

	for name, p := range map[string]string{"Unknown": "/users/999999999", "NotInteger": "/users/abc"} {
		t.Run(name+"Is404", func(t *testing.T) {
			if r := e.Do(t, "DELETE", p, nil); r.Status != http.StatusNotFound {
				t.Errorf("DELETE %s: %v", p, r)
			}
		})
	}
}

// TestStoreDown: without PostgreSQL every route answers 503 with Retry-After, never 500,
// and a cached read still answers from the cache.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	id := e.CreateUser(t)
	e.Do(t, "GET", fmt.Sprintf("/users/%d", id), nil) // cached
	e.CloseStore()
	if r := e.Do(t, "GET", fmt.Sprintf("/users/%d", id), nil); r.Status != 200 || r.Header.Get("X-Cache") != "HIT" {
		t.Errorf("cached read without the store: %v, X-Cache %q", r, r.Header.Get("X-Cache"))
	}
	for _, c := range []struct {
		name, method, path string
		body               any
	}{
		{"List", "GET", "/users", nil},
		{"Get", "GET", fmt.Sprintf("/users/%d", id+1), nil},
		{"Create", "POST", "/users", map[string]any{"username": "a", "email": email("down")}},
		{"Update", "PUT", fmt.Sprintf("/users/%d", id), map[string]any{"username": "b"}},
		{"Delete", "DELETE", fmt.Sprintf("/users/%d", id), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(t, c.method, c.path, c.body)
			if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || r.Object(t)["error"] == nil {
				t.Errorf("%s %s without the store: %v, Retry-After %q", c.method, c.path, r, r.Header.Get("Retry-After"))
			}
		})
	}
}
