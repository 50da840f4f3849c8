// Package storetest gives tests a store on a fresh database of a real PostgreSQL server,
// which it finds or starts (see devenv), and drops the database when the test ends.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/devenv"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
)

// Unavailable stops a test that needs a server nobody could provide: it fails in CI,
// where skipping would hide that nothing ran, and skips loudly elsewhere.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	// A server named in DATABASE_URL or VALKEY_URL that does not answer is a mistake to
	// see, not a reason to skip.
	if os.Getenv("CI") != "" || errors.Is(err, devenv.ErrConfigured) {
		t.Fatalf("%s unavailable in CI: %v", what, err)
	}
	t.Skipf("SKIPPED: %s unavailable: %v", what, err)
}

// URL creates a fresh, migrated database and returns its URL; it is dropped after the test.
func URL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin, err := devenv.Postgres(ctx, devenv.Dir(), store.PingURL)
	if err != nil {
		Unavailable(t, "PostgreSQL", err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)
	if err := store.CreateDatabase(ctx, admin, name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := store.DropDatabase(ctx, admin, name); err != nil {
			t.Logf("drop test database %s: %v", name, err)
		}
	})
	u := devenv.WithDatabase(admin, name)
	st, err := store.Open(ctx, store.Options{URL: u}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return u
}

// New returns a store on a fresh database, closed after the test, whose events come from
// the named function.
func New(t testing.TB, function string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{URL: URL(t), MaxConns: 20}, events.NewAuditor(function))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}
