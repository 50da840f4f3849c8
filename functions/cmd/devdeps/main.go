// Command devdeps makes sure PostgreSQL and Valkey/Redis answer for a local run and prints
// their settings as KEY=value lines for env(1): the configured servers when they answer,
// the machine's defaults next, otherwise private servers under .dev/.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/urlshort/shortener/shared/devenv"
	"github.com/urlshort/shortener/shared/store"
)

func main() {
	db := flag.String("db", "shortener", "database to create (if missing) and print the URL of")
	fresh := flag.Bool("fresh", false, "drop the database first")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := devenv.Dir()
	admin, err := devenv.Postgres(ctx, dir, store.PingURL)
	if err != nil {
		fail(err)
	}
	if *fresh {
		if err := store.DropDatabase(ctx, admin, *db); err != nil {
			fail(err)
		}
	}
	if err := store.CreateDatabase(ctx, admin, *db); err != nil {
		fail(err)
	}
	fmt.Printf("DATABASE_URL=%s\n", devenv.WithDatabase(admin, *db))
	if vk, err := devenv.Redis(ctx, dir); err != nil {
		// The cache is optional: run without it rather than not at all.
		fmt.Fprintf(os.Stderr, "devdeps: no Valkey/Redis, running without cache: %v\n", err)
	} else {
		fmt.Printf("VALKEY_URL=%s\n", vk)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "devdeps:", err)
	os.Exit(1)
}
