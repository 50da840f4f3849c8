package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/store/storetest"
	"github.com/urlshort/shortener/shared/web"
)

// pgCheck returns a function that asks a real PostgreSQL whether it stores a value as the
// given type: the edge's promise is that whatever it lets through, the database takes.
func pgCheck(f *testing.F) func(t *testing.T, typ string, v any) {
	conn, err := pgx.Connect(context.Background(), storetest.URL(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close(context.Background()) })
	return func(t *testing.T, typ string, v any) {
		t.Helper()
		var ok bool
		if err := conn.QueryRow(context.Background(), `SELECT $1::`+typ+` IS NOT NULL`, v).Scan(&ok); err != nil {
			t.Fatalf("the edge accepted %.200q, PostgreSQL refused it as %s: %v", v, typ, err)
		}
	}
}

// FuzzDecodeObject feeds arbitrary bodies through the JSON edge. Whatever it accepts must
// be text PostgreSQL stores and details it stores as jsonb; whatever it refuses must be a
// 4xx kind, never an unclassified error.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{"username":"ada","email":"ada@example.com"}`,
		`{"event_type":"x","url_id":1,"details":{"a":[1,2.5,"x",null,true]}}`,
		`{"username":"a\u0000b"}`, "{\"username\":\"\xff\"}", "{\"title\":\"\xc0\xae\"}",
		`{"details":{"n":1e999999}}`, `{"details":{"\u0000":1}}`, `{"details":{"k":"\ud800"}}`,
		`{"user_id":9223372036854775808}`, `{"is_active":"true"}`, `{"details":[]}`,
		`{"tags":["News","a.b"],"expires_at":"2026-11-21T08:15:00.123456789+02:00"}`, `{"expires_at":null,"tags":[]}`,
		`{"expires_at":"0000-01-01T00:00:00Z"}`, `{"valid_since":"9999-12-31T23:59:59Z"}`, `{"tags":["\u0000",1]}`,
		`{"expires_at":"2026-13-01T00:00:00Z"}`, `{"tags":null}`,
		`{"max_visits":1000}`, `{"max_visits":null}`, `{"max_visits":0}`, `{"max_visits":9223372036854775807}`,
		`{"max_visits":1e3}`, `{"max_visits":"5"}`, `{"max_visits":-0}`,
	} {
		f.Add([]byte(s))
	}
	check := pgCheck(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		o, err := web.DecodeObject(httptest.NewRecorder(), r, 1<<20)
		if err != nil {
			if k := domain.KindOf(err); k != domain.BadRequest && k != domain.TooLarge {
				t.Fatalf("refusal of kind %v: %v", k, err)
			}
			return
		}
		for _, name := range []string{"username", "email", "title", "event_type"} {
			if s := o.String(name, false); s != nil {
				if !utf8.ValidString(*s) {
					t.Fatalf("%s accepted as invalid UTF-8 %q", name, *s)
				}
				check(t, "text", *s)
			}
		}
		o.Int("user_id", false)
		o.Bool("is_active", false)
		for _, tag := range o.Strings("tags", false) {
			if !utf8.ValidString(tag) {
				t.Fatalf("tag accepted as invalid UTF-8 %q", tag)
			}
			check(t, "text", tag)
		}
		for _, name := range []string{"expires_at", "valid_since"} {
			if v := o.NullableTime(name); v.Value != nil {
				if v.Value.Location() != time.UTC || v.Value.Nanosecond()%1000 != 0 {
					t.Fatalf("%s accepted as %v: not UTC at microseconds", name, v.Value)
				}
				check(t, "timestamptz", v.Value.Format(time.RFC3339Nano))
			}
		}
		if v := o.NullableCount("max_visits"); v.Value != nil {
			if *v.Value < 1 {
				t.Fatalf("max_visits accepted as %d", *v.Value)
			}
			check(t, "bigint", strconv.FormatInt(*v.Value, 10))
		}
		if d := o.JSONObject("details", false); d != nil {
			if !json.Valid(d) || !bytes.HasPrefix(d, []byte("{")) {
				t.Fatalf("details accepted as %q, not a JSON object", d)
			}
			check(t, "jsonb", string(d))
		}
		if err := o.Err(); err != nil && domain.KindOf(err) != domain.Invalid {
			t.Fatalf("field error of kind %v", domain.KindOf(err))
		}
	})
}

