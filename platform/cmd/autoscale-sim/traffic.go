package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urlshort/shortener/shared/routing"
)

// Scenario is a traffic profile: requests per second for each function, second by second.
type Scenario struct {
	Name        string
	Description string
	Seconds     int
	Rates       map[string][]float64
}

// piece is one stretch of a profile: the rate goes linearly from `from` to `to` over
// `secs` seconds.
type piece struct {
	secs     int
	from, to float64
}

// ramp expands pieces into one rate per second.
func ramp(pieces ...piece) []float64 {
	var out []float64
	for _, p := range pieces {
		for s := range p.secs {
			out = append(out, p.from+(p.to-p.from)*float64(s)/float64(p.secs))
		}
	}
	return out
}

func hold(secs int, v float64) piece { return piece{secs, v, v} }

// Scenarios are the seed's k6 load scenarios as rates, plus the viral spike of issue 14.
// Creates are POST /urls (the urls function), redirects GET /{code} (redirect).
func Scenarios() []Scenario {
	return []Scenario{
		{
			Name:        "viral-spike",
			Description: "a quiet night, then 0 → 10,000 redirects/s and 0 → 8 creates/s in 10 s, held 5 min, then quiet again",
			Seconds:     900,
			Rates: map[string][]float64{
				routing.Redirect: ramp(hold(30, 0), piece{10, 0, 10000}, hold(300, 10000), hold(560, 0)),
				routing.URLs:     ramp(hold(30, 0), piece{10, 0, 8}, hold(300, 8), hold(560, 0)),
			},
		},
		{
			Name:        "baseline",
			Description: "the seed's baseline: 1 create/s + 20 redirects/s for 15 min",
			Seconds:     900,
			Rates: map[string][]float64{
				routing.Redirect: ramp(hold(900, 20)),
				routing.URLs:     ramp(hold(900, 1)),
			},
		},
		{
			Name:        "peak-hours",
			Description: "baseline, a 5 min ramp to the seed's peak (2 creates/s + 50 redirects/s), 15 min of it, 5 min back",
			Seconds:     1800,
			Rates: map[string][]float64{
				routing.Redirect: ramp(hold(300, 20), piece{300, 20, 50}, hold(900, 50), piece{300, 50, 20}),
				routing.URLs:     ramp(hold(300, 1), piece{300, 1, 2}, hold(900, 2), piece{300, 2, 1}),
			},
		},
		{
			Name:        "viral-event",
			Description: "the seed's viral event: baseline, 3 min up to 5 creates/s + 100 redirects/s, 10 min up to 8 + 250 (\"200+\"), 5 min there, 5 min down, 5 min baseline",
			Seconds:     1800,
			Rates: map[string][]float64{
				routing.Redirect: ramp(hold(120, 20), piece{180, 20, 100}, piece{600, 100, 250}, hold(300, 250), piece{300, 250, 20}, hold(300, 20)),
				routing.URLs:     ramp(hold(120, 1), piece{180, 1, 5}, piece{600, 5, 8}, hold(300, 8), piece{300, 8, 1}, hold(300, 1)),
			},
		},
	}
}

// ReadLog reads a recorded request log into a scenario. The format is CSV, one request a
// line: `timestamp,path`, where timestamp is RFC 3339 (fractions allowed) or Unix seconds
// (fractions allowed) and path is the request's path (a query is ignored). Blank lines,
// lines starting with # and a header line `timestamp,path` are skipped. Each path goes to
// the function routing.FunctionFor names, as Traefik routes it in the cluster; requests
// are counted per second from the first one.
func ReadLog(name string, r io.Reader) (Scenario, error) {
	type req struct {
		at time.Time
		fn string
	}
	var reqs []req
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || l == "timestamp,path" {
			continue
		}
		ts, path, ok := strings.Cut(l, ",")
		if !ok {
			return Scenario{}, fmt.Errorf("%s:%d: want timestamp,path", name, line)
		}
		at, err := parseTime(strings.TrimSpace(ts))
		if err != nil {
			return Scenario{}, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		path, _, _ = strings.Cut(strings.TrimSpace(path), "?")
		if !strings.HasPrefix(path, "/") {
			return Scenario{}, fmt.Errorf("%s:%d: path %q does not start with /", name, line, path)
		}
		reqs = append(reqs, req{at, routing.FunctionFor(path)})
	}
	if err := sc.Err(); err != nil {
		return Scenario{}, err
	}
	if len(reqs) == 0 {
		return Scenario{}, fmt.Errorf("%s: no requests", name)
	}
	first, last := reqs[0].at, reqs[0].at
	for _, q := range reqs {
		if q.at.Before(first) {
			first = q.at
		}
		if q.at.After(last) {
			last = q.at
		}
	}
	// Seconds are whole seconds of the clock, as a log's reader would count them.
	first = first.Truncate(time.Second)
	secs := int(last.Sub(first)/time.Second) + 1
	s := Scenario{
		Name:        "recorded-log",
		Description: fmt.Sprintf("%s: %d requests over %d s, from %s", name, len(reqs), secs, first.UTC().Format(time.RFC3339)),
		Seconds:     secs,
		Rates:       map[string][]float64{},
	}
	for _, q := range reqs {
		if s.Rates[q.fn] == nil {
			s.Rates[q.fn] = make([]float64, secs)
		}
		s.Rates[q.fn][int(q.at.Sub(first)/time.Second)]++
	}
	return s, nil
}

// ReadLogFile reads a request log from a file.
func ReadLogFile(path string) (Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return Scenario{}, err
	}
	defer f.Close()
	return ReadLog(path, f)
}

// parseTime reads an RFC 3339 time or Unix seconds.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return time.Time{}, fmt.Errorf("timestamp %q is neither RFC 3339 nor Unix seconds", s)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), nil
}
