// Command devdeps makes sure PostgreSQL and Valkey/Redis answer for a local run and prints
// their settings as KEY=value lines for env(1). A configured DATABASE_URL or VALKEY_URL is
// used as given, its database too, or the command fails saying so; only an unset variable
// falls back to the machine's default port and then a private server under .dev/. With
// -stop it stops those private servers instead (make stop).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/devenv"
	"github.com/urlshort/shortener/shared/store"
)

// defaultDB is the database of a run that configured none.
const defaultDB = "shortener"

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "devdeps:", err)
		}
		os.Exit(1)
	}
}

// run prints the settings; it is main without the process around it, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devdeps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "database to create (if missing) and print the URL of; default: DATABASE_URL's own, else "+defaultDB)
	fresh := fs.Bool("fresh", false, "drop the database first")
	stop := fs.Bool("stop", false, "stop the private servers under .dev/ (never the machine's own or configured ones) and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dir := devenv.Dir()
	if *stop {
		stopped, err := devenv.Stop(ctx, dir)
		for _, l := range stopped {
			fmt.Fprintln(stdout, "devdeps:", l)
		}
		if len(stopped) == 0 && err == nil {
			fmt.Fprintf(stdout, "devdeps: no private server runs under %s (the machine's own servers are left alone)\n", dir)
		}
		return err
	}
	admin, err := devenv.Postgres(ctx, dir, store.PingURL)
	if err != nil {
		return err
	}
	// Both servers are settled before any database is dropped or anything is printed, so
	// a failure changes and prints nothing.
	var lines []string
	explicit := *db != ""
	var vk string
	if os.Getenv("VALKEY_SENTINEL_ADDRS") == "" {
		// With sentinels the runtime ignores VALKEY_URL; they are left as configured.
		var err error
		vk, err = devenv.Redis(ctx, dir)
		switch {
		case errors.Is(err, devenv.ErrConfigured):
			return err
		case err != nil:
			// Nothing configured and nothing found: the cache is optional, so run without
			// it rather than not at all.
			fmt.Fprintf(stderr, "devdeps: no Valkey/Redis, running without cache: %v\n", err)
		default:
			lines = append(lines, "VALKEY_URL="+vk)
		}
	}
	target := devenv.WithDatabase(admin, *db)
	switch configured := os.Getenv("DATABASE_URL"); {
	case *db != "":
		// An explicit -db (the acceptance suite's, the benchmark's) is a database of its
		// own on whichever server was chosen, configured or not.
	case configured != "" && devenv.Database(configured) != "":
		target, *db = configured, devenv.Database(configured)
	default:
		*db = defaultDB
		target = devenv.WithDatabase(admin, *db)
	}
	if *fresh {
		if err := store.DropDatabase(ctx, admin, *db); err != nil {
			return fmt.Errorf("drop database %s: %w", *db, err)
		}
		if !explicit && vk != "" {
			// The new database's versions start again at 1: the old one's cache entries
			// would outrank its rows until their TTL. Runs with a -db of their own use a
			// key prefix of their own too, so only the default prefix is cleared.
			if err := flushCache(ctx, vk); err != nil {
				return fmt.Errorf("clear the cache: %w", err)
			}
		}
	}
	if err := store.CreateDatabase(ctx, admin, *db); err != nil {
		return fmt.Errorf("create database %s: %w", *db, err)
	}
	lines = append([]string{"DATABASE_URL=" + target}, lines...)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return nil
}

// flushCache deletes the keys of the default prefix (VALKEY_KEY_PREFIX, as the server reads
// it) on the Valkey at url.
func flushCache(ctx context.Context, url string) error {
	prefix := os.Getenv("VALKEY_KEY_PREFIX")
	if prefix == "" {
		prefix = "shortener:"
	}
	c, err := cache.New(cache.Options{URL: url, Password: os.Getenv("VALKEY_PASSWORD"), KeyPrefix: prefix})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.DeleteAll(ctx)
	return err
}
