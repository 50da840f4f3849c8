package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// kind is what a request of the load does, and the status that answers it well.
type kind int

const (
	redirect kind = iota
	create
)

var expected = [...]uint16{redirect: http.StatusFound, create: http.StatusCreated}

// tally is what the results of one kind of request came to.
type tally struct {
	m          vegeta.Metrics
	codes      map[string]int // status (or "transport error") → answers
	unexpected int
	hits, miss int // X-Cache of the redirects
}

func (t *tally) add(k kind, r *vegeta.Result) {
	t.m.Add(r)
	code := strconv.Itoa(int(r.Code))
	if r.Code == 0 {
		code = "transport error"
	}
	t.codes[code]++
	if r.Code != expected[k] {
		t.unexpected++
	}
	switch r.Headers.Get("X-Cache") {
	case "HIT":
		t.hits++
	case "MISS":
		t.miss++
	}
}

// report is one scenario's run.
type report struct {
	s             scenario
	base          string
	setup         time.Duration
	links         int
	tallies       [2]*tally
	hotShare, top float64
	server        serverCounts // the deltas over the run
	serverOK      bool
	errs          map[string]int // the first few distinct transport errors, for the reader
	targetReads   string
	targetWrites  string
	workers       int
}

func (r *report) unexpected() int { return r.tallies[0].unexpected + r.tallies[1].unexpected }

