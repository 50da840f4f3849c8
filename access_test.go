package function

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// adminKey is the ADMIN_API_KEY of the access tests.
const adminKey = "admin-key-for-the-access-tests-0123456789"

// keyed sends a JSON request (no body when nil) with key (none when empty).
func (a *api) keyed(key, method, path string, body any) resp {
	a.t.Helper()
	if body == nil {
		return a.doKeyed(key, method, path, "", nil)
	}
	b, _ := json.Marshal(body)
	return a.doKeyed(key, method, path, "application/json", b)
}

// mustKey creates a key with the admin key and returns its secret and id.
func (a *api) mustKey(body map[string]any) (secret string, id int64) {
	a.t.Helper()
	r := a.keyed(adminKey, "POST", "/api-keys", body)
	if r.status != 201 {
		a.t.Fatalf("create key %v: %d %s", body, r.status, r.body)
	}
	m := r.json(a.t)
	return m["key"].(string), int64(m["id"].(float64))
}

func keysOn(t *testing.T, extra map[string]string) *api {
	env := map[string]string{"AUTH_MODE": "keys", "ADMIN_API_KEY": adminKey}
	for k, v := range extra {
		env[k] = v
	}
	return startAPI(t, env)
}

// TestAuthEveryRoute: with AUTH_MODE=keys every route of the spec answers 401 without a
// key (with WWW-Authenticate), 403 with a key that lacks its scope and goes through with
// one that has it; the open routes need nothing.
func TestAuthEveryRoute(t *testing.T) {
	t.Parallel()
	a := keysOn(t, nil)
	user := int64(a.keyed(adminKey, "POST", "/users", map[string]any{"username": "o", "email": "o@example.com"}).json(t)["id"].(float64))
	u := a.keyed(adminKey, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/"}).json(t)
	urlID, code := int64(u["id"].(float64)), u["short_code"].(string)
	read, _ := a.mustKey(map[string]any{"name": "r", "scopes": []string{"read"}})
	write, _ := a.mustKey(map[string]any{"name": "w", "scopes": []string{"write"}})

	for _, open := range []string{"/health", "/ready", "/" + code, "/urls/" + code + "/redirect"} {
		if r := a.keyed("", "GET", open, nil); r.status >= 400 {
			t.Errorf("GET %s without a key: %d %s", open, r.status, r.body)
		}
	}
	routes := []struct {
		method, path string
		body         any
		scope        string // the weakest scope that may
	}{
		{"GET", "/users", nil, "read"},
		{"GET", fmt.Sprintf("/users/%d", user), nil, "read"},
		{"POST", "/users", map[string]any{"username": "n", "email": "n@example.com"}, "write"},
		{"PUT", fmt.Sprintf("/users/%d", user), map[string]any{}, "write"},
		{"GET", "/urls", nil, "read"},
		{"GET", fmt.Sprintf("/urls/%d", urlID), nil, "read"},
		{"POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/2"}, "write"},
		{"PUT", fmt.Sprintf("/urls/%d", urlID), map[string]any{}, "write"},
		{"GET", "/events", nil, "read"},
		{"POST", "/events", map[string]any{"event_type": "note", "url_id": urlID}, "write"},
		{"GET", "/api-keys", nil, "admin"},
		{"POST", "/api-keys", map[string]any{"name": "x", "scopes": []string{"read"}}, "admin"},
		{"DELETE", fmt.Sprintf("/urls/%d", urlID), nil, "write"},
		{"DELETE", fmt.Sprintf("/users/%d", user), nil, "write"},
	}
	rank := map[string]int{"read": 1, "write": 2, "admin": 3}
	for _, rt := range routes {
		name := rt.method + " " + rt.path
		r := a.keyed("", rt.method, rt.path, rt.body)
		if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") || r.json(t)["error"] == nil {
			t.Errorf("%s without a key: %d %v %s, want 401 JSON with WWW-Authenticate: Bearer", name, r.status, r.header.Get("WWW-Authenticate"), r.body)
		}
		if r := a.keyed("shk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", rt.method, rt.path, rt.body); r.status != 401 {
			t.Errorf("%s with an unknown key: %d, want 401", name, r.status)
		}
		for _, k := range []struct{ scope, key string }{{"read", read}, {"write", write}} {
			r := a.keyed(k.key, rt.method, rt.path, rt.body)
			if rank[k.scope] < rank[rt.scope] && r.status != 403 {
				t.Errorf("%s with a %s key: %d %s, want 403", name, k.scope, r.status, r.body)
			}
			if rank[k.scope] >= rank[rt.scope] && (r.status == 401 || r.status == 403) {
				t.Errorf("%s with a %s key: %d %s, want it let through", name, k.scope, r.status, r.body)
			}
		}
		if r := a.keyed(adminKey, rt.method, rt.path, rt.body); r.status == 401 || r.status == 403 {
			t.Errorf("%s with the admin key: %d %s", name, r.status, r.body)
		}
	}
	// X-Api-Key works as well as Authorization.
	req, _ := http.NewRequest("GET", a.srv.URL+"/users", nil)
	req.Header.Set("X-Api-Key", read)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Errorf("X-Api-Key: %v %v", res, err)
	} else {
		res.Body.Close()
	}
}

