package devenv_test

import (
	"context"
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

// deadPort returns a loopback port where nothing listens (it was just free).
func deadPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// found returns the host:port of the server devenv picks with nothing configured (the
// machine's default port, or a private server), which the tests then configure by
// another name; it fails in CI and skips elsewhere when there is none.
func found(t *testing.T, what, env string, find func() (string, error)) string {
	t.Helper()
	t.Setenv(env, "")
	u, err := find()
	if err != nil {
		storetest.Unavailable(t, what, err)
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Port()
}

func postgresPort(t *testing.T) string {
	return found(t, "PostgreSQL", "DATABASE_URL", func() (string, error) {
		return devenv.Postgres(ctx(t), devenv.Dir(), store.PingURL)
	})
}

func TestPostgres(t *testing.T) {
	port := postgresPort(t)
	t.Run("ConfiguredAnswers", func(t *testing.T) {
		// localhost and the extra parameter tell the configured server from the fallback.
		t.Setenv("DATABASE_URL", "postgresql://postgres@localhost:"+port+"/mydb?sslmode=disable&application_name=devenvtest")
		got, err := devenv.Postgres(ctx(t), t.TempDir(), store.PingURL)
		if err != nil {
			t.Fatal(err)
		}
		if want := "postgresql://postgres@localhost:" + port + "/postgres?sslmode=disable&application_name=devenvtest"; got != want {
			t.Fatalf("admin URL %q, want %q (the configured server)", got, want)
		}
	})
	t.Run("ConfiguredDown", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("DATABASE_URL", "postgres://postgres:s3cret@127.0.0.1:"+deadPort(t)+"/mydb?sslmode=disable")
		got, err := devenv.Postgres(ctx(t), dir, store.PingURL)
		if !errors.Is(err, devenv.ErrConfigured) {
			t.Fatalf("got %q, %v; want an ErrConfigured error, no fallback", got, err)
		}
		if got != "" {
			t.Fatalf("fell back to %q", got)
		}
		if !strings.Contains(err.Error(), "DATABASE_URL") || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("message should name DATABASE_URL and hide the password: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "postgres")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a private server was set up under %s despite the configured one", dir)
		}
	})
	t.Run("ConfiguredNotAURL", func(t *testing.T) {
		t.Setenv("DATABASE_URL", "host=127.0.0.1 port=5432 dbname=mydb")
		if _, err := devenv.Postgres(ctx(t), t.TempDir(), store.PingURL); !errors.Is(err, devenv.ErrConfigured) {
			t.Fatalf("got %v, want ErrConfigured", err)
		}
	})
	t.Run("UnsetTakesTheDefaultPort", func(t *testing.T) {
		if store.PingURL(ctx(t), "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable") != nil {
			t.Skip("SKIPPED: nothing answers at 127.0.0.1:5432 (the private server is in use)")
		}
		t.Setenv("DATABASE_URL", "")
		got, err := devenv.Postgres(ctx(t), t.TempDir(), store.PingURL)
		if err != nil {
			t.Fatal(err)
		}
		if want := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"; got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
}

func TestRedis(t *testing.T) {
	t.Setenv("VALKEY_PASSWORD", "")
	port := found(t, "Valkey/Redis", "VALKEY_URL", func() (string, error) { return devenv.Redis(ctx(t), devenv.Dir()) })
	t.Run("ConfiguredAnswers", func(t *testing.T) {
		t.Setenv("VALKEY_URL", "redis://localhost:"+port+"/5")
		got, err := devenv.Redis(ctx(t), t.TempDir())
		if err != nil || got != "redis://localhost:"+port+"/5" {
			t.Fatalf("got %q, %v; want the configured URL as given", got, err)
		}
	})
	t.Run("ConfiguredDown", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("VALKEY_URL", "redis://:s3cret@127.0.0.1:"+deadPort(t)+"/0")
		got, err := devenv.Redis(ctx(t), dir)
		if !errors.Is(err, devenv.ErrConfigured) || got != "" {
			t.Fatalf("got %q, %v; want an ErrConfigured error, no fallback", got, err)
		}
		if !strings.Contains(err.Error(), "VALKEY_URL") || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("message should name VALKEY_URL and hide the password: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "redis")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a private server was started under %s despite the configured one", dir)
		}
	})
	t.Run("ConfiguredNotRedis", func(t *testing.T) {
		// PostgreSQL's port answers TCP but not RESP.
		t.Setenv("VALKEY_URL", "redis://127.0.0.1:"+postgresPort(t)+"/0")
		if _, err := devenv.Redis(ctx(t), t.TempDir()); !errors.Is(err, devenv.ErrConfigured) {
			t.Fatalf("got %v, want ErrConfigured", err)
		}
	})
	t.Run("UnsetTakesTheDefaultPort", func(t *testing.T) {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", time.Second); err != nil {
			t.Skip("SKIPPED: nothing answers at 127.0.0.1:6379 (the private server is in use)")
		} else {
			c.Close()
		}
		t.Setenv("VALKEY_URL", "")
		got, err := devenv.Redis(ctx(t), t.TempDir())
		if err != nil || got != "redis://127.0.0.1:6379/0" {
			t.Fatalf("got %q, %v; want the default port", got, err)
		}
	})
}

func TestDatabase(t *testing.T) {
	u := "postgres://u:p@h:1/mydb?sslmode=disable"
	if got := devenv.Database(u); got != "mydb" {
		t.Fatalf("Database = %q", got)
	}
	if got := devenv.WithDatabase(u, "other"); got != "postgres://u:p@h:1/other?sslmode=disable" {
		t.Fatalf("WithDatabase = %q", got)
	}
	if got := devenv.Database("postgres://h:1"); got != "" {
		t.Fatalf("Database of a URL without one = %q", got)
	}
}
