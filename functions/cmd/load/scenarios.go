package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// scenario is one of the seed's traffic shapes: creates and redirects at their own rates
// (each from a start to an end rate, linear in between), or, for the mixed run, one
// stream as fast as the server answers with a fixed share of writes.
type scenario struct {
	name, about string
	links       int           // links made before the run, which the redirects choose from
	pareto      bool          // redirects follow an 80/20 Pareto over the links, else uniform
	viral       float64       // share of redirects that go to one link
	creates     [2]float64    // per second, at the start and at the end
	redirects   [2]float64    // per second, at the start and at the end
	duration    time.Duration // unless -duration says otherwise
	readsPerWrt int           // mixed run: reads per write in one stream at full speed
}

// The seed wrote these for k6 (baseline, peak hours, viral event, the cache test); the
// mixed run at full speed is the seed's too. Rates are requests per second.
var scenarios = []scenario{
	{name: "baseline", about: "1 create/s + 20 redirects/s over 200 links, uniform",
		links: 200, creates: [2]float64{1, 1}, redirects: [2]float64{20, 20}, duration: time.Minute},
	{name: "peak", about: "peak hours: 2 creates/s + 50 redirects/s over 200 links, uniform",
		links: 200, creates: [2]float64{2, 2}, redirects: [2]float64{50, 50}, duration: time.Minute},
	{name: "viral", about: "viral event: creates ramp 5 → 8/s, redirects 100 → 250/s, half of them to one link",
		links: 200, viral: 0.5, creates: [2]float64{5, 8}, redirects: [2]float64{100, 250}, duration: time.Minute},
	{name: "pareto", about: "cache test: 2 creates/s + 200 redirects/s (100:1), 80/20 Pareto over 2,000 links",
		links: 2000, pareto: true, creates: [2]float64{2, 2}, redirects: [2]float64{200, 200}, duration: time.Minute},
	{name: "mixed", about: "full speed: 100 redirects per create, 80/20 Pareto over 2,000 links",
		links: 2000, pareto: true, readsPerWrt: 100, duration: 30 * time.Second},
}

// findScenario returns the named scenario.
func findScenario(name string) (scenario, error) {
	var names []string
	for _, s := range scenarios {
		if s.name == name {
			return s, nil
		}
		names = append(names, s.name)
	}
	return scenario{}, fmt.Errorf("unknown scenario %q (want one of %s or all)", name, strings.Join(names, ", "))
}

// pacer paces one stream from rate[0] to rate[1] per second over d, times scale; a zero
// rate is no stream.
func pacer(rate [2]float64, scale float64, d time.Duration) vegeta.Pacer {
	r := ramp{start: rate[0] * scale, end: rate[1] * scale, d: d}
	if r.start <= 0 && r.end <= 0 {
		return nil
	}
	return r
}

// ramp is a vegeta pacer whose rate goes linearly from start to end (per second) over d.
// Request n (from 0) is due when the rate's integral reaches n, so the first goes at
// once and none after d: vegeta's own pacers send their first request one interval in and
// sleep out the last interval before looking at the clock, which at the test's fractions
// of a request per second would send nothing, or seconds late.
type ramp struct {
	start, end float64
	d          time.Duration
}

// Rate is the rate the ramp asks for at elapsed.
func (r ramp) Rate(elapsed time.Duration) float64 {
	return r.start + (r.end-r.start)*elapsed.Seconds()/r.d.Seconds()
}

// Pace says how long to wait before request hits, or to stop at the end of the ramp.
func (r ramp) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	n := float64(hits)
	// The integral of start + slope·t is start·t + slope·t²/2; solved for n.
	slope := (r.end - r.start) / r.d.Seconds()
	var due float64
	switch {
	case slope == 0:
		due = n / r.start
	default:
		due = (math.Sqrt(r.start*r.start+2*slope*n) - r.start) / slope
	}
	if math.IsNaN(due) || due >= r.d.Seconds() {
		return 0, true
	}
	// A negative wait, when vegeta is behind, sends at once.
	return time.Duration(due*float64(time.Second)) - elapsed, false
}

// picker chooses the link each redirect asks for: uniform, an 80/20 Pareto (the hottest
// fifth of the links gets four fifths of the redirects), or one viral link for a share of
// them. It counts what it chose, so the report says the skew that was sent, not the one
// intended. Safe for vegeta's concurrent workers.
type picker struct {
	codes  []string
	cdf    []float64 // Pareto: cumulative weight of ranks 0..i, the last one 1
	viral  float64
	hot    int // ranks below this are the hottest fifth
	picked atomic.Int64
	toHot  atomic.Int64
	toTop  atomic.Int64 // to the first link, the viral one
}

func newPicker(codes []string, pareto bool, viral float64) *picker {
	p := &picker{codes: codes, viral: viral, hot: max(1, len(codes)/5)}
	if pareto {
		p.cdf = paretoCDF(len(codes), 0.2, 0.8)
	}
	return p
}

func (p *picker) pick() string {
	var i int
	switch {
	case p.viral > 0 && rand.Float64() < p.viral:
		i = 0
	case p.cdf != nil:
		i = sort.SearchFloat64s(p.cdf, rand.Float64())
		i = min(i, len(p.codes)-1)
	default:
		i = rand.IntN(len(p.codes))
	}
	p.picked.Add(1)
	if i == 0 {
		p.toTop.Add(1)
	}
	if i < p.hot {
		p.toHot.Add(1)
	}
	return p.codes[i]
}

// hotShare is the share of picks that went to the hottest fifth of the links, and
// topShare the share that went to the first (the viral) link.
func (p *picker) hotShare() (hot, top float64) {
	n := p.picked.Load()
	if n == 0 {
		return 0, 0
	}
	return float64(p.toHot.Load()) / float64(n), float64(p.toTop.Load()) / float64(n)
}

// paretoCDF is the cumulative distribution of a power law over n ranks, weight 1/(i+1)^s,
// with s chosen (by bisection) so that the first top share of the ranks hold share of
// the weight: 80/20 for any number of links, where a fixed exponent would drift with n.
func paretoCDF(n int, top, share float64) []float64 {
	k := max(1, int(math.Round(float64(n)*top)))
	weights := func(s float64) ([]float64, float64) {
		w := make([]float64, n)
		var sum, head float64
		for i := range w {
			w[i] = math.Pow(float64(i+1), -s)
			sum += w[i]
			if i < k {
				head += w[i]
			}
		}
		return w, head / sum
	}
	lo, hi := 0.0, 8.0
	for range 60 {
		mid := (lo + hi) / 2
		if _, h := weights(mid); h < share {
			lo = mid
		} else {
			hi = mid
		}
	}
	w, _ := weights(hi)
	cdf := make([]float64, n)
	var sum float64
	for _, x := range w {
		sum += x
	}
	var acc float64
	for i, x := range w {
		acc += x
		cdf[i] = acc / sum
	}
	cdf[n-1] = 1
	return cdf
}