// TestOwnedKeySeesOnlyItsUser: a key that belongs to a user lists, reads, changes and
// deletes only that user's rows; another user's items answer 404, and a body naming
// another user 403.
func TestOwnedKeySeesOnlyItsUser(t *testing.T) {
	t.Parallel()
	a := keysOn(t, nil)
	mk := func(email string) int64 {
		return int64(a.keyed(adminKey, "POST", "/users", map[string]any{"username": "u", "email": email}).json(t)["id"].(float64))
	}
	alice, bob := mk("alice@example.com"), mk("bob@example.com")
	link := func(user int64) int64 {
		return int64(a.keyed(adminKey, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/"}).json(t)["id"].(float64))
	}
	aliceURL, bobURL := link(alice), link(bob)
	key, _ := a.mustKey(map[string]any{"name": "alice", "scopes": []string{"admin"}, "user_id": alice})

	ids := func(path string) []int64 {
		r := a.keyed(key, "GET", path, nil)
		if r.status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.status, r.body)
		}
		var rows []map[string]any
		_ = json.Unmarshal(r.body, &rows)
		var out []int64
		for _, row := range rows {
			if v, ok := row["user_id"].(float64); ok {
				out = append(out, int64(v))
			} else if v, ok := row["id"].(float64); ok && path == "/users" {
				out = append(out, int64(v))
			}
		}
		return out
	}
	for _, path := range []string{"/users", "/urls", "/events", fmt.Sprintf("/urls?user_id=%d", bob), fmt.Sprintf("/events?user_id=%d", bob)} {
		for range 2 { // the second read may come from the cache
			for _, id := range ids(path) {
				if id != alice {
					t.Errorf("GET %s with alice's key shows user %d", path, id)
				}
			}
		}
	}
	if got := ids("/urls"); len(got) != 1 {
		t.Errorf("alice's key lists %d URLs, want her 1", len(got))
	}
	for _, path := range []string{fmt.Sprintf("/users/%d", bob), fmt.Sprintf("/urls/%d", bobURL)} {
		// Read with the admin key first, so a cached copy exists to leak.
		a.keyed(adminKey, "GET", path, nil)
		for _, m := range []string{"GET", "PUT", "DELETE"} {
			var body any
			if m == "PUT" {
				body = map[string]any{}
			}
			if r := a.keyed(key, m, path, body); r.status != 404 {
				t.Errorf("%s %s with alice's key: %d %s, want 404", m, path, r.status, r.body)
			}
		}
	}
	for _, c := range []struct {
		path string
		body map[string]any
	}{
		{"/urls", map[string]any{"user_id": bob, "original_url": "https://example.com/x"}},
		{"/events", map[string]any{"event_type": "note", "url_id": aliceURL, "user_id": bob}},
		{"/api-keys", map[string]any{"name": "b", "scopes": []string{"read"}, "user_id": bob}},
		{"/users", map[string]any{"username": "c", "email": "c@example.com"}},
	} {
		if r := a.keyed(key, "POST", c.path, c.body); r.status != 403 {
			t.Errorf("POST %s %v with alice's key: %d %s, want 403", c.path, c.body, r.status, r.body)
		}
	}
	if r := a.keyed(key, "POST", "/events", map[string]any{"event_type": "note", "url_id": bobURL}); r.status != 404 {
		t.Errorf("POST /events on bob's URL with alice's key: %d %s, want 404", r.status, r.body)
	}
	if r := a.keyed(key, "POST", "/urls", map[string]any{"user_id": alice, "original_url": "https://example.com/mine"}); r.status != 201 {
		t.Errorf("POST /urls for alice with her key: %d %s", r.status, r.body)
	}
	if r := a.keyed(key, "PUT", fmt.Sprintf("/urls/%d", aliceURL), map[string]any{"title": "mine"}); r.status != 200 {
		t.Errorf("PUT alice's URL with her key: %d %s", r.status, r.body)
	}
	// Keys she makes are hers, and she lists only hers.
	r := a.keyed(key, "POST", "/api-keys", map[string]any{"name": "hers", "scopes": []string{"read"}})
	if r.status != 201 || r.json(t)["user_id"] != float64(alice) {
		t.Errorf("alice's key makes a key: %d %s, want one of user %d", r.status, r.body, alice)
	}
	a.mustKey(map[string]any{"name": "bobs", "scopes": []string{"read"}, "user_id": bob})
	var keys []map[string]any
	_ = json.Unmarshal(a.keyed(key, "GET", "/api-keys", nil).body, &keys)
	for _, k := range keys {
		if k["user_id"] != float64(alice) {
			t.Errorf("alice lists key %v", k)
		}
	}
}

