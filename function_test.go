package function

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/cache/cachetest"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// api is the all-in-one function on a fresh database and cache key space, served through
// httptest.
type api struct {
	t   testing.TB
	srv *httptest.Server
	f   *Function
}

// startAPI starts the function env names (FUNCTION empty: all in one) on a fresh
// database and key prefix. The configuration is Start's map, not the environment, so
// tests that start their own need not run one at a time.
func startAPI(t testing.TB, env map[string]string) *api {
	t.Helper()
	return start(t, New(), env)
}

// start starts f as startAPI does: env over a base configuration that leaves nothing that
// matters to the process environment.
func start(t testing.TB, f *Function, env map[string]string) *api {
	t.Helper()
	args := map[string]string{
		"DATABASE_URL":      storetest.URL(t),
		"DATABASE_RO_URL":   "",
		"VALKEY_URL":        cachetest.URL(t),
		"VALKEY_KEY_PREFIX": cachetest.Prefix(),
		"FUNCTION":          "",
		"K_SERVICE":         "",
		"K_SINK":            "",
		"EVENTS_WRITER_URL": "",
		"LOG_LEVEL":         "error",
	}
	maps.Copy(args, env)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.Start(ctx, args); err != nil {
		t.Fatalf("start: %v", err)
	}
	srv := httptest.NewServer(http.HandlerFunc(f.Handle))
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = f.Stop(ctx)
	})
	return &api{t: t, srv: srv, f: f}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %s", r.body)
	}
	return m
}

func (a *api) do(method, path, contentType string, body []byte) resp {
	a.t.Helper()
	return a.doKeyed("", method, path, contentType, body)
}

// doKeyed is do with an API key (none when empty) in Authorization.
func (a *api) doKeyed(key, method, path, contentType string, body []byte) resp {
	a.t.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, b}
}

func (a *api) send(method, path string, v any) resp {
	a.t.Helper()
	b, _ := json.Marshal(v)
	return a.do(method, path, "application/json", b)
}

func (a *api) createUser() int64 {
	a.t.Helper()
	r := a.send("POST", "/users", map[string]any{"username": "u", "email": fmt.Sprintf("u%d@example.com", time.Now().UnixNano())})
	if r.status != 201 {
		a.t.Fatalf("create user: %d %s", r.status, r.body)
	}
	return int64(r.json(a.t)["id"].(float64))
}

func (a *api) createURL(user int64, original string) map[string]any {
	a.t.Helper()
	r := a.send("POST", "/urls", map[string]any{"user_id": user, "original_url": original})
	if r.status != 201 {
		a.t.Fatalf("create url: %d %s", r.status, r.body)
	}
	return r.json(a.t)
}

