package urls_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/routing"
)

// TestLinkOptions: expires_at, valid_since and tags are taken on create and update,
// returned on every read, cleared by null ([] for the tags), checked (the window's order,
// the tags' shape and number, wrong types), filter the list by tag, and each change is one
// updated event with its new value as a string.
func TestLinkOptions(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	user := e.CreateUser(t)
	since := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	until := since.Add(24 * time.Hour)
	r := e.Do(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/o",
		"valid_since": since.Format(time.RFC3339Nano), "expires_at": until.Format(time.RFC3339Nano),
		"tags": []string{"News", "go", "news", "a.b-c_d"}})
	if r.Status != 201 {
		t.Fatalf("create: %v", r)
	}
	var u domain.URL
	r.Decode(t, &u)
	if u.ValidSince == nil || !u.ValidSince.Equal(since) || u.ExpiresAt == nil || !u.ExpiresAt.Equal(until) ||
		!slices.Equal(u.Tags, []string{"news", "go", "a.b-c_d"}) {
		t.Errorf("created %+v", u)
	}
	var got domain.URL
	e.Do(t, "GET", fmt.Sprintf("/urls/%d", u.ID), nil).Decode(t, &got)
	if !got.ExpiresAt.Equal(until) || !slices.Equal(got.Tags, u.Tags) {
		t.Errorf("read back %+v", got)
	}
	plain := e.CreateURL(t, user, "https://example.com/plain")
	if plain.ExpiresAt != nil || plain.ValidSince != nil || plain.Tags == nil || len(plain.Tags) != 0 {
		t.Errorf("a URL without options: %+v", plain)
	}

	for _, c := range []struct {
		tag  string
		want []int64
	}{{"news", []int64{u.ID}}, {"NEWS", []int64{u.ID}}, {"none", nil}} {
		var list []domain.URL
		e.Do(t, "GET", "/urls?tag="+c.tag, nil).Decode(t, &list)
		var ids []int64
		for _, l := range list {
			ids = append(ids, l.ID)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("?tag=%s lists %v, want %v", c.tag, ids, c.want)
		}
	}

	path := fmt.Sprintf("/urls/%d", u.ID)
	r = e.Do(t, "PUT", path, map[string]any{"expires_at": nil, "tags": []string{}, "valid_since": since.Format(time.RFC3339Nano)})
	var upd domain.URL
	r.Decode(t, &upd)
	if r.Status != 200 || upd.ExpiresAt != nil || len(upd.Tags) != 0 || !upd.ValidSince.Equal(since) {
		t.Errorf("clearing: %v", r)
	}
	evs := e.Audits(t, fmt.Sprintf("url_id=%d&event_type=updated", u.ID))
	changed := map[string]string{}
	for _, ev := range evs {
		d := details(t, ev)
		changed[d["field"]] = d["new_value"]
	}
	if len(evs) != 2 || changed["expires_at"] != "null" || changed["tags"] != "" {
		t.Errorf("updated events %v, want expires_at=null and tags=\"\" (valid_since did not change)", changed)
	}
	e.Do(t, "PUT", path, map[string]any{"tags": []string{"x", "y"}, "expires_at": until.Format(time.RFC3339Nano)})
	evs = e.Audits(t, fmt.Sprintf("url_id=%d&event_type=updated", u.ID))
	changed = map[string]string{}
	for _, ev := range evs[2:] {
		d := details(t, ev)
		changed[d["field"]] = d["new_value"]
	}
	if changed["tags"] != "x,y" || changed["expires_at"] != until.Format(time.RFC3339Nano) {
		t.Errorf("updated events %v", changed)
	}

	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"valid_since": until.Format(time.RFC3339Nano), "expires_at": since.Format(time.RFC3339Nano)}, "valid_since"},
		{map[string]any{"valid_since": until.Add(time.Hour).Format(time.RFC3339Nano)}, "valid_since"}, // after the stored expires_at
		{map[string]any{"expires_at": "soon"}, "expires_at"},
		{map[string]any{"expires_at": 5}, "expires_at"},
		{map[string]any{"tags": nil}, "tags"},
		{map[string]any{"tags": "news"}, "tags"},
		{map[string]any{"tags": []string{"has space"}}, "tags"},
		{map[string]any{"tags": []string{""}}, "tags"},
		{map[string]any{"tags": []string{string(make([]byte, 51))}}, "tags"},
		{map[string]any{"tags": []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21"}}, "tags"},
	}
	for _, b := range bad {
		r := e.Do(t, "PUT", path, b.body)
		fields, _ := r.Object(t)["fields"].(map[string]any)
		if r.Status != 422 || fields[b.field] == nil {
			t.Errorf("PUT %v: %v, want 422 naming %s", b.body, r, b.field)
		}
	}
	var after domain.URL
	e.Do(t, "GET", path, nil).Decode(t, &after)
	if !slices.Equal(after.Tags, []string{"x", "y"}) || !after.ExpiresAt.Equal(until) {
		t.Errorf("a refused update changed the URL: %+v", after)
	}
	r = e.Do(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/b",
		"valid_since": until.Format(time.RFC3339Nano), "expires_at": since.Format(time.RFC3339Nano)})
	if r.Status != 422 {
		t.Errorf("create with the window backwards: %v", r)
	}
}

// TestShortURL: every URL answer carries short_url on the origin the client reached
// (X-Forwarded-Proto and -Host honoured), also when the body comes from the cache, which
// every client shares.
func TestShortURL(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.URLs, grouptest.Options{})
	u := e.CreateURL(t, e.CreateUser(t), "https://example.com/s")
	path := fmt.Sprintf("/urls/%d", u.ID)
	for _, c := range []struct{ proto, host, want string }{
		{"", "", e.URL() + "/" + u.ShortCode},
		{"https", "sho.rt", "https://sho.rt/" + u.ShortCode},
		{"https", "other.example", "https://other.example/" + u.ShortCode},
		{"", "quote\".example", e.URL() + "/" + u.ShortCode}, // not a host name: not believed
		{"", "evil.example/path", e.URL() + "/" + u.ShortCode},
	} {
		for _, p := range []string{path, fmt.Sprintf("/urls?user_id=%d", u.UserID)} {
			req, _ := http.NewRequest("GET", e.URL()+p, nil)
			if c.proto != "" {
				req.Header.Set("X-Forwarded-Proto", c.proto)
			}
			if c.host != "" {
				req.Header.Set("X-Forwarded-Host", c.host)
			}
			r := e.Send(t, req)
			var got domain.URL
			if strings.HasPrefix(p, "/urls?") {
				var list []domain.URL
				r.Decode(t, &list)
				got = list[0]
			} else {
				r.Decode(t, &got)
			}
			if got.ShortURL != c.want {
				t.Errorf("GET %s via %q/%q (X-Cache %s): short_url %q, want %q", p, c.proto, c.host, r.Header.Get("X-Cache"), got.ShortURL, c.want)
			}
		}
	}
}