// TestRevokedKeyRefused: a revoked key gets 401 at once, also on a second instance that
// had it cached, and a second revocation is 404.
func TestRevokedKeyRefused(t *testing.T) {
	t.Parallel()
	a := keysOn(t, nil)
	key, id := a.mustKey(map[string]any{"name": "k", "scopes": []string{"read"}})
	for range 3 {
		if r := a.keyed(key, "GET", "/users", nil); r.status != 200 {
			t.Fatalf("fresh key: %d %s", r.status, r.body)
		}
	}
	if r := a.keyed(adminKey, "DELETE", fmt.Sprintf("/api-keys/%d", id), nil); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if r := a.keyed(key, "GET", "/users", nil); r.status != 401 || !strings.Contains(string(r.body), "revoked") {
		t.Errorf("revoked key: %d %s, want 401 revoked", r.status, r.body)
	}
	if r := a.keyed(adminKey, "DELETE", fmt.Sprintf("/api-keys/%d", id), nil); r.status != 404 {
		t.Errorf("second revoke: %d, want 404", r.status)
	}
	if r := a.keyed(adminKey, "GET", fmt.Sprintf("/api-keys/%d", id), nil); r.status != 404 {
		t.Errorf("GET revoked key: %d, want 404", r.status)
	}
	// An expired key is refused as such.
	soon := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
	short, _ := a.mustKey(map[string]any{"name": "short", "scopes": []string{"read"}, "expires_at": soon})
	if r := a.keyed(short, "GET", "/users", nil); r.status != 200 {
		t.Fatalf("key before its expiry: %d %s", r.status, r.body)
	}
	waitFor(t, 5*time.Second, "the key's expiry", func() bool {
		r := a.keyed(short, "GET", "/users", nil)
		return r.status == 401 && strings.Contains(string(r.body), "expired")
	})
}

