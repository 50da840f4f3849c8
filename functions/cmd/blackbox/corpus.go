package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// fixtures are the rows the corpus points at, so mutated requests reach the code behind
// an existing user, URL and event, not only the 404 in front of it.
type fixtures struct {
	uid, xid, eid  int64
	code           string
	delUID, delXID int64 // rows the DELETE requests may take
	seq            int   // keeps the fixtures' emails apart between runs on one database
}

// template is one valid request whose mutable part zzuf mutates into many.
type template struct {
	route, kind string
	valid       []byte // the part zzuf mutates: a body, a CSV, a path or a query
	keep        int    // leading bytes of valid that stay intact (the path before a query)
	end         int    // bytes from here on stay intact too (a path after its id); 0: none
	ratio       string // zzuf's bit ratio range
	protect     string // bytes zzuf leaves alone (its -P list), "" for none
	build       func(m []byte) request
}

// structure names, per kind, the bytes that shape an input (JSON's punctuation, CSV's
// separators, a query's): each such template is also mutated with them kept, so that many
// copies still parse and their mangled values reach the handlers' validation and the store.
var structure = map[string]string{"json": `{}[]":,`, "csv": `,"\n`, "query": "?&="}

// withStructureKept adds to ts a copy of each template that has a structure to keep.
func withStructureKept(ts []template) []template {
	out := ts
	for _, t := range ts {
		if p, ok := structure[t.kind]; ok {
			kind, build := t.kind+" (structure kept)", t.build
			// Fewer flips: with the punctuation kept, one or two are enough to hit a value.
			t.kind, t.protect, t.ratio = kind, p, "0.001:0.02"
			t.build = func(m []byte) request { r := build(m); r.kind = kind; return r }
			out = append(out, t)
		}
	}
	return out
}

