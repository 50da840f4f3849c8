// Command load runs the seed's load scenarios against a running shortener, here (make run)
// or in the cluster (its public base URL), with vegeta as the load library: baseline,
// peak hours, a viral event, the 80/20 Pareto cache test, and the mixed run at full
// speed. It makes its own users and links first, then sends creates (POST /urls) and
// redirects (GET /{short_code}) at each scenario's rates, counts every status it did not
// expect (a create is 201, a redirect 302; a transport error counts too), and reports the
// latency percentiles of both, the rate reached and the redirect cache hit rate, from the
// X-Cache header of each redirect and from the server's /metrics. It exits 1 when any
// answer was unexpected.
//
//	go run ./functions/cmd/load -scenario baseline -base http://localhost:8080
//	make load SCENARIO=all BASE_URL=https://sho.rt DURATION=2m
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"
)

// options are the command's flags.
type options struct {
	base      string
	scenario  string
	duration  time.Duration
	scale     float64
	maxRate   float64
	workers   int
	links     int
	apiKey    string
	metrics   string
	setupConc int
}

func main() {
	var o options
	flag.StringVar(&o.base, "base", "http://localhost:8080", "base URL of the API (make run's, or the cluster's public one)")
	flag.StringVar(&o.scenario, "scenario", "baseline", "baseline, peak, viral, pareto, mixed or all")
	flag.DurationVar(&o.duration, "duration", 0, "how long each scenario sends (0: its own default, 1m; mixed 30s)")
	flag.Float64Var(&o.scale, "scale", 1, "multiplies every scenario's rates (the test runs at a fraction)")
	flag.Float64Var(&o.maxRate, "max-rate", 0, "caps the mixed run's requests per second (0: as fast as the server answers)")
	flag.IntVar(&o.workers, "workers", 32, "concurrent requests of the mixed run at full speed")
	flag.IntVar(&o.links, "links", 0, "links to make first (0: the scenario's own, 200 or 2,000)")
	flag.StringVar(&o.apiKey, "api-key", os.Getenv("LOAD_API_KEY"), "API key with the write scope, for a server with AUTH_MODE=keys (default $LOAD_API_KEY)")
	flag.StringVar(&o.metrics, "metrics", "", "the server's Prometheus endpoint, read before and after each run for its redirect cache counters (default base+/metrics, in the cluster one redirect pod's; - for none)")
	flag.IntVar(&o.setupConc, "setup-concurrency", 8, "concurrent requests while making the users and links")
	flag.Parse()
	if o.metrics == "" {
		o.metrics = strings.TrimSuffix(o.base, "/") + "/metrics"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// errUnexpected is what run returns when the server answered anything a scenario did not
// expect; the report says which statuses.
var errUnexpected = errors.New("unexpected answers")

// run runs the chosen scenarios one after the other and prints a report of each.
func run(ctx context.Context, o options, out io.Writer) error {
	o.base = strings.TrimSuffix(o.base, "/")
	var chosen []scenario
	if o.scenario == "all" {
		chosen = scenarios
	} else {
		s, err := findScenario(o.scenario)
		if err != nil {
			return err
		}
		chosen = []scenario{s}
	}
	c := newClient(o)
	bad := 0
	for _, s := range chosen {
		if o.duration > 0 {
			s.duration = o.duration
		}
		if o.links > 0 {
			s.links = o.links
		}
		r, err := runScenario(ctx, c, o, s)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		r.print(out)
		bad += r.unexpected()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d in all", errUnexpected, bad)
	}
	return nil
}
