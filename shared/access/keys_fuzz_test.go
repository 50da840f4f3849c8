package access

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzKeyHeader: whatever a client sends as Authorization or X-Api-Key, reading the key
// never panics, and only a value of a key's exact shape passes LooksLikeKey, the check
// made before any look-up.
func FuzzKeyHeader(f *testing.F) {
	secret, _, _ := NewKey()
	for _, s := range []string{"Bearer " + secret, "bearer  " + secret + " ", "Basic abc", "Bearer", "", "shk_", secret + "x",
		"Bearer shk_\x00", "Bearer " + strings.Repeat("A", 4096)} {
		f.Add(s, secret)
	}
	f.Fuzz(func(t *testing.T, auth, apiKey string) {
		r := httptest.NewRequest("GET", "/users", nil)
		r.Header["Authorization"] = []string{auth}
		r.Header["X-Api-Key"] = []string{apiKey}
		got := bearer(r)
		if LooksLikeKey(got) {
			if !strings.HasPrefix(got, KeyPrefix) || len(got) != len(secret) {
				t.Fatalf("LooksLikeKey(%q) with the wrong shape", got)
			}
		}
		if auth == "" && got != strings.TrimSpace(apiKey) {
			t.Fatalf("without Authorization the key is X-Api-Key: got %q from %q", got, apiKey)
		}
	})
}
