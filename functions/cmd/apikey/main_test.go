package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/access"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// TestCreateListRevoke: the command makes a key that resolves to an admin principal,
// lists it by prefix without its secret, and revokes it.
func TestCreateListRevoke(t *testing.T) {
	url := storetest.URL(t)
	t.Setenv("DATABASE_URL", url)
	t.Setenv("VALKEY_URL", "")
	ctx := context.Background()
	var out, errs bytes.Buffer
	if err := run(ctx, []string{"create", "-name", "ops", "-scopes", "admin"}, &out, &errs); err != nil {
		t.Fatalf("create: %v (%s)", err, errs.String())
	}
	secret := strings.TrimSpace(out.String())
	if !access.LooksLikeKey(secret) {
		t.Fatalf("create printed %q, want a key", secret)
	}
	st, err := store.Open(ctx, store.Options{URL: url}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p, err := st.FindPrincipal(ctx, access.HashKey(secret))
	if err != nil || p.Scope != domain.ScopeAdmin || p.UserID != nil || p.Revoked {
		t.Fatalf("principal %+v, %v: want an admin of every user", p, err)
	}
	out.Reset()
	if err := run(ctx, []string{"list"}, &out, &errs); err != nil || !strings.Contains(out.String(), secret[:8]) || strings.Contains(out.String(), secret[8:]) {
		t.Errorf("list: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"revoke", "-id", "1"}, &out, &errs); err != nil {
		t.Fatalf("revoke: %v (%s)", err, errs.String())
	}
	if p, err := st.FindPrincipal(ctx, access.HashKey(secret)); err != nil || !p.Revoked {
		t.Errorf("after revoke: %+v, %v", p, err)
	}
	for _, bad := range [][]string{{"create", "-scopes", "admin"}, {"create", "-name", "x", "-scopes", "root"}, {"create", "-name", "x", "-scopes", "read", "-expires", "2001-01-01T00:00:00Z"}, {"revoke"}, {"nope"}} {
		if err := run(ctx, bad, &out, &errs); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
