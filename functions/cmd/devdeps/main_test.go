package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/devenv"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// setup returns a context, a database name of the test's own (dropped afterwards) and the
// admin URL and port of the server devdeps picks with nothing configured.
func setup(t *testing.T) (ctx context.Context, name, local, port string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	t.Setenv("DATABASE_URL", "")
	t.Setenv("VALKEY_URL", "")
	t.Setenv("VALKEY_SENTINEL_ADDRS", "")
	local, err := devenv.Postgres(ctx, devenv.Dir(), store.PingURL)
	if err != nil {
		storetest.Unavailable(t, "PostgreSQL", err)
	}
	u, _ := url.Parse(local)
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name = "devdeps_" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = store.DropDatabase(context.Background(), local, name) })
	return ctx, name, local, u.Port()
}

func deadPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

func TestRun(t *testing.T) {
	t.Run("ConfiguredDatabaseUsedAsGiven", func(t *testing.T) {
		ctx, name, _, port := setup(t)
		given := "postgres://postgres@localhost:" + port + "/" + name + "?sslmode=disable"
		t.Setenv("DATABASE_URL", given)
		var out bytes.Buffer
		if err := run(ctx, nil, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "DATABASE_URL="+given+"\n") {
			t.Fatalf("printed %q, want DATABASE_URL=%s", out.String(), given)
		}
		if err := store.PingURL(ctx, given); err != nil {
			t.Fatalf("the configured database was not created: %v", err)
		}
	})
	t.Run("ExplicitDBOnConfiguredServer", func(t *testing.T) {
		ctx, name, _, port := setup(t)
		t.Setenv("DATABASE_URL", "postgres://postgres@localhost:"+port+"/mydb?sslmode=disable")
		var out bytes.Buffer
		if err := run(ctx, []string{"-db", name, "-fresh"}, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		want := "DATABASE_URL=postgres://postgres@localhost:" + port + "/" + name + "?sslmode=disable\n"
		if !strings.Contains(out.String(), want) {
			t.Fatalf("printed %q, want %q", out.String(), want)
		}
	})
	t.Run("UnsetFallsBackToTheDefaultServer", func(t *testing.T) {
		ctx, name, local, _ := setup(t)
		var out bytes.Buffer
		if err := run(ctx, []string{"-db", name}, &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if want := "DATABASE_URL=" + devenv.WithDatabase(local, name) + "\n"; !strings.Contains(out.String(), want) {
			t.Fatalf("printed %q, want %q", out.String(), want)
		}
	})
	t.Run("ConfiguredDatabaseDownStops", func(t *testing.T) {
		ctx, _, _, _ := setup(t)
		t.Setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:"+deadPort(t)+"/mydb?sslmode=disable")
		var out bytes.Buffer
		err := run(ctx, nil, &out, &bytes.Buffer{})
		if !errors.Is(err, devenv.ErrConfigured) || out.Len() != 0 {
			t.Fatalf("got %v and output %q; want ErrConfigured and nothing printed", err, out.String())
		}
	})
	t.Run("ConfiguredValkeyDownStops", func(t *testing.T) {
		ctx, name, _, _ := setup(t)
		t.Setenv("VALKEY_URL", "redis://127.0.0.1:"+deadPort(t)+"/0")
		var out bytes.Buffer
		err := run(ctx, []string{"-db", name}, &out, &bytes.Buffer{})
		if !errors.Is(err, devenv.ErrConfigured) || out.Len() != 0 {
			t.Fatalf("got %v and output %q; want ErrConfigured and nothing printed", err, out.String())
		}
	})
}

// TestStop runs -stop in a module of its own, so it can only ever stop servers under the
// test's folder: with none there it says so, touches no server and prints no settings.
func TestStop(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"func.yaml", "go.mod"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	t.Setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:"+deadPort(t)+"/mydb?sslmode=disable")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-stop"}, &out, &bytes.Buffer{}); err != nil {
		t.Fatalf("-stop with nothing running: %v", err)
	}
	want := "devdeps: no private server runs under " + filepath.Join(root, ".dev")
	if !strings.HasPrefix(out.String(), want) || strings.Contains(out.String(), "DATABASE_URL=") {
		t.Fatalf("printed %q, want %q and no settings", out.String(), want)
	}
}
