package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/routing"
)

func TestEncodeTarget(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/users/1", "/users/1"},
		{"/a b", "/a%20b"},
		{"/%FF", "/%FF"},
		{"/urls/%C0%AE/redirect", "/urls/%C0%AE/redirect"},
		{"/%zz", "/%25zz"},
		{"/%F", "/%25F"},
		{"/\x00", "/%00"},
		{"users", "/users"},
		{"/a#b", "/a%23b"},
		{"/\xc3\xa9", "/%C3%A9"},
		{"/events?event_type=%00&x=\"", "/events?event_type=%00&x=%22"},
	} {
		if got := encodeTarget([]byte(c.in)); got != c.want {
			t.Errorf("encodeTarget(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestEncodeTargetParses checks the promise that matters: whatever zzuf makes of a path,
// the server's request parser (url.ParseRequestURI, as net/http's server calls it)
// accepts it, so the request reaches the handlers instead of net/http's canned 400.
func TestEncodeTargetParses(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		target := encodeTarget(b)
		if _, err := url.ParseRequestURI(target); err != nil {
			t.Fatalf("encodeTarget(%q) = %q, which the server refuses: %v", b, target, err)
		}
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestJudge(t *testing.T) {
	get, head := request{method: http.MethodGet}, request{method: http.MethodHead}
	text := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	for _, c := range []struct {
		name string
		req  request
		res  response
		want string
	}{
		{"JSONErrorIsFine", get, response{status: 404, body: []byte(`{"error":"url not found"}`)}, verdictOK},
		{"JSONErrorWithFields", get, response{status: 422, body: []byte(`{"error":"validation failed","fields":{"a":"b"}}`)}, verdictOK},
		{"Success", get, response{status: 200, body: []byte(`[]`)}, verdictOK},
		{"RedirectNeedsNoJSON", get, response{status: 302}, verdictOK},
		{"InternalError", get, response{status: 500, body: []byte(`{"error":"internal error"}`)}, "500"},
		{"Unavailable", get, response{status: 503, body: []byte(`{"error":"down"}`)}, "503"},
		{"TextError", get, response{status: 404, header: text, body: []byte("404 page not found\n")}, "non-JSON 404"},
		{"ErrorNotAString", get, response{status: 400, body: []byte(`{"error":1}`)}, "non-JSON 400"},
		{"EmptyErrorString", get, response{status: 400, body: []byte(`{"error":""}`)}, "non-JSON 400"},
		{"NoErrorKey", get, response{status: 400, body: []byte(`{"message":"bad"}`)}, "non-JSON 400"},
		{"ArrayBody", get, response{status: 400, body: []byte(`["error"]`)}, "non-JSON 400"},
		{"HeadHasNoBody", head, response{status: 404}, verdictOK},
		{"Hang", get, response{err: fmt.Errorf("read: %w", timeoutErr{})}, verdictHang},
		{"DeadlineHang", get, response{err: fmt.Errorf("read: %w", os.ErrDeadlineExceeded)}, verdictHang},
		{"DroppedConnection", get, response{err: errors.New("read: unexpected EOF")}, verdictNoAnswer},
		{"Unsent", get, response{err: errors.New("dial: connection refused")}, verdictUnsent},
		{"NetHTTPParser", get, response{status: 400, header: text, body: []byte("400 Bad Request: invalid URL escape")}, verdictParser},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := judge(c.req, c.res); got != c.want {
				t.Fatalf("judge = %q, want %q", got, c.want)
			}
		})
	}
}

func needZzuf(t *testing.T) string {
	t.Helper()
	p, err := zzufPath()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skipf("SKIPPED: %v", err)
	}
	return p
}

func TestMutate(t *testing.T) {
	zzuf := needZzuf(t)
	valid := []byte(`/events?url_id=12&user_id=3&event_type=click&page=2`)
	tpl := template{valid: valid, keep: 8, ratio: "0.01:0.1", protect: "?&="}
	got, err := mutate(context.Background(), zzuf, t.TempDir(), tpl, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 200 {
		t.Fatalf("%d copies, want 200", len(got))
	}
	changed := 0
	for _, m := range got {
		if len(m) != len(valid) {
			t.Fatalf("copy %q changed length", m)
		}
		if !bytes.Equal(m[:tpl.keep], valid[:tpl.keep]) {
			t.Fatalf("copy %q changed the kept prefix", m)
		}
		for i, c := range valid {
			if strings.IndexByte(tpl.protect, c) >= 0 && m[i] != c {
				t.Fatalf("copy %q changed the protected %q at %d", m, c, i)
			}
		}
		if !bytes.Equal(m, valid) {
			changed++
		}
	}
	if changed < 150 {
		t.Fatalf("only %d of 200 copies differ from the valid request", changed)
	}
	seg := template{valid: []byte("/urls/abc123/redirect"), keep: 6, end: 12, ratio: "0.05:0.2"}
	segs, err := mutate(context.Background(), zzuf, t.TempDir(), seg, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range segs {
		if !bytes.HasPrefix(m, []byte("/urls/")) || !bytes.HasSuffix(m, []byte("/redirect")) {
			t.Fatalf("copy %q changed more than the code", m)
		}
	}
	again, err := mutate(context.Background(), zzuf, t.TempDir(), tpl, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if !bytes.Equal(got[i], again[i]) {
			t.Fatalf("seed %d gave %q, then %q: runs are not reproducible", 100+i, got[i], again[i])
		}
	}
}

// TestCorpusCoversTheRoutes checks that every route the server mounts gets requests and
// every rule of the routing table is aimed at, so no route escapes the pass.
func TestCorpusCoversTheRoutes(t *testing.T) {
	patterns, err := served()
	if err != nil {
		t.Fatal(err)
	}
	if len(patterns) < 10 {
		t.Fatalf("only %d routes found: %v", len(patterns), patterns)
	}
	fx := fixtures{uid: 1, xid: 2, eid: 3, code: "abc123", delUID: 4, delXID: 5}
	ts := fx.corpus()
	aimed := map[string]bool{}
	for _, tpl := range ts {
		aimed[tpl.route] = true
	}
	for _, p := range patterns {
		if !aimed[p] {
			ts = append(ts, fx.generic(p))
		}
	}
	if missing := uncoveredRules(ts); len(missing) > 0 {
		t.Fatalf("routing rules without a request: %v (table %v)", missing, routing.Table)
	}
	for _, r := range fx.nasty() {
		if _, err := url.ParseRequestURI(r.target); err != nil && !strings.Contains(r.kind, "%zz") {
			t.Errorf("hand-written %q has a target the server cannot parse: %v", r.kind, err)
		}
	}
	if g := fx.generic("GET /urls/{id}/stats"); string(g.valid) != "/urls/2/stats" {
		t.Fatalf("generic path %q, want /urls/2/stats", g.valid)
	}
	if g := fx.generic("GET /users/{id}/stats"); string(g.valid) != "/users/1/stats" {
		t.Fatalf("generic path %q, want /users/1/stats", g.valid)
	}
}

// fakeAPI answers just enough of the contract for the pass's own checks, and misbehaves
// on a few paths so the test can see each failure caught.
func fakeAPI(t *testing.T, usersBroken *atomic.Bool) *httptest.Server {
	var target atomic.Value
	target.Store("")
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("POST /users", func(w http.ResponseWriter, _ *http.Request) {
		if usersBroken.Load() {
			writeJSON(w, 400, map[string]string{"error": "sequence exhausted"})
			return
		}
		writeJSON(w, 201, map[string]any{"id": 7})
	})
	mux.HandleFunc("POST /urls", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			OriginalURL string `json:"original_url"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		target.Store(body.OriginalURL)
		writeJSON(w, 201, map[string]any{"id": 3, "short_code": "abc123"})
	})
	mux.HandleFunc("GET /abc123", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.Load().(string), http.StatusFound)
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, []map[string]string{{"event_type": "created"}})
	})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 500, map[string]string{"error": "internal error"})
	})
	mux.HandleFunc("GET /text", func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "not here", 404) })
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /drop", func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 404, map[string]string{"error": "nope"}) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestPassCatchesEveryKindOfFailure(t *testing.T) {
	var broken atomic.Bool
	srv := fakeAPI(t, &broken)
	u, _ := url.Parse(srv.URL)
	var log bytes.Buffer
	p := pass{c: client{host: u.Host, timeout: 300 * time.Millisecond}, workers: 3, out: t.TempDir(), log: &log}
	reqs := []request{
		{route: "GET /boom", kind: "path", method: http.MethodGet, target: "/boom"},
		{route: "GET /text", kind: "path", method: http.MethodGet, target: "/text"},
		{route: "GET /slow", kind: "path", method: http.MethodGet, target: "/slow"},
		{route: "GET /drop", kind: "path", method: http.MethodGet, target: "/drop"},
		{route: "GET /fine", kind: "path", method: http.MethodGet, target: "/fine"},
		{route: "GET /fine", kind: "path", method: http.MethodGet, target: "/" + strings.Repeat("%FF", 1000)},
	}
	results, during := p.send(reqs, fixtures{})
	want := []string{"500", "non-JSON 404", verdictHang, verdictNoAnswer, verdictOK, verdictOK}
	for i, o := range results {
		if o.verdict != want[i] {
			t.Errorf("%s: verdict %q, want %q (%s)", o.req.target[:min(len(o.req.target), 20)], o.verdict, want[i], answer(o.res))
		}
	}
	if len(during) != 0 {
		t.Errorf("the canary failed on a healthy server: %v", during)
	}
	if after := p.after(fixtures{}); len(after) != 0 {
		t.Fatalf("after-pass checks failed on a healthy server: %v", after)
	}
	if !p.report(summary{results: results}) {
		t.Fatalf("report passed a run with failures:\n%s", log.String())
	}
	for _, s := range []string{"[500] GET /boom | path | 1 requests", "[non-JSON 404] GET /text", "[hang] GET /slow", "[no answer] GET /drop", "blackbox: FAIL"} {
		if !strings.Contains(log.String(), s) {
			t.Errorf("summary lacks %q:\n%s", s, log.String())
		}
	}
	files, _ := filepath.Glob(filepath.Join(p.out, "failure-*.http"))
	if len(files) != 4 {
		t.Fatalf("%d failure files, want 4: %v", len(files), files)
	}
	if list, err := os.ReadFile(filepath.Join(p.out, "failures.txt")); err != nil || !bytes.Contains(list, []byte("GET /slow")) {
		t.Fatalf("failures.txt lacks the hang: %v\n%s", err, list)
	}
	raw, _ := os.ReadFile(files[0])
	if res := p.c.sendRaw(raw, http.MethodGet); judge(request{method: http.MethodGet}, res) == verdictOK {
		t.Fatalf("replaying %s did not fail again: %s", files[0], answer(res))
	}

	broken.Store(true)
	after := p.after(fixtures{uid: 7})
	if len(after) != 1 || !strings.HasPrefix(after[0], "POST /users") {
		t.Fatalf("after-pass checks = %v, want the POST /users failure", after)
	}
	log.Reset()
	if !p.report(summary{results: results[4:], after: after}) || !strings.Contains(log.String(), "FAIL after the pass: POST /users") {
		t.Fatalf("a server that stopped creating users passed:\n%s", log.String())
	}
	broken.Store(false)
	log.Reset()
	if p.report(summary{results: results[4:]}) || !strings.Contains(log.String(), "blackbox: PASS") {
		t.Fatalf("a clean run failed:\n%s", log.String())
	}
}

func TestUnreachableServerIsUnsent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close()
	c := client{host: host, timeout: time.Second}
	if v := judge(request{method: http.MethodGet}, c.send(request{method: http.MethodGet, target: "/"})); v != verdictUnsent {
		t.Fatalf("verdict %q, want %q", v, verdictUnsent)
	}
}

func TestRouterNamesTheRouteReached(t *testing.T) {
	patterns, err := served()
	if err != nil {
		t.Fatal(err)
	}
	reached := router(patterns)
	for _, c := range []struct{ method, target, want string }{
		{"GET", "/users/1", "GET /users/{id}"},
		{"DELETE", "/urls/7", "DELETE /urls/{id}"},
		{"HEAD", "/abc123", "GET /{short_code}"},
		{"GET", "/heal%E8h", "GET /{short_code}"}, // a mutated /health
		{"GET", "/urls/abc/redirect", "GET /urls/{short_code}/redirect"},
		{"GET", "/events?page=2", "GET /events"},
		{"PATCH", "/users", "(no route)"},
	} {
		if got := reached(request{route: "aimed", method: c.method, target: c.target}); got != c.want {
			t.Errorf("%s %s reaches %q, want %q", c.method, c.target, got, c.want)
		}
	}
}