// corpus returns the templates: every route of the table, each with its valid request.
func (f fixtures) corpus() []template {
	jsonT := func(route, target string, body string) template {
		method := strings.Fields(route)[0]
		return template{route: route, kind: "json", valid: []byte(body), ratio: "0.004:0.05",
			build: func(m []byte) request {
				return request{route: route, kind: "json", method: method, target: target, ctype: "application/json", body: m}
			}}
	}
	pathT := func(route, kind, method, path string) template {
		return template{route: route, kind: kind, valid: []byte(path), keep: 1, ratio: "0.01:0.1",
			build: func(m []byte) request {
				r := request{route: route, kind: kind, method: method, target: encodeTarget(m)}
				if method == http.MethodPut {
					r.ctype, r.body = "application/json", []byte(`{"title":"path"}`)
				}
				return r
			}}
	}
	// segT mutates only the id or code of a path, so that most copies still reach the
	// route (a mutated prefix mostly lands on the short-code fallback).
	segT := func(route, kind, method, prefix, seg, suffix string) template {
		t := pathT(route, kind, method, prefix+seg+suffix)
		t.keep, t.ratio = len(prefix), "0.02:0.15"
		if suffix != "" {
			t.end = len(prefix) + len(seg)
		}
		return t
	}
	queryT := func(route, kind, accept, target string) template {
		return template{route: route, kind: kind, valid: []byte(target), keep: strings.IndexByte(target, '?') + 1, ratio: "0.004:0.06",
			build: func(m []byte) request {
				return request{route: route, kind: kind, method: http.MethodGet, target: encodeTarget(m), accept: accept}
			}}
	}
	csv := fmt.Sprintf("id,username,email,created_at\n%d,ann,ann%d@example.com,2025-07-18 23:45:12\n%d,\"bob, jr\",bob%d@example.com,2025-07-19T00:00:00Z\n,carol,carol%d@example.com,\n",
		50000+f.seq, f.seq, 50001+f.seq, f.seq, f.seq)
	u, x := strconv.FormatInt(f.uid, 10), strconv.FormatInt(f.xid, 10)
	return withStructureKept([]template{
		jsonT("POST /users", "/users", `{"username":"ada lovelace","email":"ada@example.com"}`),
		jsonT("PUT /users/{id}", "/users/"+u, `{"username":"grace","email":"grace`+u+`@example.org"}`),
		jsonT("POST /urls", "/urls", `{"user_id":`+u+`,"original_url":"https://go.dev/doc/effective_go?x=1#top","title":"Go docs","short_code":"go-docs_1"}`),
		jsonT("POST /urls", "/urls", `{"user_id":`+u+`,"original_url":"https://example.com/a","expires_at":"2030-01-02T03:04:05Z","valid_since":"2026-01-01T00:00:00Z","max_visits":10,"tags":["go","docs"]}`),
		jsonT("PUT /urls/{id}", "/urls/"+x, `{"title":"New title","is_active":true,"original_url":"https://example.com/b?q=1","max_visits":null,"tags":[]}`),
		jsonT("POST /events", "/events", `{"event_type":"click","url_id":`+x+`,"user_id":`+u+`,"details":{"referrer":"https://news.example/","n":12.5,"ok":true,"list":[1,"a",null],"o":{"k":"v"}}}`),
		{route: "POST /users/bulk", kind: "csv", valid: []byte(csv), ratio: "0.004:0.05", build: func(m []byte) request {
			ct, body := multipart(m)
			return request{route: "POST /users/bulk", kind: "csv", method: http.MethodPost, target: "/users/bulk", ctype: ct, body: body}
		}},
		func() template {
			ct, body := multipart([]byte(csv))
			return template{route: "POST /users/bulk", kind: "multipart", valid: body, ratio: "0.002:0.03", build: func(m []byte) request {
				return request{route: "POST /users/bulk", kind: "multipart", method: http.MethodPost, target: "/users/bulk", ctype: ct, body: m}
			}}
		}(),
		pathT("GET /users/{id}", "path", http.MethodGet, "/users/"+u),
		pathT("DELETE /users/{id}", "path", http.MethodDelete, "/users/"+strconv.FormatInt(f.delUID, 10)),
		pathT("GET /urls/{id}", "path", http.MethodGet, "/urls/"+x),
		pathT("DELETE /urls/{id}", "path", http.MethodDelete, "/urls/"+strconv.FormatInt(f.delXID, 10)),
		pathT("GET /events/{id}", "path", http.MethodGet, "/events/"+strconv.FormatInt(f.eid, 10)),
		pathT("GET /{short_code}", "path", http.MethodGet, "/"+f.code),
		pathT("GET /{short_code}", "path (HEAD)", http.MethodHead, "/"+f.code),
		pathT("GET /urls/{short_code}/redirect", "path", http.MethodGet, "/urls/"+f.code+"/redirect"),
		segT("GET /users/{id}", "path id", http.MethodGet, "/users/", u, ""),
		segT("PUT /users/{id}", "path id", http.MethodPut, "/users/", u, ""),
		segT("DELETE /users/{id}", "path id", http.MethodDelete, "/users/", strconv.FormatInt(f.delUID, 10), ""),
		segT("GET /urls/{id}", "path id", http.MethodGet, "/urls/", x, ""),
		segT("PUT /urls/{id}", "path id", http.MethodPut, "/urls/", x, ""),
		segT("DELETE /urls/{id}", "path id", http.MethodDelete, "/urls/", strconv.FormatInt(f.delXID, 10), ""),
		segT("GET /events/{id}", "path id", http.MethodGet, "/events/", strconv.FormatInt(f.eid, 10), ""),
		segT("GET /urls/{short_code}/redirect", "path code", http.MethodGet, "/urls/", f.code, "/redirect"),
		segT("GET /urls/{short_code}/redirect", "path code (HEAD)", http.MethodHead, "/urls/", f.code, "/redirect"),
		pathT("GET /health", "path", http.MethodGet, "/health"),
		pathT("GET /ready", "path", http.MethodGet, "/ready"),
		pathT("GET /metrics", "path", http.MethodGet, "/metrics"),
		queryT("GET /users", "query", "", "/users?page=1&per_page=20"),
		queryT("GET /urls", "query", "", "/urls?user_id="+u+"&is_active=true&tag=go&page=1&per_page=5"),
		queryT("GET /events", "query", "", "/events?url_id="+x+"&user_id="+u+"&event_type=click&page=2&per_page=50"),
		queryT("GET /events", "query (CSV export)", "text/csv", "/events?user_id="+u+"&event_type=created"),
	})
}

