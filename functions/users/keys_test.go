package users_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/routing"
)

// TestAPIKeys: the /api-keys routes of the users group create a key (its secret once,
// scopes sorted and deduplicated), list and read it without the secret, revoke it with one
// api_key_revoked event, and refuse bad bodies naming every wrong field.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Users, grouptest.Options{})
	user := e.CreateUser(t)
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	r := e.Do(t, "POST", "/api-keys", map[string]any{"name": "ci", "scopes": []string{"write", "read", "write"},
		"user_id": user, "expires_at": expires.Format(time.RFC3339Nano)})
	if r.Status != 201 {
		t.Fatalf("create: %v", r)
	}
	k := r.Object(t)
	secret := k["key"].(string)
	id := int64(k["id"].(float64))
	if !strings.HasPrefix(secret, "shk_") || k["prefix"] != secret[:8] || fmt.Sprint(k["scopes"]) != "[read write]" ||
		k["user_id"] != float64(user) || k["expires_at"] != expires.Format(time.RFC3339Nano) {
		t.Errorf("created key %v", k)
	}
	for _, path := range []string{"/api-keys", fmt.Sprintf("/api-keys/%d", id), "/api-keys?page=1&per_page=10"} {
		r := e.Do(t, "GET", path, nil)
		if r.Status != 200 || strings.Contains(string(r.Body), secret[8:]) || !strings.Contains(string(r.Body), secret[:8]) {
			t.Errorf("GET %s: %v", path, r)
		}
	}
	if r := e.Do(t, "DELETE", fmt.Sprintf("/api-keys/%d", id), nil); r.Status != 204 {
		t.Fatalf("revoke: %v", r)
	}
	e.WantNotFound(t, map[string]string{"revoked": fmt.Sprintf("/api-keys/%d", id), "unknown": "/api-keys/999999", "not an id": "/api-keys/x"})
	if r := e.Do(t, "DELETE", fmt.Sprintf("/api-keys/%d", id), nil); r.Status != 404 {
		t.Errorf("second revoke: %v", r)
	}
	created := e.Audits(t, "event_type=api_key_created")
	revoked := e.Audits(t, "event_type=api_key_revoked")
	if len(created) != 1 || len(revoked) != 1 || *revoked[0].UserID != user || revoked[0].URLID != nil ||
		!strings.Contains(string(revoked[0].Details), fmt.Sprintf(`"key_id":%d`, id)) || strings.Contains(string(revoked[0].Details), secret[8:]) {
		t.Errorf("key events: created %+v, revoked %+v", created, revoked)
	}

	bad := []struct {
		body   map[string]any
		fields []string
	}{
		{map[string]any{}, []string{"name", "scopes"}},
		{map[string]any{"name": "", "scopes": []string{}}, []string{"name", "scopes"}},
		{map[string]any{"name": strings.Repeat("n", 101), "scopes": []string{"root"}}, []string{"name", "scopes"}},
		{map[string]any{"name": "x", "scopes": "read"}, []string{"scopes"}},
		{map[string]any{"name": "x", "scopes": []string{"read"}, "user_id": nil, "expires_at": nil}, []string{"user_id", "expires_at"}},
		{map[string]any{"name": "x", "scopes": []string{"read"}, "expires_at": "tomorrow"}, []string{"expires_at"}},
		{map[string]any{"name": "x", "scopes": []string{"read"}, "expires_at": "2001-01-01T00:00:00Z"}, []string{"expires_at"}},
	}
	for _, b := range bad {
		r := e.Do(t, "POST", "/api-keys", b.body)
		fields, _ := r.Object(t)["fields"].(map[string]any)
		if r.Status != 422 || len(fields) != len(b.fields) {
			t.Errorf("POST %v: %v, want 422 naming %v", b.body, r, b.fields)
		}
	}
	if r := e.Do(t, "POST", "/api-keys", map[string]any{"name": "x", "scopes": []string{"read"}, "user_id": 999999}); r.Status != 404 {
		t.Errorf("key of an unknown user: %v, want 404", r)
	}
}