// TestKeySecretNeverShown: the secret of a key appears in the answer that creates it and
// nowhere else: not in a list or item, an event, a log line or a metric.
func TestKeySecretNeverShown(t *testing.T) {
	out := &lockedBuffer{}
	f := New()
	f.logOut = out
	a := start(t, f, map[string]string{"AUTH_MODE": "keys", "ADMIN_API_KEY": adminKey, "LOG_LEVEL": "debug"})
	key, id := a.mustKey(map[string]any{"name": "secret", "scopes": []string{"write"}})
	if !strings.HasPrefix(key, "shk_") || len(key) < 4+22 {
		t.Fatalf("key %q: want the shk_ prefix and at least 128 random bits", key)
	}
	a.keyed(key, "GET", "/users", nil)
	a.keyed(key, "POST", "/users", map[string]any{"username": "s", "email": "s@example.com"})
	list := a.keyed(adminKey, "GET", "/api-keys", nil)
	item := a.keyed(adminKey, "GET", fmt.Sprintf("/api-keys/%d", id), nil)
	a.keyed(adminKey, "DELETE", fmt.Sprintf("/api-keys/%d", id), nil)
	a.keyed(key, "GET", "/users", nil)

	var seen []string
	waitFor(t, 5*time.Second, "the key events", func() bool {
		r := a.keyed(adminKey, "GET", "/events", nil)
		seen = seen[:0]
		var evs []map[string]any
		_ = json.Unmarshal(r.body, &evs)
		n := 0
		for _, e := range evs {
			if e["event_type"] == "api_key_created" || e["event_type"] == "api_key_revoked" {
				n++
				d := e["details"].(map[string]any)
				if d["key_id"] != float64(id) || d["name"] != "secret" {
					t.Errorf("key event details %v", d)
				}
			}
			b, _ := json.Marshal(e)
			seen = append(seen, string(b))
		}
		return n == 2
	})
	metrics := a.keyed("", "GET", "/metrics", nil)
	if err := f.logs.Flush(); err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{
		"events": strings.Join(seen, "\n"), "the key list": string(list.body), "the key": string(item.body), "metrics": string(metrics.body),
		"the log": out.String(),
	} {
		if strings.Contains(text, key) || strings.Contains(text, key[8:]) {
			t.Errorf("%s shows the key's secret", what)
		}
		if strings.Contains(text, adminKey) {
			t.Errorf("%s shows ADMIN_API_KEY", what)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	lines := 0
	for sc.Scan() {
		lines++
	}
	if lines < 5 {
		t.Fatalf("only %d log lines: the check above saw no requests", lines)
	}
	if !strings.Contains(string(list.body), key[:8]) {
		t.Errorf("the list does not show the key's prefix %q: %s", key[:8], list.body)
	}
}

// TestAuthOffLeavesEverythingOpen: without AUTH_MODE nothing asks for a key.
func TestAuthOffLeavesEverythingOpen(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	for _, p := range []string{"/users", "/urls", "/events", "/api-keys"} {
		if r := a.keyed("", "GET", p, nil); r.status != 200 {
			t.Errorf("GET %s: %d %s", p, r.status, r.body)
		}
	}
}

// TestRateLimitWrites: RATE_LIMIT_WRITES limits POST/PUT/DELETE per client address with
// access control off, per key with it on; reads are not counted; every limited answer
// carries RateLimit-*, a refusal 429 JSON with Retry-After.
func TestRateLimitWrites(t *testing.T) {
	t.Parallel()
	for _, keys := range []bool{false, true} {
		t.Run(fmt.Sprintf("keys=%v", keys), func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"RATE_LIMIT_WRITES": "3/m"}
			key := ""
			if keys {
				env["AUTH_MODE"], env["ADMIN_API_KEY"] = "keys", adminKey
			}
			a := startAPI(t, env)
			if keys {
				// Creating the key is a write of the admin key, not of this one.
				key, _ = a.mustKey(map[string]any{"name": "w", "scopes": []string{"write"}})
			}
			var statuses []int
			for i := range 5 {
				r := a.keyed(key, "POST", "/users", map[string]any{"username": "u", "email": fmt.Sprintf("r%d@example.com", i)})
				statuses = append(statuses, r.status)
				if r.header.Get("RateLimit-Limit") != "3" || r.header.Get("RateLimit-Reset") == "" {
					t.Errorf("write %d: RateLimit headers %v", i, r.header)
				}
				if r.status == 429 && (r.header.Get("Retry-After") == "" || r.json(t)["error"] == nil) {
					t.Errorf("429 without Retry-After or JSON error: %v %s", r.header, r.body)
				}
			}
			if fmt.Sprint(statuses) != "[201 201 201 429 429]" {
				t.Errorf("statuses %v, want three 201 then 429", statuses)
			}
			if r := a.keyed(key, "GET", "/users", nil); r.status != 200 {
				t.Errorf("a read after the limit: %d", r.status)
			}
			if keys {
				other, _ := a.mustKey(map[string]any{"name": "w2", "scopes": []string{"write"}})
				if r := a.keyed(other, "POST", "/users", map[string]any{"username": "u", "email": "other@example.com"}); r.status != 201 {
					t.Errorf("another key's first write: %d, want its own limit", r.status)
				}
			}
		})
	}
}

// TestRateLimitRedirectsTrustedProxies: RATE_LIMIT_REDIRECTS counts per client address,
// read from X-Forwarded-For only when the peer is a trusted proxy.
func TestRateLimitRedirectsTrustedProxies(t *testing.T) {
	t.Parallel()
	a := startAPI(t, map[string]string{"RATE_LIMIT_REDIRECTS": "2/m", "TRUSTED_PROXIES": "127.0.0.1"})
	user := a.createUser()
	code := a.createURL(user, "https://example.com/")["short_code"].(string)
	get := func(xff string) int {
		req, _ := http.NewRequest("GET", a.srv.URL+"/"+code, nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	got := []int{get("203.0.113.7"), get("203.0.113.7"), get("203.0.113.7"), get("198.51.100.9"), get("1.2.3.4, 198.51.100.9")}
	if fmt.Sprint(got) != "[302 302 429 302 302]" {
		t.Errorf("statuses %v: want the third of one client refused, another client (also behind a spoofed hop) let through", got)
	}
}

// TestCORS: CORS_ALLOWED_ORIGINS answers preflights from those origins with 204, without
// a key, and marks their answers; other origins get no CORS headers.
func TestCORS(t *testing.T) {
	t.Parallel()
	a := keysOn(t, map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com"})
	pre := func(origin string) *http.Response {
		req, _ := http.NewRequest("OPTIONS", a.srv.URL+"/urls", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	if res := pre("https://app.example.com"); res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("allowed preflight: %d %v", res.StatusCode, res.Header)
	}
	if res := pre("https://evil.example"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin got CORS headers: %v", res.Header)
	}
	req, _ := http.NewRequest("GET", a.srv.URL+"/users", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("X-Api-Key", adminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("simple request: %d %v", res.StatusCode, res.Header)
	}
}