// generic builds a template for a route the corpus does not know yet (one added after
// this driver was written): its pattern with the fixtures' values, the path mutated.
func (f fixtures) generic(route string) template {
	method, pattern, _ := strings.Cut(route, " ")
	segs := strings.Split(pattern, "/")
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") {
			continue
		}
		switch {
		case strings.Contains(s, "code"):
			segs[i] = f.code
		case i > 0 && segs[1] == "users":
			segs[i] = strconv.FormatInt(f.uid, 10)
		case i > 0 && segs[1] == "events":
			segs[i] = strconv.FormatInt(f.eid, 10)
		default:
			segs[i] = strconv.FormatInt(f.xid, 10)
		}
	}
	path := strings.Join(segs, "/")
	return template{route: route, kind: "path (generic)", valid: []byte(path), keep: 1, ratio: "0.01:0.1",
		build: func(m []byte) request {
			r := request{route: route, kind: "path (generic)", method: method, target: encodeTarget(m)}
			if method == http.MethodPost || method == http.MethodPut {
				r.ctype, r.body = "application/json", []byte("{}")
			}
			return r
		}}
}

// boundary separates the multipart parts; zzuf never sees it in the "csv" kind.
const boundary = "blackbox-7d1f0c"

// multipart wraps a CSV as the file field of a form, the way curl -F sends it.
func multipart(csv []byte) (string, []byte) {
	var b bytes.Buffer
	b.WriteString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"users.csv\"\r\nContent-Type: text/csv\r\n\r\n")
	b.Write(csv)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return "multipart/form-data; boundary=" + boundary, b.Bytes()
}

// separator ends each copy in the file zzuf mutates; zzuf is told to leave its bytes
// alone, so the mutated copies can be told apart in cat's output.
var separator = []byte("\n\x00--blackbox-zzuf-separator--\x00\n")

// mutate runs zzuf over t.valid once per seed in [from, from+count) and returns the
// mutated copies. zzuf flips bits at a ratio picked per seed from t.ratio, in the bytes
// after t.keep, sparing those in t.protect.
func mutate(ctx context.Context, zzuf, dir string, t template, from, count int) ([][]byte, error) {
	valid, keep, end := t.valid, t.keep, t.end
	if end <= 0 || end > len(valid) {
		end = len(valid)
	}
	if count <= 0 {
		return nil, nil
	}
	if keep >= end {
		keep = end - 1
	}
	f, err := os.CreateTemp(dir, "zzuf-*.in")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(append([]byte{}, valid...), separator...)); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	args := []string{"-c", "-s", fmt.Sprintf("%d:%d", from, from+count), "-r", t.ratio,
		"-b", fmt.Sprintf("%d-%d", keep, end-1)}
	if t.protect != "" {
		args = append(args, "-P", t.protect)
	}
	cmd := exec.CommandContext(ctx, zzuf, append(args, "cat", f.Name())...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("zzuf: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	parts := bytes.Split(out, separator)
	if len(parts) > 0 && len(parts[len(parts)-1]) == 0 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) != count {
		return nil, fmt.Errorf("zzuf printed %d copies for %d seeds", len(parts), count)
	}
	return parts, nil
}

// zzufPath finds zzuf on PATH or says how to install it.
func zzufPath() (string, error) {
	p, err := exec.LookPath("zzuf")
	if err != nil {
		return "", fmt.Errorf("zzuf not found: run sudo apt-get install -y zzuf")
	}
	return p, nil
}