// FuzzQuery feeds arbitrary query strings through the query parsers: a page is never a
// negative offset, and an accepted text filter is text PostgreSQL compares.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"page=1&per_page=20", "page=9223372036854775807&per_page=1000", "page=99999999999999999999",
		"per_page=0", "user_id=-1", "url_id=18446744073709551616", "event_type=%00", "event_type=%FF",
		"event_type=%C0%AE", "is_active=TRUE", "page=%zz", "a=1&a=2&event_type=click",
		"from=2026-01-01&to=2026-12-31", "from=0000-01-01", "to=9999-12-31", "from=2026-02-30", "from=2026-1-1",
		"from=2026-03-02&to=2026-03-01", "to=%00",
	} {
		f.Add(s)
	}
	check := pgCheck(f)
	f.Fuzz(func(t *testing.T, query string) {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.URL.RawQuery = query
		kinds := func(err error) {
			if err != nil && domain.KindOf(err) != domain.BadRequest {
				t.Fatalf("query %q: kind %v", query, domain.KindOf(err))
			}
		}
		p, err := web.PageOf(r)
		kinds(err)
		if err == nil && (p.Offset() < 0 || (p.Paged() && (p.PerPage < 1 || p.PerPage > web.MaxPerPage))) {
			t.Fatalf("query %q: page %+v, offset %d", query, p, p.Offset())
		}
		_, err = web.QueryInt(r, "user_id")
		kinds(err)
		_, err = web.QueryBool(r, "is_active")
		kinds(err)
		s, err := web.QueryString(r, "event_type", 64)
		kinds(err)
		if err == nil {
			check(t, "text", s)
		}
		rng, err := web.StatsRangeOf(r)
		kinds(err)
		for _, d := range []*time.Time{rng.From, rng.To} {
			if err == nil && d != nil {
				check(t, "date", d.Format(domain.StatsDayLayout))
			}
		}
		if err == nil && rng.From != nil && rng.To != nil && rng.From.After(*rng.To) {
			t.Fatalf("query %q: from after to accepted", query)
		}
	})
}

// FuzzShortCodeAndURL checks the shapes a path or a body turns into codes and targets: a
// code that passes is one the database and the cache key can hold, and a URL that passes
// parses and is stored as text.
func FuzzShortCodeAndURL(f *testing.F) {
	for _, s := range []string{
		"abcd", "aB3xYz", "users", "\xff", "\xc0\xae", strings.Repeat("a", 33), "ab\x00cd",
		"https://example.com/", "https://example.com:99999/", "https://exa\u200bmple.com/",
		"http://2130706433/", "http://[::ffff:127.0.0.1]/", "javascript:alert(1)", "http://%zz/",
	} {
		f.Add(s)
	}
	check := pgCheck(f)
	f.Fuzz(func(t *testing.T, s string) {
		if domain.IsPossibleCode(s) {
			if len(s) > domain.MaxShortCode || strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) {
				t.Fatalf("possible code %q is not short ASCII", s)
			}
			check(t, "text", s)
		}
		if domain.CheckShortCode(s) == "" && !domain.IsPossibleCode(s) {
			t.Fatalf("custom code %q accepted but can never be looked up", s)
		}
		if domain.CheckOriginalURL(s) == "" {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("URL %q accepted with invalid text", s)
			}
			check(t, "text", s)
			_ = domain.CheckPublicTarget(s)
		}
	})
}
