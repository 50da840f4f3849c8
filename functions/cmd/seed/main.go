// Command seed loads the seed CSVs of the spec (users.csv, urls.csv, events.csv) into an
// empty database, keeping their ids. When the files are missing it first writes realistic
// ones, the same every time: 400 users (a few sharing a username), 2000 URLs and 3400
// events. Progress goes to stderr.
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
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
)

// timeLayout is how the seed files write timestamps.
const timeLayout = domain.SeedTimeLayout

// The seed files and their headers, as the spec gives them.
const (
	usersFile  = "users.csv"
	urlsFile   = "urls.csv"
	eventsFile = "events.csv"
)

var (
	usersHeader  = domain.UsersCSVHeader
	urlsHeader   = domain.URLsCSVHeader
	eventsHeader = domain.EventsCSVHeader
)

// dataset is the content of the three seed files.
type dataset struct {
	users  []domain.User
	urls   []domain.URL
	events []domain.Event
}

func main() {
	cfg, err := config.Load()
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], cfg.DatabaseURL, os.Stderr); err != nil {
		stop()
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		if domain.KindOf(err) == domain.Conflict {
			err = fmt.Errorf("%w\nto start over on a fresh database (this drops it): deps=$(go run ./functions/cmd/devdeps -fresh) && env $deps go run ./functions/cmd/seed -dir .dev/seed", err)
		}
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "seed:", err)
	os.Exit(1)
}

// run is the command without its process: flags in args, progress to log.
func run(ctx context.Context, args []string, databaseURL string, log io.Writer) error {
	fl := flag.NewFlagSet("seed", flag.ContinueOnError)
	fl.SetOutput(log)
	dir := fl.String("dir", ".dev/seed", "directory of users.csv, urls.csv and events.csv")
	gen := fl.Bool("generate", true, "write the three CSVs when any of them is missing")
	load := fl.Bool("load", true, "load the CSVs into the database at DATABASE_URL, which must be empty")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *gen {
		wrote, err := generateMissing(*dir)
		if err != nil {
			return err
		}
		if wrote {
			fmt.Fprintf(log, "generated %s, %s and %s in %s\n", usersFile, urlsFile, eventsFile, *dir)
		} else {
			fmt.Fprintf(log, "using the CSVs already in %s\n", *dir)
		}
	}
	if !*load {
		return nil
	}
	d, err := readDir(*dir, log)
	if err != nil {
		return err
	}
	return loadDB(ctx, databaseURL, d, log)
}

// loadDB migrates the database (the schema may not exist yet) and seeds it.
func loadDB(ctx context.Context, databaseURL string, d dataset, log io.Writer) error {
	st, err := store.Open(ctx, store.Options{URL: databaseURL, MaxConns: 2}, events.NewAuditor("seed"))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	start := time.Now()
	if err := st.Seed(ctx, d.users, d.urls, d.events); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	fmt.Fprintf(log, "loaded %d users, %d urls, %d events in %s\n",
		len(d.users), len(d.urls), len(d.events), time.Since(start).Round(time.Millisecond))
	return nil
}
