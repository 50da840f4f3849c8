package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	function "github.com/urlshort/shortener"
	"github.com/urlshort/shortener/shared/cache/cachetest"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// TestScenariosAgainstTheServer runs every scenario for a second, at a fifth of its rates
// and over 40 links, against the all-in-one server (make run's shape) on a fresh
// PostgreSQL database and Valkey key prefix: each must make its fixtures, send both
// kinds of request and get nothing but 201s and 302s, and its report must carry the
// latency percentiles and the cache hit rate from both sources. Figures are not checked:
// they are measurements, recorded in BENCHMARKS.md.
func TestScenariosAgainstTheServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the server on real PostgreSQL and Valkey")
	}
	f := function.New()
	ctx := context.Background()
	err := f.Start(ctx, map[string]string{
		"DATABASE_URL": storetest.URL(t), "VALKEY_URL": cachetest.URL(t), "VALKEY_KEY_PREFIX": cachetest.Prefix(),
		"FUNCTION": "", "K_SERVICE": "", "K_SINK": "", "LOG_LEVEL": "warn",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(f.Handle))
	t.Cleanup(func() {
		srv.Close()
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(ctx, options{
				base: srv.URL, scenario: s.name, duration: time.Second, scale: 0.2, links: 40,
				maxRate: 300, workers: 4, metrics: srv.URL + "/metrics", setupConc: 4,
			}, &out)
			t.Logf("\n%s", out.String())
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			for _, want := range []string{
				"redirects ", "creates ", " p50 ", " p99 ", "X-Cache HIT ", "server: redirect look-ups ", "duration inside the server", "result    0 unexpected",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("the report has no %q", want)
				}
			}
			if strings.Contains(out.String(), "none sent") {
				t.Error("a kind of request was never sent")
			}
		})
	}
}

// TestUnexpectedStatusesFail: answers other than 201 and 302 (here a 404 for every
// redirect and a 503 for every create of the run) are counted by status, and the run
// returns errUnexpected, so make load exits non-zero.
func TestUnexpectedStatusesFail(t *testing.T) {
	var n int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/users":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"id":1}`)
		case r.Method == http.MethodPost && r.URL.Path == "/urls" && r.Header.Get("X-Vegeta-Seq") == "":
			n++
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"short_code":"code%d"}`, n)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":"down"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"short code not found"}`)
		}
	}))
	defer srv.Close()
	var out bytes.Buffer
	err := run(context.Background(), options{
		base: srv.URL, scenario: "baseline", duration: time.Second, scale: 1, links: 5, metrics: "-", setupConc: 1,
	}, &out)
	t.Logf("\n%s", out.String())
	if !errors.Is(err, errUnexpected) {
		t.Fatalf("run = %v, want errUnexpected", err)
	}
	for _, want := range []string{"404 ×", "503 ×", "no metrics read"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report has no %q", want)
		}
	}
}

// TestParetoIsEightyTwenty: whatever the number of links, the hottest fifth is picked
// four times in five, and every link can be picked.
func TestParetoIsEightyTwenty(t *testing.T) {
	for _, n := range []int{10, 40, 2000} {
		codes := make([]string, n)
		for i := range codes {
			codes[i] = fmt.Sprint(i)
		}
		p := newPicker(codes, true, 0)
		seen := map[string]bool{}
		for range 200_000 {
			seen[p.pick()] = true
		}
		if hot, _ := p.hotShare(); hot < 0.79 || hot > 0.81 {
			t.Errorf("%d links: the hottest fifth got %.3f of the picks, want 0.80", n, hot)
		}
		if last := p.cdf[n-1]; last != 1 {
			t.Errorf("%d links: the distribution ends at %v", n, last)
		}
		if n <= 40 && len(seen) != n {
			t.Errorf("%d links: only %d were ever picked", n, len(seen))
		}
	}
}

// TestViralRampsAndConcentrates: the viral scenario's pacer rises from its start to its
// end rate over the run, and half its redirects go to one link.
func TestViralRampsAndConcentrates(t *testing.T) {
	s, err := findScenario("viral")
	if err != nil {
		t.Fatal(err)
	}
	p := pacer(s.redirects, 1, s.duration)
	type rater interface{ Rate(time.Duration) float64 }
	r, ok := p.(rater)
	if !ok {
		t.Fatalf("pacer %T has no rate", p)
	}
	if start, end := r.Rate(0), r.Rate(s.duration); start != s.redirects[0] || end < s.redirects[1]-0.01 || end > s.redirects[1]+0.01 {
		t.Errorf("redirects ramp %v → %v/s, want %v", start, end, s.redirects)
	}
	pk := newPicker([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, false, s.viral)
	for range 100_000 {
		pk.pick()
	}
	// Half go to the viral link, and a tenth of the rest land on it by chance.
	if _, top := pk.hotShare(); top < 0.53 || top > 0.57 {
		t.Errorf("the viral link got %.3f of the redirects, want 0.55", top)
	}
	if _, err := findScenario("nope"); err == nil {
		t.Error("an unknown scenario was accepted")
	}
}

// TestServerQuantile reads percentiles from cumulative buckets as histogram_quantile
// does: linear inside the bucket that holds the rank, from 0 in the first.
func TestServerQuantile(t *testing.T) {
	inf := math.Inf(1)
	c := serverCounts{buckets: map[float64]float64{1e-5: 50, 2.5e-5: 100, 1e-3: 100, inf: 100}}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 10 * time.Microsecond}, {0.95, 23500 * time.Nanosecond}, {0.25, 5 * time.Microsecond}} {
		got, ok := c.quantile(tc.q)
		if !ok || (got-tc.want).Abs() > time.Nanosecond {
			t.Errorf("p%v = %v (%v), want %v", tc.q*100, got, ok, tc.want)
		}
	}
	if _, ok := (serverCounts{buckets: map[float64]float64{inf: 0}}).quantile(0.5); ok {
		t.Error("a quantile of no observations")
	}
	d := c.minus(serverCounts{buckets: map[float64]float64{1e-5: 50}, hit: 1})
	if d.buckets[1e-5] != 0 || d.buckets[inf] != 100 || d.hit != -1 {
		t.Errorf("minus: %+v", d)
	}
}
