package events

import (
	"encoding/json"
	"testing"

	"github.com/urlshort/shortener/shared/domain"
)

// TestAppendDetailsMatchesEncodingJSON: the hand-written fast path writes exactly what
// encoding/json writes, and the fallback takes whatever it cannot.
func TestAppendDetailsMatchesEncodingJSON(t *testing.T) {
	for _, cl := range []domain.Click{
		{ShortCode: "abc123"},
		{ShortCode: "abc123", Referrer: "https://ref.example/a?b=c", UserAgent: "curl/8.5.0"},
		{ShortCode: "abc123", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
		{ShortCode: "abc123", Referrer: "https://x.example/?q=<script>&a=1"},
		{ShortCode: "abc123", UserAgent: `quote " and \ backslash`},
		{ShortCode: "abc123", UserAgent: "tab\there, é, \u2028"},
		{ShortCode: "abc123", Referrer: "\xff invalid utf-8"},
	} {
		want, err := json.Marshal(domain.ClickDetails{ShortCode: cl.ShortCode, Referrer: cl.Referrer, UserAgent: cl.UserAgent})
		if err != nil {
			t.Fatal(err)
		}
		got := appendDetails([]byte("prefix"), cl)
		if string(got) != "prefix"+string(want) {
			t.Errorf("%+v:\n got %s\nwant prefix%s", cl, got, want)
		}
		if !json.Valid(got[len("prefix"):]) {
			t.Errorf("%+v: invalid JSON %s", cl, got)
		}
	}
}