// TestBadInputNever500 sends every kind of bad input the spec names and wants its 4xx with
// a JSON error, never a 500.
func TestBadInputNever500(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	user := a.createUser()
	url := a.createURL(user, "https://example.com/a")
	huge := []byte(`{"username":"` + strings.Repeat("a", 2<<20) + `","email":"x@example.com"}`)
	cases := []struct {
		name, method, path, ct string
		body                   []byte
		want                   int
		fields                 []string
	}{
		{"MalformedJSON", "POST", "/users", "application/json", []byte(`{"username":`), 400, nil},
		{"EmptyBody", "POST", "/users", "application/json", nil, 400, nil},
		{"JSONArray", "POST", "/urls", "application/json", []byte(`[1]`), 400, nil},
		{"JSONNumber", "POST", "/events", "application/json", []byte(`42`), 400, nil},
		{"TrailingData", "POST", "/users", "application/json", []byte(`{"username":"a","email":"a@b.co"} {}`), 400, nil},
		{"WrongContentType", "POST", "/users", "text/plain", []byte(`{"username":"a","email":"a@b.co"}`), 400, nil},
		{"NoContentType", "PUT", fmt.Sprintf("/users/%d", user), "", []byte(`{}`), 400, nil},
		{"HugeBody", "POST", "/users", "application/json", huge, 413, nil},
		{"WrongTypes", "POST", "/users", "application/json", []byte(`{"username":5,"email":true}`), 422, []string{"username", "email"}},
		{"NullField", "POST", "/urls", "application/json", []byte(fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io","title":null}`, user)), 422, []string{"title"}},
		{"FloatID", "POST", "/urls", "application/json", []byte(`{"user_id":1.5,"original_url":"https://x.io"}`), 422, []string{"user_id"}},
		{"EveryFieldNamed", "POST", "/urls", "application/json", []byte(`{"short_code":"no"}`), 422, []string{"user_id", "original_url", "short_code"}},
		{"BlankUsername", "POST", "/users", "application/json", []byte(`{"username":"   ","email":"b@example.com"}`), 422, []string{"username"}},
		{"URLWithSpace", "POST", "/urls", "application/json", []byte(fmt.Sprintf(`{"user_id":%d,"original_url":" https://x.io"}`, user)), 422, []string{"original_url"}},
		{"ActiveAsString", "PUT", fmt.Sprintf("/urls/%v", url["id"]), "application/json", []byte(`{"is_active":"false"}`), 422, []string{"is_active"}},
		{"DetailsNotObject", "POST", "/events", "application/json", []byte(fmt.Sprintf(`{"event_type":"x","url_id":%v,"details":[1]}`, url["id"])), 422, []string{"details"}},
		{"UnknownUser", "GET", "/users/999999999", "", nil, 404, nil},
		{"NonIntegerID", "GET", "/urls/abc", "", nil, 404, nil},
		{"HugeID", "GET", "/events/99999999999999999999999", "", nil, 404, nil},
		{"UnknownURLUpdate", "PUT", "/urls/999999999", "application/json", []byte(`{"title":"x"}`), 404, nil},
		{"UnknownUserDelete", "DELETE", "/users/999999999", "", nil, 404, nil},
		{"UnknownURLForEvent", "POST", "/events", "application/json", []byte(`{"event_type":"x","url_id":999999999}`), 404, nil},
		{"PageNotInteger", "GET", "/users?page=abc", "", nil, 400, nil},
		{"PerPageTooBig", "GET", "/urls?per_page=1001", "", nil, 400, nil},
		{"PageZero", "GET", "/events?page=0&per_page=5", "", nil, 400, nil},
		{"FilterNotInteger", "GET", "/urls?user_id=x", "", nil, 400, nil},
		{"FilterNotBool", "GET", "/urls?is_active=yes", "", nil, 400, nil},
		{"UnknownPath", "GET", "/no/such/path", "", nil, 404, nil},
		{"WrongMethod", "PATCH", "/users", "application/json", []byte(`{}`), 405, nil},
		{"UnknownCode", "GET", "/zzzzzzzz", "", nil, 404, nil},
		{"BulkNotMultipart", "POST", "/users/bulk", "application/json", []byte(`{}`), 400, nil},
		// What the hostile-client drill of issue 10 turned into 500s.
		{"NULInUsername", "POST", "/users", "application/json", []byte(`{"username":"a\u0000b","email":"nul@example.com"}`), 422, []string{"username"}},
		{"NULInEmail", "POST", "/users", "application/json", []byte(`{"username":"a","email":"n\u0000l@example.com"}`), 422, []string{"email"}},
		{"InvalidUTF8Body", "POST", "/users", "application/json", []byte("{\"username\":\"\xff\",\"email\":\"x@example.com\"}"), 400, nil},
		{"NULInTitle", "POST", "/urls", "application/json", []byte(fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io","title":"\u0000"}`, user)), 422, []string{"title"}},
		{"NULInEventType", "POST", "/events", "application/json", []byte(fmt.Sprintf(`{"event_type":"\u0000","url_id":%v}`, url["id"])), 422, []string{"event_type"}},
		{"NULInDetailsKey", "POST", "/events", "application/json", []byte(fmt.Sprintf(`{"event_type":"x","url_id":%v,"details":{"\u0000":1}}`, url["id"])), 422, []string{"details"}},
		{"NULInDetailsValue", "POST", "/events", "application/json", []byte(fmt.Sprintf(`{"event_type":"x","url_id":%v,"details":{"k":["\u0000"]}}`, url["id"])), 422, []string{"details"}},
		{"NumberPostgresCannotHold", "POST", "/events", "application/json", []byte(fmt.Sprintf(`{"event_type":"x","url_id":%v,"details":{"n":1e999999}}`, url["id"])), 422, []string{"details"}},
		{"InvalidPort", "POST", "/urls", "application/json", []byte(fmt.Sprintf(`{"user_id":%d,"original_url":"https://x.io:99999/"}`, user)), 422, []string{"original_url"}},
		{"InvisibleCharacter", "POST", "/urls", "application/json", []byte(fmt.Sprintf(`{"user_id":%d,"original_url":"https://x\u200b.io/"}`, user)), 422, []string{"original_url"}},
		{"CodeNotUTF8", "GET", "/%FF", "", nil, 404, nil},
		{"OverlongCodeRedirect", "GET", "/urls/%C0%AE/redirect", "", nil, 404, nil},
		{"CodeOfAMillionChars", "GET", "/" + strings.Repeat("a", 1_000_000), "", nil, 404, nil},
		{"FilterNUL", "GET", "/events?event_type=%00", "", nil, 400, nil},
		{"FilterNotUTF8", "GET", "/events?event_type=%FF", "", nil, 400, nil},
		{"PageOver64Bits", "GET", "/users?page=99999999999999999999", "", nil, 400, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := a.do(c.method, c.path, c.ct, c.body)
			if r.status != c.want {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, r.status, c.want, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("no X-Content-Type-Options: nosniff")
			}
			m := r.json(t)
			if msg, _ := m["error"].(string); msg == "" {
				t.Errorf("no error message: %s", r.body)
			}
			fields, _ := m["fields"].(map[string]any)
			for _, f := range c.fields {
				if _, ok := fields[f]; !ok {
					t.Errorf("fields lacks %q: %s", f, r.body)
				}
			}
		})
	}
}

// TestPageFarPastTheEnd asks for pages whose offset overflows 64 bits: past the end of
// any list, so an empty page with the true total, and later requests still work.
func TestPageFarPastTheEnd(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	a.createUser()
	for _, path := range []string{"/users", "/urls", "/events"} {
		r := a.do("GET", path+"?page=9223372036854775807&per_page=1000", "", nil)
		if r.status != 200 || strings.TrimSpace(string(r.body)) != "[]" || r.header.Get("X-Total-Count") == "" {
			t.Fatalf("%s far page: %d %s (X-Total-Count %q)", path, r.status, r.body, r.header.Get("X-Total-Count"))
		}
	}
	a.createUser()
}

// TestBlockPrivateTargets turns BLOCK_PRIVATE_TARGETS on: links to this machine's network
// are refused, public ones are not, and the refusal names the field.
func TestBlockPrivateTargets(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("Block=%v", on), func(t *testing.T) {
			a := startAPI(t, map[string]string{"BLOCK_PRIVATE_TARGETS": fmt.Sprint(on)})
			user := a.createUser()
			for _, target := range []string{"http://127.0.0.1:8080/", "http://169.254.169.254/latest/meta-data", "http://[::1]/", "http://localhost/", "http://2130706433/"} {
				r := a.send("POST", "/urls", map[string]any{"user_id": user, "original_url": target})
				want := 201
				if on {
					want = 422
				}
				if r.status != want {
					t.Fatalf("%s: %d %s, want %d", target, r.status, r.body, want)
				}
			}
			a.createURL(user, "https://example.com/public")
			if on {
				u := a.createURL(user, "https://example.com/later")
				r := a.send("PUT", fmt.Sprintf("/urls/%v", u["id"]), map[string]any{"original_url": "http://10.0.0.1/"})
				if r.status != 422 {
					t.Fatalf("PUT to a private target: %d %s", r.status, r.body)
				}
			}
		})
	}
}

// TestRejectedUpdateChangesNothing checks that a 422 on PUT leaves the resource as it was.
func TestRejectedUpdateChangesNothing(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	user := a.createUser()
	u := a.createURL(user, "https://example.com/keep")
	path := fmt.Sprintf("/urls/%v", u["id"])
	r := a.send("PUT", path, map[string]any{"title": "new", "original_url": "ftp://bad"})
	if r.status != 422 {
		t.Fatalf("PUT: %d %s", r.status, r.body)
	}
	got := a.do("GET", path, "", nil).json(t)
	if got["title"] != nil || got["original_url"] != "https://example.com/keep" {
		t.Errorf("rejected PUT changed the url: %v", got)
	}
}

// TestCacheHeaders checks read-through caching: MISS, HIT, and MISS again after a write.
func TestCacheHeaders(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	user := a.createUser()
	for _, path := range []string{fmt.Sprintf("/users/%d", user), "/users?page=1&per_page=5", "/urls"} {
		t.Run(strings.ReplaceAll(path, "/", "_"), func(t *testing.T) {
			if x := a.do("GET", path, "", nil).header.Get("X-Cache"); x != "MISS" {
				t.Errorf("first read: X-Cache %q", x)
			}
			if x := a.do("GET", path, "", nil).header.Get("X-Cache"); x != "HIT" {
				t.Errorf("second read: X-Cache %q", x)
			}
		})
	}
	a.createURL(user, "https://example.com/new")
	if x := a.do("GET", "/urls", "", nil).header.Get("X-Cache"); x != "MISS" {
		t.Errorf("list read after a write: X-Cache %q, want MISS", x)
	}
	r := a.send("PUT", fmt.Sprintf("/users/%d", user), map[string]any{"username": "renamed"})
	if r.status != 200 {
		t.Fatal(r.status)
	}
	r = a.do("GET", fmt.Sprintf("/users/%d", user), "", nil)
	if r.header.Get("X-Cache") != "MISS" || r.json(t)["username"] != "renamed" {
		t.Errorf("read after update: %s %s", r.header.Get("X-Cache"), r.body)
	}
}

// TestRedirect covers the redirect contract on both routes, HEAD, and immediate effect of
// deactivation, edit and deletion on a cached code.
func TestRedirect(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	user := a.createUser()
	u := a.createURL(user, "https://example.com/x?q=a+b&c=%20d")
	code := u["short_code"].(string)
	for i := 0; i < 3; i++ {
		for _, p := range []string{"/" + code, "/urls/" + code + "/redirect"} {
			for _, m := range []string{"GET", "HEAD"} {
				r := a.do(m, p, "", nil)
				if r.status != 302 || r.header.Get("Location") != u["original_url"] || r.header.Get("Cache-Control") != "private, max-age=0" {
					t.Fatalf("%s %s: %d %v", m, p, r.status, r.header)
				}
				if m == "HEAD" && len(r.body) != 0 {
					t.Errorf("HEAD has a body")
				}
			}
		}
	}
	id := u["id"]
	a.send("PUT", fmt.Sprintf("/urls/%v", id), map[string]any{"original_url": "https://example.org/new"})
	if r := a.do("GET", "/"+code, "", nil); r.header.Get("Location") != "https://example.org/new" {
		t.Errorf("after edit: %d %s", r.status, r.header.Get("Location"))
	}
	a.send("PUT", fmt.Sprintf("/urls/%v", id), map[string]any{"is_active": false})
	if r := a.do("GET", "/"+code, "", nil); r.status != 404 {
		t.Errorf("after deactivation: %d", r.status)
	}
	a.send("PUT", fmt.Sprintf("/urls/%v", id), map[string]any{"is_active": true})
	if r := a.do("GET", "/"+code, "", nil); r.status != 302 {
		t.Errorf("after reactivation: %d", r.status)
	}
	a.do("DELETE", fmt.Sprintf("/urls/%v", id), "", nil)
	if r := a.do("GET", "/"+code, "", nil); r.status != 404 {
		t.Errorf("after delete: %d", r.status)
	}
}

// TestMutationEventsReachTheLog checks that the all-in-one server delivers each
// mutation's audit events to the log exactly once, in-process.
func TestMutationEventsReachTheLog(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	user := a.createUser()
	u := a.createURL(user, "https://example.com/ev")
	id := u["id"]
	a.send("PUT", fmt.Sprintf("/urls/%v", id), map[string]any{"title": "t", "is_active": false})
	a.send("PUT", fmt.Sprintf("/urls/%v", id), map[string]any{"title": "t"}) // no-op: no event
	a.do("DELETE", fmt.Sprintf("/users/%d", user), "", nil)
	want := map[string]int{"user_created": 1, "created": 1, "updated": 2, "deleted": 1, "user_deleted": 1}
	deadline := time.Now().Add(3 * time.Second)
	for {
		var evs []map[string]any
		_ = json.Unmarshal(a.do("GET", fmt.Sprintf("/events?user_id=%d", user), "", nil).body, &evs)
		got := map[string]int{}
		for _, e := range evs {
			got[e["event_type"].(string)]++
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events by type %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBulkImport checks the multipart CSV import: counts, skipped rows, idempotency.
func TestBulkImport(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	csv := "id,username,email,created_at\n" +
		"500,alice,alice@example.com,2025-07-18 23:45:12\n" +
		"501,bob,ALICE@example.com,2025-07-18 23:45:12\n" + // same email, other id: skipped
		"x,carol,carol@example.com,\n" + // bad id: skipped
		"502,dave,dave@example.com,not-a-time\n" + // bad time: skipped
		"503,alice,alice2@example.com,\n"
	upload := func(field string) resp {
		var buf bytes.Buffer
		w := multipart.NewWriter(&buf)
		fw, _ := w.CreateFormFile(field, "users.csv")
		_, _ = fw.Write([]byte(csv))
		_ = w.Close()
		return a.do("POST", "/users/bulk", w.FormDataContentType(), buf.Bytes())
	}
	for i := 0; i < 2; i++ {
		r := upload("file")
		m := r.json(t)
		if r.status != 201 || m["count"] != 2.0 || m["imported"] != 2.0 || m["skipped"] != 3.0 {
			t.Fatalf("import %d: %d %s", i, r.status, r.body)
		}
	}
	if r := a.do("GET", "/users/500", "", nil); r.status != 200 || r.json(t)["created_at"] != "2025-07-18T23:45:12Z" {
		t.Errorf("imported user: %d %s", r.status, r.body)
	}
	if id := a.createUser(); id <= 503 {
		t.Errorf("create after import got id %d, want > 503", id)
	}
	if r := upload("upload"); r.status != 400 {
		t.Errorf("file under another field: %d", r.status)
	}
}

// TestHealth checks liveness, readiness with both dependencies, and the metrics text.
func TestHealth(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	if r := a.do("GET", "/health", "", nil); r.status != 200 || r.json(t)["status"] != "ok" {
		t.Errorf("health: %d %s", r.status, r.body)
	}
	r := a.do("GET", "/ready", "", nil)
	checks, _ := r.json(t)["checks"].(map[string]any)
	if r.status != 200 || checks["postgres"] != "ok" || checks["valkey"] != "ok" {
		t.Errorf("ready: %d %s", r.status, r.body)
	}
	m := a.do("GET", "/metrics", "", nil)
	for _, name := range []string{"shortener_http_requests_total", "shortener_build_info", "shortener_outbox_pending_events", "shortener_db_pool_max_connections"} {
		if !bytes.Contains(m.body, []byte(name)) {
			t.Errorf("metrics lack %s", name)
		}
	}
}

// TestReadyDegradedWithoutValkey checks that the cache is optional.
func TestReadyDegradedWithoutValkey(t *testing.T) {
	t.Parallel()
	a := startAPI(t, map[string]string{"VALKEY_URL": "redis://127.0.0.1:1/0"})
	r := a.do("GET", "/ready", "", nil)
	checks, _ := r.json(t)["checks"].(map[string]any)
	if r.status != 200 || checks["valkey"] != "degraded" {
		t.Errorf("ready without valkey: %d %s", r.status, r.body)
	}
	user := a.createUser()
	u := a.createURL(user, "https://example.com/nocache")
	if r := a.do("GET", "/"+u["short_code"].(string), "", nil); r.status != 302 {
		t.Errorf("redirect without valkey: %d", r.status)
	}
}

// TestReadyFailsWithoutPostgres checks the 503 naming the failing check.
func TestReadyFailsWithoutPostgres(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	a.f.store.Close()
	r := a.do("GET", "/ready", "", nil)
	checks, _ := r.json(t)["checks"].(map[string]any)
	if r.status != 503 || checks["postgres"] != "unavailable" || r.header.Get("Retry-After") == "" {
		t.Errorf("ready with postgres closed: %d %s", r.status, r.body)
	}
	if r := a.do("GET", "/users/1", "", nil); r.status != 503 {
		t.Errorf("read with postgres closed: %d %s", r.status, r.body)
	}
}

// TestUnknownFunction refuses a FUNCTION that names no route group.
func TestUnknownFunction(t *testing.T) {
	t.Parallel()
	if err := New().Start(context.Background(), map[string]string{"FUNCTION": "nope", "LOG_LEVEL": "error"}); err == nil {
		t.Fatal("Start accepted an unknown function")
	}
}

// TestHandleBeforeStart answers 503 while starting.
func TestHandleBeforeStart(t *testing.T) {
	t.Parallel()
	f := New()
	w := httptest.NewRecorder()
	f.Handle(w, httptest.NewRequest("GET", "/health", nil))
	if w.Code != 503 {
		t.Errorf("before start: %d", w.Code)
	}
	if ok, _ := f.Ready(context.Background()); ok {
		t.Error("ready before start")
	}
	if ok, _ := f.Alive(context.Background()); !ok {
		t.Error("not alive")
	}
}

// TestReadinessWithPostgresDown: Knative takes unready pods out of the Service, so the
// redirect group (whose cache hits answer without PostgreSQL) and health (whose /ready
// reports the outage) stay ready; a group that needs PostgreSQL for everything does not.
func TestReadinessWithPostgresDown(t *testing.T) {
	t.Parallel()
	for fn, want := range map[string]bool{"redirect": true, "health": true, "urls": false, "users": false} {
		t.Run(fn, func(t *testing.T) {
			a := startAPI(t, map[string]string{"FUNCTION": fn})
			if ok, _ := a.f.Ready(context.Background()); !ok {
				t.Fatal("not ready with PostgreSQL up")
			}
			a.f.store.Close()
			if ok, _ := a.f.Ready(context.Background()); ok != want {
				t.Fatalf("ready with PostgreSQL down = %v, want %v", ok, want)
			}
		})
	}
}

// waitFor polls ok until it holds, failing the test after within; it returns how long
// that took.
func waitFor(t testing.TB, within time.Duration, what string, ok func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !ok() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}