// nasty returns the hand-written inputs that once made 500s, hangs or broken state, and
// their relatives: every one is a request a client may send.
func (f fixtures) nasty() []request {
	u, x := strconv.FormatInt(f.uid, 10), strconv.FormatInt(f.xid, 10)
	var rs []request
	add := func(route, kind, method, target, ctype string, body []byte) {
		rs = append(rs, request{route: route, kind: "nasty: " + kind, method: method, target: target, ctype: ctype, body: body})
	}
	j := func(route, kind, target, body string) {
		add(route, kind, strings.Fields(route)[0], target, "application/json", []byte(body))
	}
	bulk := func(kind, csv string) {
		ct, body := multipart([]byte(csv))
		add("POST /users/bulk", kind, http.MethodPost, "/users/bulk", ct, body)
	}
	n := strconv.Itoa(f.seq)

	// JSON string fields: NUL as an escape and raw, invalid UTF-8, overlong encodings.
	j("POST /users", `\u0000 in username`, "/users", `{"username":"a\u0000b","email":"nul`+n+`@example.com"}`)
	j("POST /users", `\u0000 in email`, "/users", `{"username":"ann","email":"nul\u0000`+n+`@example.com"}`)
	j("POST /users", "raw NUL in username", "/users", "{\"username\":\"a\x00b\",\"email\":\"rawnul"+n+"@example.com\"}")
	j("POST /users", `\xff in username`, "/users", "{\"username\":\"a\xffb\",\"email\":\"ff"+n+"@example.com\"}")
	j("POST /users", `\xc0\xae in email`, "/users", "{\"username\":\"ann\",\"email\":\"c0\xc0\xae"+n+"@example.com\"}")
	j("POST /users", "lone surrogate escape", "/users", `{"username":"\ud800","email":"sur`+n+`@example.com"}`)
	j("PUT /users/{id}", `\u0000 in username`, "/users/"+u, `{"username":"x\u0000"}`)
	j("PUT /users/{id}", `\xff in email`, "/users/"+u, "{\"email\":\"\xff@example.com\"}")
	j("POST /urls", `\u0000 in title`, "/urls", `{"user_id":`+u+`,"original_url":"https://example.com/","title":"t\u0000"}`)
	j("POST /urls", `\u0000 in original_url`, "/urls", `{"user_id":`+u+`,"original_url":"https://example.com/\u0000"}`)
	j("POST /urls", `\xff in title`, "/urls", "{\"user_id\":"+u+",\"original_url\":\"https://example.com/\",\"title\":\"\xff\xfe\"}")
	j("POST /urls", `\u0000 in short_code`, "/urls", `{"user_id":`+u+`,"original_url":"https://example.com/","short_code":"ab\u0000cd"}`)
	j("POST /urls", `\xc0\xae in short_code`, "/urls", "{\"user_id\":"+u+",\"original_url\":\"https://example.com/\",\"short_code\":\"ab\xc0\xaecd\"}")
	j("POST /urls", "user_id past 64 bits", "/urls", `{"user_id":99999999999999999999999,"original_url":"https://example.com/"}`)
	j("POST /urls", "user_id max int64", "/urls", `{"user_id":9223372036854775807,"original_url":"https://example.com/"}`)
	j("POST /urls", "user_id 1e999999", "/urls", `{"user_id":1e999999,"original_url":"https://example.com/"}`)
	j("POST /urls", "max_visits past 64 bits", "/urls", `{"user_id":`+u+`,"original_url":"https://example.com/","max_visits":99999999999999999999}`)
	j("POST /urls", "port 99999", "/urls", `{"user_id":`+u+`,"original_url":"https://example.com:99999/"}`)
	j("POST /urls", "timestamp year 99999", "/urls", `{"user_id":`+u+`,"original_url":"https://example.com/","expires_at":"99999-01-01T00:00:00Z"}`)
	j("PUT /urls/{id}", `\u0000 in title`, "/urls/"+x, `{"title":"\u0000"}`)
	j("PUT /urls/{id}", `\xff in original_url`, "/urls/"+x, "{\"original_url\":\"https://example.com/\xff\"}")
	j("POST /events", `\u0000 in event_type`, "/events", `{"event_type":"cl\u0000ick","url_id":`+x+`}`)
	j("POST /events", `\u0000 in details key and value`, "/events", `{"event_type":"click","url_id":`+x+`,"details":{"k\u0000":"v\u0000"}}`)
	j("POST /events", `invalid UTF-8 in details`, "/events", "{\"event_type\":\"click\",\"url_id\":"+x+",\"details\":{\"\xff\":\"\xc0\xae\"}}")
	j("POST /events", "1e999999 in details", "/events", `{"event_type":"click","url_id":`+x+`,"details":{"n":1e999999}}`)
	j("POST /events", "-1e999999 in details", "/events", `{"event_type":"click","url_id":`+x+`,"details":{"n":[-1e999999]}}`)
	j("POST /events", "1e-999999 in details", "/events", `{"event_type":"click","url_id":`+x+`,"details":{"n":1e-999999}}`)
	j("POST /events", "url_id past 64 bits", "/events", `{"event_type":"click","url_id":18446744073709551616}`)
	j("POST /events", "details nested 100000 deep", "/events", `{"event_type":"click","url_id":`+x+`,"details":{"a":`+strings.Repeat("[", 100000)+strings.Repeat("]", 100000)+`}}`)
	// Bodies that are not JSON objects, or too big.
	for _, b := range []string{"", "null", "[]", `"str"`, "1", "{", "{}{}", "\xef\xbb\xbf{}"} {
		j("POST /users", fmt.Sprintf("body %q", b), "/users", b)
	}
	add("POST /users", "text/plain body", http.MethodPost, "/users", "text/plain", []byte(`{"username":"a","email":"tp@example.com"}`))
	add("POST /users", "2 MiB body", http.MethodPost, "/users", "application/json", []byte(`{"username":"`+strings.Repeat("a", 2<<20)+`"}`))

	// Query strings: page overflow, NUL and invalid UTF-8 in filters, ids past 64 bits.
	for _, q := range []string{
		"/users?page=9223372036854775807&per_page=1000", "/urls?page=9223372036854775807&per_page=1000",
		"/events?page=9223372036854775807&per_page=1000", "/events?page=92233720368547758070",
		"/users?page=-1", "/users?per_page=0", "/users?page=1e3", "/users?page=%00",
		"/events?event_type=%00", "/events?event_type=%FF", "/events?event_type=%C0%AE",
		"/events?url_id=99999999999999999999", "/events?user_id=%00", "/urls?user_id=-9223372036854775808",
		"/urls?user_id=99999999999999999999", "/urls?is_active=%00", "/urls?tag=%00", "/urls?tag=%FF",
		"/users?page=1&page=2", "/events?%zz=1", "/urls?" + strings.Repeat("a=1&", 5000),
	} {
		route := "GET " + q[:strings.IndexByte(q, '?')]
		add(route, "query "+truncate(q, 60), http.MethodGet, q, "", nil)
	}
	// Ids and short codes: past 64 bits, NUL, invalid UTF-8, a million characters.
	for _, p := range []struct{ route, target string }{
		{"GET /users/{id}", "/users/99999999999999999999999"}, {"GET /users/{id}", "/users/-1"}, {"GET /users/{id}", "/users/%00"},
		{"PUT /users/{id}", "/users/18446744073709551616"}, {"DELETE /users/{id}", "/users/9223372036854775808"},
		{"GET /urls/{id}", "/urls/99999999999999999999999"}, {"PUT /urls/{id}", "/urls/%FF"}, {"DELETE /urls/{id}", "/urls/1e999999"},
		{"GET /events/{id}", "/events/99999999999999999999999"}, {"GET /events/{id}", "/events/%C0%AE"},
		{"GET /{short_code}", "/%FF"}, {"GET /{short_code}", "/%00"}, {"GET /{short_code}", "/%C0%AE"},
		{"GET /{short_code}", "/ab%00cd"}, {"GET /{short_code}", "/" + strings.Repeat("%FF", 300)},
		{"GET /urls/{short_code}/redirect", "/urls/%C0%AE/redirect"}, {"GET /urls/{short_code}/redirect", "/urls/%FF/redirect"},
		{"GET /urls/{short_code}/redirect", "/urls/%00/redirect"},
		{"GET /{short_code}", "/" + strings.Repeat("a", 1_000_000)},
	} {
		method := strings.Fields(p.route)[0]
		var ct string
		var body []byte
		if method == http.MethodPut {
			ct, body = "application/json", []byte(`{}`)
		}
		add(p.route, "path "+truncate(p.target, 40), method, p.target, ct, body)
	}
	// Methods and paths no route takes: the mux's own 404 and 405 must be JSON too.
	for _, m := range []struct{ method, target string }{
		{"PATCH", "/users"}, {"DELETE", "/users"}, {"POST", "/health"}, {"PUT", "/events/1"}, {"POST", "/"},
		{"OPTIONS", "/urls"}, {"BREW", "/users"}, {"GET", "/users/1/x/y"}, {"GET", "/users/"}, {"GET", "//users"},
	} {
		add("(no route)", "method/path "+m.method+" "+m.target, m.method, m.target, "", nil)
	}
	// Bulk import: broken quotes, ids the schema cannot serve after, bytes that are not text.
	bulk("broken-quote CSV", "id,username,email\n1,\"ann,ann"+n+"@example.com\n2,bob\",bob"+n+"@example.com\n")
	bulk("stray quote in a field", "username,email\na\"b,q"+n+"@example.com\n\"c\"d\",r"+n+"@example.com\n")
	bulk("id max int64", "id,username,email\n9223372036854775807,max,max"+n+"@example.com\n")
	bulk("id past 64 bits", "id,username,email\n99999999999999999999999,big,big"+n+"@example.com\n")
	bulk("negative and zero ids", "id,username,email\n-1,neg,neg"+n+"@example.com\n0,zero,zero"+n+"@example.com\n")
	bulk("NUL in fields", "id,username,email\n,a\x00b,nulcsv"+n+"@example.com\n")
	bulk("invalid UTF-8 in fields", "id,username,email\n,\xff\xfe,\xc0\xae"+n+"@example.com\n")
	bulk("bad created_at", "username,email,created_at\nann,ts"+n+"@example.com,99999-99-99\n")
	bulk("header only", "id,username,email,created_at\n")
	bulk("empty file", "")
	bulk("no header", "ann,ann@example.com\n")
	bulk("uneven rows", "username,email\nann\nbob,bob"+n+"@example.com,extra,fields\n")
	ct, body := multipart([]byte("username,email\nann,x@example.com\n"))
	add("POST /users/bulk", "multipart with another field name", http.MethodPost, "/users/bulk", ct, bytes.Replace(body, []byte(`name="file"`), []byte(`name="other"`), 1))
	add("POST /users/bulk", "multipart with no closing boundary", http.MethodPost, "/users/bulk", ct, body[:len(body)-len(boundary)-6])
	add("POST /users/bulk", "not multipart", http.MethodPost, "/users/bulk", "text/csv", []byte("username,email\nann,y@example.com\n"))
	add("POST /users/bulk", "multipart without boundary", http.MethodPost, "/users/bulk", "multipart/form-data", body)
	return rs
}

