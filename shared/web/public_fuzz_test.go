package web

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzPublicBase: whatever the forwarded headers say, the base is http(s)://host with
// no path, quote or space, and putting it into a cached body keeps the body valid JSON
// with every short_url on that base.
func FuzzPublicBase(f *testing.F) {
	for _, s := range [][2]string{{"https", "sho.rt"}, {"HTTPS, http", "a.example:8443, b"}, {"ftp", "x\"y"},
		{"", "evil.example/path"}, {"https", "[::1]:8080"}, {"http", "\\u0022"}, {"", "a b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, proto, host string) {
		r := httptest.NewRequest("GET", "http://origin.example/urls", nil)
		r.Header.Set("X-Forwarded-Proto", proto)
		r.Header.Set("X-Forwarded-Host", host)
		base := PublicBase(r, "")
		rest, ok := strings.CutPrefix(base, "https://")
		if !ok {
			rest, ok = strings.CutPrefix(base, "http://")
		}
		if !ok || rest == "" || strings.ContainsAny(rest, "/\"\\ ?#@") {
			t.Fatalf("base %q from %q, %q", base, proto, host)
		}
		body, _ := json.Marshal([]map[string]string{{"short_url": "/abc123", "title": `"short_url":"/x`}})
		out := AbsoluteLinks(body, base)
		var back []map[string]string
		if err := json.Unmarshal(out, &back); err != nil || back[0]["short_url"] != base+"/abc123" || back[0]["title"] != `"short_url":"/x` {
			t.Fatalf("AbsoluteLinks(%s, %q) = %s (%v)", body, base, out, err)
		}
	})
}
