package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// client makes the users and links a run needs and reads the server's metrics, outside
// the measured load.
type client struct {
	base, apiKey, metrics string
	conc                  int
	http                  *http.Client
	run                   string // in every email and link of this process, so runs never clash
}

func newClient(o options) *client {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &client{
		base: o.base, apiKey: o.apiKey, metrics: o.metrics, conc: max(1, o.setupConc),
		http: &http.Client{Timeout: 30 * time.Second},
		run:  hex.EncodeToString(b),
	}
}

// header is what every request of a run carries: JSON, and the API key when given.
func (c *client) header() http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	if c.apiKey != "" {
		h.Set("Authorization", "Bearer "+c.apiKey)
	}
	return h
}

// post sends one JSON body and decodes a 201's answer into out.
func (c *client) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header = c.header()
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(rb))
	}
	return json.Unmarshal(rb, out)
}

// fixtures are what setUp made: users to own the run's creates and links to redirect to.
type fixtures struct {
	users []int64
	codes []string
}

// setUp makes one user per 20 links (at least one) and the links, a few at a time, and
// fails on the first answer that is not a 201: a run on a server that cannot create its
// fixtures would measure nothing.
func (c *client) setUp(ctx context.Context, s scenario) (fixtures, error) {
	f := fixtures{users: make([]int64, max(1, s.links/20)), codes: make([]string, s.links)}
	err := parallel(ctx, len(f.users), c.conc, func(ctx context.Context, i int) error {
		var u struct {
			ID int64 `json:"id"`
		}
		err := c.post(ctx, "/users", map[string]string{
			"username": "load", "email": fmt.Sprintf("load-%s-%s-%d@example.com", s.name, c.run, i),
		}, &u)
		f.users[i] = u.ID
		return err
	})
	if err != nil {
		return f, err
	}
	err = parallel(ctx, len(f.codes), c.conc, func(ctx context.Context, i int) error {
		var u struct {
			ShortCode string `json:"short_code"`
		}
		err := c.post(ctx, "/urls", map[string]any{
			"user_id":      f.users[i%len(f.users)],
			"original_url": fmt.Sprintf("https://example.com/load/%s/%s/%d", s.name, c.run, i),
		}, &u)
		f.codes[i] = u.ShortCode
		return err
	})
	return f, err
}

// parallel calls do for 0..n-1, conc at a time, and returns the first error, after which
// the calls not yet started are skipped and the others see their context cancelled.
func parallel(ctx context.Context, n, conc int, do func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for i := range next {
				if err := do(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// serverCounts are the redirect cache counters of the server's /metrics at one moment,
// and the cumulative buckets of its duration histogram for answered redirects.
type serverCounts struct {
	hit, miss, errs, clientSide float64
	buckets                     map[float64]float64 // le → count, GET /{short_code} 302
}

// minus is what was counted between before and c.
func (c serverCounts) minus(before serverCounts) serverCounts {
	d := serverCounts{
		hit: c.hit - before.hit, miss: c.miss - before.miss,
		errs: c.errs - before.errs, clientSide: c.clientSide - before.clientSide,
		buckets: map[float64]float64{},
	}
	for le, n := range c.buckets {
		d.buckets[le] = n - before.buckets[le]
	}
	return d
}

// quantile reads the q-quantile of the redirects' server-side durations from the
// buckets the way Prometheus's histogram_quantile does: linear inside the bucket that
// holds it, from 0 in the first one. ok is false without observations or buckets.
func (c serverCounts) quantile(q float64) (time.Duration, bool) {
	var les []float64
	for le := range c.buckets {
		les = append(les, le)
	}
	sort.Float64s(les)
	if len(les) < 2 || !math.IsInf(les[len(les)-1], 1) {
		return 0, false
	}
	total := c.buckets[les[len(les)-1]]
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, le := range les {
		n := c.buckets[le]
		if n >= rank {
			if math.IsInf(le, 1) {
				return time.Duration(lower * float64(time.Second)), true // past the last bound
			}
			v := lower + (le-lower)*(rank-below)/max(n-below, 1e-9)
			return time.Duration(v * float64(time.Second)), true
		}
		lower, below = le, n
	}
	return 0, false
}

// scrape reads the redirect cache counters; ok is false when there is no endpoint or it
// did not answer with them. In the cluster the public /metrics is the catch-all's, one
// redirect pod's own, so the counters cover that pod only; X-Cache covers every redirect.
func (c *client) scrape(ctx context.Context) (serverCounts, bool) {
	sc := serverCounts{buckets: map[float64]float64{}}
	if c.metrics == "-" {
		return sc, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.metrics, nil)
	if err != nil {
		return sc, false
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return sc, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sc, false
	}
	families, err := parseSamples(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return sc, false
	}
	found := false
	for _, m := range families {
		switch m.name {
		case "shortener_cache_requests_total":
			if m.labels["use"] != "redirect" {
				continue
			}
			found = true
			switch m.labels["result"] {
			case "hit":
				sc.hit += m.value
			case "miss":
				sc.miss += m.value
			case "error":
				sc.errs += m.value
			}
		case "shortener_cache_client_side_hits_total":
			sc.clientSide += m.value
		case "shortener_http_request_duration_seconds_bucket":
			if m.labels["route"] != "GET /{short_code}" || m.labels["code"] != "302" {
				continue
			}
			if le, err := strconv.ParseFloat(m.labels["le"], 64); err == nil {
				sc.buckets[le] += m.value
			}
		}
	}
	return sc, found
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseSamples reads the samples of the Prometheus text format, enough of it for the
// counters above (names, quoted label values without escapes inside, a float): the
// functions' module does not depend on Prometheus's own parser, and this needs only two
// families of our own exposition.
func parseSamples(r io.Reader) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		s := sample{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 && line[i] == '{' {
			s.name = line[:i]
			j := strings.LastIndexByte(line, '}')
			if j < i {
				return nil, fmt.Errorf("malformed sample %q", line)
			}
			for _, pair := range strings.Split(line[i+1:j], ",") {
				k, v, ok := strings.Cut(pair, "=")
				if !ok {
					continue
				}
				s.labels[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
			}
			rest = line[j+1:]
		} else {
			s.name, rest, _ = strings.Cut(line, " ")
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return nil, fmt.Errorf("no value in %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, sc.Err()
}