// truncate shortens s for a label or a log line.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
}

// setup creates the fixtures with valid requests; a server that refuses them is broken
// before any fuzzing.
func setup(c client, seq int) (fixtures, error) {
	f := fixtures{seq: seq}
	create := func(target, body string, want int) (map[string]any, error) {
		res := c.send(request{method: http.MethodPost, target: target, ctype: "application/json", body: []byte(body)})
		if res.err != nil || res.status != want {
			return nil, fmt.Errorf("POST %s %s: status %d, %v: %s", target, body, res.status, res.err, truncate(string(res.body), 300))
		}
		var v map[string]any
		if err := json.Unmarshal(res.body, &v); err != nil {
			return nil, fmt.Errorf("POST %s: %w", target, err)
		}
		return v, nil
	}
	id := func(v map[string]any) int64 { n, _ := v["id"].(float64); return int64(n) }
	for i, who := range []*int64{&f.uid, &f.delUID} {
		v, err := create("/users", fmt.Sprintf(`{"username":"fixture","email":"fixture-%d-%d@example.com"}`, seq, i), http.StatusCreated)
		if err != nil {
			return f, err
		}
		*who = id(v)
	}
	for _, which := range []*int64{&f.xid, &f.delXID} {
		v, err := create("/urls", fmt.Sprintf(`{"user_id":%d,"original_url":"https://example.com/fixture"}`, f.uid), http.StatusCreated)
		if err != nil {
			return f, err
		}
		*which = id(v)
		if f.code == "" {
			f.code, _ = v["short_code"].(string)
		}
	}
	v, err := create("/events", fmt.Sprintf(`{"event_type":"click","url_id":%d,"user_id":%d,"details":{}}`, f.xid, f.uid), http.StatusCreated)
	if err != nil {
		return f, err
	}
	f.eid = id(v)
	return f, nil
}

// saveFailure writes a failing request as raw bytes under dir, for replay with -replay
// (or nc), and returns the file's path.
func saveFailure(dir string, i int, r request, host string) string {
	p := filepath.Join(dir, fmt.Sprintf("failure-%04d.http", i))
	if err := os.WriteFile(p, r.wire(host), 0o644); err != nil {
		return "(not saved: " + err.Error() + ")"
	}
	return p
}