// runScenario makes the scenario's fixtures, then sends its load and collects what came
// back. Creates and redirects are separate attacks with their own pacers, so a slow
// create never holds back the redirects' rate; the mixed run is one attack at full
// speed whose targeter makes every (readsPerWrt+1)th request a create.
func runScenario(ctx context.Context, c *client, o options, s scenario) (*report, error) {
	t0 := time.Now()
	fx, err := c.setUp(ctx, s)
	if err != nil {
		return nil, fmt.Errorf("making %d links: %w", s.links, err)
	}
	r := &report{s: s, base: c.base, setup: time.Since(t0), links: len(fx.codes), errs: map[string]int{}}
	for i := range r.tallies {
		r.tallies[i] = &tally{codes: map[string]int{}}
	}
	pick := newPicker(fx.codes, s.pareto, s.viral)
	var seq atomic.Int64
	hdr := c.header()
	createTarget := func(t *vegeta.Target) {
		n := seq.Add(1)
		t.Method, t.URL, t.Header = http.MethodPost, c.base+"/urls", hdr
		t.Body = fmt.Appendf(nil, `{"user_id":%d,"original_url":"https://example.com/load/%s/%s/run/%d"}`,
			fx.users[int(n)%len(fx.users)], s.name, c.run, n)
	}
	redirectTarget := func(t *vegeta.Target) {
		t.Method, t.URL, t.Header = http.MethodGet, c.base+"/"+pick.pick(), nil
	}
	kindOf := func(res *vegeta.Result) kind {
		if res.Method == http.MethodPost {
			return create
		}
		return redirect
	}

	before, okBefore := c.scrape(ctx)
	results := make(chan *vegeta.Result, 1024)
	var attackers []*vegeta.Attacker
	var wg sync.WaitGroup
	attack := func(name string, tr vegeta.Targeter, p vegeta.Pacer, opts ...func(*vegeta.Attacker)) {
		a := vegeta.NewAttacker(append([]func(*vegeta.Attacker){
			vegeta.Redirects(vegeta.NoFollow), vegeta.Timeout(10 * time.Second), vegeta.MaxBody(0),
			vegeta.KeepAlive(true),
		}, opts...)...)
		attackers = append(attackers, a)
		wg.Go(func() {
			for res := range a.Attack(tr, p, s.duration, name) {
				results <- res
			}
		})
	}
	if s.readsPerWrt > 0 {
		every := int64(s.readsPerWrt + 1)
		var n atomic.Int64
		tr := func(t *vegeta.Target) error {
			if n.Add(1)%every == 0 {
				createTarget(t)
			} else {
				redirectTarget(t)
			}
			return nil
		}
		var p vegeta.Pacer = vegeta.Rate{Freq: 0, Per: time.Second}
		r.targetReads = "as fast as answered"
		if o.maxRate > 0 {
			p = ramp{start: o.maxRate, end: o.maxRate, d: s.duration}
			r.targetReads = fmt.Sprintf("at most %g/s", o.maxRate)
		}
		r.targetWrites = fmt.Sprintf("1 per %d redirects", s.readsPerWrt)
		r.workers = o.workers
		attack(s.name, tr, p, vegeta.Workers(uint64(o.workers)), vegeta.MaxWorkers(uint64(o.workers)),
			vegeta.Connections(o.workers))
	} else {
		if p := pacer(s.redirects, o.scale, s.duration); p != nil {
			attack(s.name+"-redirects", func(t *vegeta.Target) error { redirectTarget(t); return nil }, p)
		}
		if p := pacer(s.creates, o.scale, s.duration); p != nil {
			attack(s.name+"-creates", func(t *vegeta.Target) error { createTarget(t); return nil }, p)
		}
		r.targetReads = rateText(s.redirects, o.scale)
		r.targetWrites = rateText(s.creates, o.scale)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			for _, a := range attackers {
				a.Stop()
			}
		case <-done:
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for res := range results {
		k := kindOf(res)
		r.tallies[k].add(k, res)
		if res.Code == 0 && res.Error != "" && len(r.errs) < 5 {
			r.errs[res.Error]++
		}
	}
	for _, t := range r.tallies {
		t.m.Close()
	}
	r.hotShare, r.top = pick.hotShare()
	// The server counts a redirect when it answers, which is before vegeta has read the
	// whole response; the scrape after the last answer sees them all.
	if after, okAfter := c.scrape(ctx); okBefore && okAfter {
		r.serverOK = true
		r.server = after.minus(before)
	}
	return r, nil
}

func rateText(rate [2]float64, scale float64) string {
	if rate[0] == rate[1] {
		return fmt.Sprintf("%g/s", rate[0]*scale)
	}
	return fmt.Sprintf("%g → %g/s", rate[0]*scale, rate[1]*scale)
}

// print writes the report as the lines BENCHMARKS.md records.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "scenario %s: %s\n", r.s.name, r.s.about)
	fmt.Fprintf(w, "  base %s, %d links made in %s, sent for %s\n", r.base, r.links, r.setup.Round(time.Millisecond), r.s.duration)
	if r.s.pareto {
		fmt.Fprintf(w, "  redirects to the hottest fifth of the links: %.1f %%\n", 100*r.hotShare)
	}
	if r.s.viral > 0 {
		fmt.Fprintf(w, "  redirects to the viral link: %.1f %%\n", 100*r.top)
	}
	for _, k := range []kind{redirect, create} {
		t := r.tallies[k]
		name, target := "redirects", r.targetReads
		if k == create {
			name, target = "creates", r.targetWrites
		}
		m := t.m
		if m.Requests == 0 {
			fmt.Fprintf(w, "  %-9s none sent\n", name)
			continue
		}
		fmt.Fprintf(w, "  %-9s %d sent (target %s), %.1f/s sent, %.1f/s succeeded; p50 %s  p90 %s  p95 %s  p99 %s  max %s\n",
			name, m.Requests, target, m.Rate, m.Throughput,
			lat(m.Latencies.P50), lat(m.Latencies.P90), lat(m.Latencies.P95), lat(m.Latencies.P99), lat(m.Latencies.Max))
		fmt.Fprintf(w, "  %-9s statuses %s; unexpected %d\n", "", codesText(t.codes), t.unexpected)
	}
	if r.workers > 0 {
		total := r.tallies[0].m.Requests + r.tallies[1].m.Requests
		d := max(r.tallies[0].m.Duration, r.tallies[1].m.Duration).Seconds()
		fmt.Fprintf(w, "  mixed     %d workers, %.0f requests/s reached, %d unexpected\n", r.workers, float64(total)/max(d, 1e-9), r.unexpected())
	}
	rd := r.tallies[redirect]
	if n := rd.hits + rd.miss; n > 0 {
		fmt.Fprintf(w, "  cache     X-Cache HIT %.1f %% of %d redirects\n", 100*float64(rd.hits)/float64(n), n)
	}
	if r.serverOK {
		s := r.server
		if n := s.hit + s.miss + s.errs; n > 0 {
			fmt.Fprintf(w, "  cache     server: redirect look-ups %.0f, hit %.1f %%, miss %.0f, error %.0f; client-side hits %.1f %% of the hits\n",
				n, 100*s.hit/n, s.miss, s.errs, 100*s.clientSide/max(s.hit, 1))
		}
		if p50, ok := s.quantile(0.50); ok {
			p95, _ := s.quantile(0.95)
			p99, _ := s.quantile(0.99)
			fmt.Fprintf(w, "  server    redirect (GET /{short_code} 302) duration inside the server, from its histogram: p50 %s  p95 %s  p99 %s\n",
				lat(p50), lat(p95), lat(p99))
		}
	} else {
		fmt.Fprintf(w, "  cache     server: no metrics read from the server\n")
	}
	for e, n := range r.errs {
		fmt.Fprintf(w, "  error     %dx %s\n", n, e)
	}
	fmt.Fprintf(w, "  result    %d unexpected\n", r.unexpected())
}

// lat prints a latency at a precision that suits it: microseconds stay visible.
func lat(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return d.Round(time.Millisecond).String()
}

func codesText(codes map[string]int) string {
	var ks []string
	for k := range codes {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	for i, k := range ks {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s ×%d", k, codes[k])
	}
	return b.String()
}
