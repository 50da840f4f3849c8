// Command stats recounts the click statistics (and every URL's visits) from the audit
// log, in one transaction that holds new clicks back meanwhile:
//
//	stats rebuild
//
// The rollups are kept in the transaction that stores each click, so this is needed only
// after a rollout in which instances of an image older than the statistics still stored
// clicks (they do not count them), or to check the rollups against the log. It reads
// DATABASE_URL as the functions do. Cached URL bodies show the recounted visits within
// CACHE_TTL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/urlshort/shortener/shared/config"
	"github.com/urlshort/shortener/shared/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "stats:", err)
		}
		os.Exit(1)
	}
}

const usage = "usage: stats rebuild"

// run is main without the process around it, for tests.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "rebuild" {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, MaxConns: 2}, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	start := time.Now()
	if err := st.RebuildStats(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "statistics recounted from the log in %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}
