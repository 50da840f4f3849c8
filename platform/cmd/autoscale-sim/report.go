package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// Run is one scenario's results: for each function with traffic, one Result per knob set.
type Run struct {
	Scenario Scenario
	Results  map[string][]*Result // function → [today, alternative]
	Order    []string
}

// tableHeader is the columns of the text and Markdown tables.
var tableHeader = []string{"scenario", "function", "knobs", "requests", "max pods", "pod-min",
	"pods started", "from zero", "held at activator", "held wait p50 / p99 / max", "queued behind busy pods", "queued wait p99",
	"rejected", "panic s", "activator in path s"}

// row formats one result for the tables.
func row(scenario string, r *Result) []string {
	return []string{scenario, r.Function, r.Knobs,
		fmt.Sprintf("%.0f", r.Requests),
		fmt.Sprint(r.MaxReady),
		fmt.Sprintf("%.1f", r.PodSeconds/60),
		fmt.Sprint(r.PodsCreated),
		fmt.Sprint(r.ScaleFromZero),
		fmt.Sprintf("%.0f", r.HeldRequests),
		fmt.Sprintf("%s / %s / %s", secs(r.HeldWaits.Quantile(0.5)), secs(r.HeldWaits.Quantile(0.99)), secs(r.HeldWaits.Max())),
		fmt.Sprintf("%.0f", r.QueuedRequests),
		secs(r.QueuedWaits.Quantile(0.99)),
		fmt.Sprintf("%.0f", r.Rejected),
		fmt.Sprint(r.PanicSeconds),
		fmt.Sprint(r.ProxySeconds),
	}
}

func secs(s float64) string {
	if s == 0 {
		return "0"
	}
	return fmt.Sprintf("%.1f s", s)
}

// WriteMarkdown writes the knob sets, the assumptions and one table row per result.
func WriteMarkdown(w io.Writer, runs []Run, sets []*KnobSet, meas *Measured, a Assumptions, models map[string]Model) {
	fmt.Fprintln(w, "# Autoscaling simulator results")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Written by `make autoscale-sim` (platform/cmd/autoscale-sim); do not edit by hand.")
	fmt.Fprintln(w)
	writeKnobs(w, sets)
	writeAssumptions(w, meas, a, models)
	fmt.Fprintln(w, "## Results")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| "+strings.Join(tableHeader, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(tableHeader)))
	for _, run := range runs {
		for _, fn := range run.Order {
			for _, r := range run.Results[fn] {
				fmt.Fprintln(w, "| "+strings.Join(row(run.Scenario.Name, r), " | ")+" |")
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Scenarios:")
	fmt.Fprintln(w)
	for _, run := range runs {
		fmt.Fprintf(w, "- **%s**: %s.\n", run.Scenario.Name, run.Scenario.Description)
	}
}

// writeKnobs lists each knob set's changes against today's files.
func writeKnobs(w io.Writer, sets []*KnobSet) {
	fmt.Fprintln(w, "## Knob sets")
	fmt.Fprintln(w)
	for _, s := range sets {
		if len(s.Changes) == 0 {
			fmt.Fprintf(w, "- **%s**: functions/*/func.yaml and platform/knative-serving/config-autoscaler.yaml as committed.\n", s.Name)
			continue
		}
		fmt.Fprintf(w, "- **%s**: today's files with %s.\n", s.Name, strings.Join(s.Changes, "; "))
	}
	fmt.Fprintln(w)
}

// assumptionLines says what the simulator was told rather than what Knative computed.
func assumptionLines(meas *Measured, a Assumptions, models map[string]Model) []string {
	lines := []string{
		"Knative's code decides: the metric collector's stable and panic windows (`pkg/autoscaler/metrics`), the KPA decider (`pkg/autoscaler/scaling`: panic mode, max scale-up/down rates, scale-down delay, excess burst capacity), the Decider/Metric/PodAutoscaler built from the rendered revision (`MakePA`, `MakeDecider`, `MakeMetric`), bounds and initial scale (`ScaleBounds`, `GetInitialScale`); the reconciler's scale-to-zero rules (active for the stable window, then the grace period with the activator in the path) are restated from `kpa/scaler.go` on simulated time.",
		fmt.Sprintf("Measured (%s, `%s`, %s): per-pod capacity at 1 CPU (requests per CPU-second of the server process), service time (p50) and process start-to-ready (p50), from platform/autoscaling/measured.json; a pod's capacity is that × its CPU limit (func.yaml `resources.limits.cpu`). The service time is the p50 at the pod's target concurrency, queueing inside a busy process included, so at lighter load the simulated concurrency is on the high side.", meas.Date, meas.Command, meas.Machine),
		fmt.Sprintf("Assumed: a pod needs %v before our process starts (scheduling, sandbox, queue-proxy; image already on the node); a pod is ready the moment its process answers its readiness probe.", a.PodOverhead),
		"Assumed: scrape lag 1 s (each second's stats reach the collector at the next 1 s scrape, from every pod: the scraper's sampling of large revisions is taken as exact); decisions every 2 s, plus Knative's immediate poke when the activator sees the first request at zero; the Deployment acts on a decision at once.",
		fmt.Sprintf("Assumed: the activator holds every request while no pod is ready (containerConcurrency 0, as all functions have today; with a limit, %.0f per revision, then 503) and forwards it the moment a pod is ready; held requests count in the activator's concurrency; a request waiting longer than %v fails (revision timeoutSeconds). The activator's own capacity (config `activator-capacity`, used only to choose how many activators serve a revision) is not a limit here, nor the hop it adds.", a.ActivatorQueue, a.RequestTimeout),
		"Assumed: the measured capacity is our process's alone; in the cluster the queue-proxy sidecar spends CPU per request too, from its own container (config-deployment's queue-proxy limits), and so does the activator while it is in the path.",
		"Assumed: requests are served first come, first served at each pod's measured capacity (a fluid model in 0.1 s steps); a request's added latency is its wait for a pod or for capacity; load spreads evenly over ready pods; no retries, no client timeouts.",
		fmt.Sprintf("Each run starts from a freshly deployed revision and settles for %d s at the scenario's first rate before the reported time 0.", a.Preroll),
	}
	for _, fn := range sortedKeys(models) {
		m := models[fn]
		lines = append(lines, fmt.Sprintf("Model of %s: %.0f req/s per CPU, service time %v, cold start %v (%v overhead + %v process start-to-ready).",
			fn, m.CapacityPerCPU, m.Latency.Round(1000), m.ColdStart().Round(1e6), m.PodOverhead, m.ProcessStart.Round(1e6)))
	}
	return lines
}

func writeAssumptions(w io.Writer, meas *Measured, a Assumptions, models map[string]Model) {
	fmt.Fprintln(w, "## What is Knative's, what is measured, what is assumed")
	fmt.Fprintln(w)
	for _, l := range assumptionLines(meas, a, models) {
		fmt.Fprintln(w, "- "+l)
	}
	fmt.Fprintln(w)
}

// WriteText prints the table for a terminal.
func WriteText(w io.Writer, runs []Run) {
	rows := [][]string{tableHeader}
	for _, run := range runs {
		for _, fn := range run.Order {
			for _, r := range run.Results[fn] {
				rows = append(rows, row(run.Scenario.Name, r))
			}
		}
	}
	width := make([]int, len(tableHeader))
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			b.WriteString(c + strings.Repeat(" ", width[i]-len([]rune(c))+2))
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// WriteHTML writes a self-contained page: for each scenario and function, the knob sets'
// pods over time side by side on the same scales, with the request rate behind them,
// panic mode shaded and the requests that waited marked.
func WriteHTML(w io.Writer, runs []Run, sets []*KnobSet, meas *Measured, a Assumptions, models map[string]Model) {
	fmt.Fprint(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Autoscaling simulator</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1280px}
h2{margin-top:32px;border-bottom:1px solid #ddd}.pair{display:flex;gap:16px;flex-wrap:wrap}
.panel{flex:1;min-width:560px}.panel h4{margin:6px 0}.sum{font-size:12px;color:#444}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f4f4f4}td:nth-child(-n+3){text-align:left}.legend span{margin-right:14px}
.sw{display:inline-block;width:14px;height:10px;margin-right:4px;vertical-align:middle}</style></head><body>
<h1>Knative's autoscaler on our traffic</h1>
<p>Every pod count below was decided by Knative Serving's own autoscaler code (v0.50.0) fed with the traffic profile;
the knobs come from <code>functions/*/func.yaml</code> and <code>platform/knative-serving/config-autoscaler.yaml</code>.
Left: today's settings. Right: the alternative <code>platform/OPERATIONS.md</code> recommends. Regenerate with <code>make autoscale-sim</code>.</p>
<p class="legend"><span><i class="sw" style="background:#1f6fd1"></i>ready pods</span><span><i class="sw" style="background:#f08c00"></i>pods wanted (Deployment replicas)</span>
<span><i class="sw" style="background:#ddd"></i>requests/s (right axis)</span><span><i class="sw" style="background:#fde2e2"></i>decider in panic mode</span>
<span><i class="sw" style="background:#d00"></i>requests waiting (at the activator or behind busy pods)</span></p>
`)
	for _, run := range runs {
		fmt.Fprintf(w, "<h2>%s</h2><p>%s</p>\n", html.EscapeString(run.Scenario.Name), html.EscapeString(run.Scenario.Description))
		for _, fn := range run.Order {
			rs := run.Results[fn]
			maxPods, maxRate := 1, 1.0
			for _, r := range rs {
				for _, p := range r.Points {
					maxPods = max(maxPods, p.Ready, int(p.Replicas))
					maxRate = math.Max(maxRate, p.Arrivals)
				}
			}
			fmt.Fprintf(w, "<h3>%s</h3><div class=\"pair\">\n", html.EscapeString(fn))
			for _, r := range rs {
				fmt.Fprintf(w, "<div class=\"panel\"><h4>%s</h4>%s<div class=\"sum\">%s</div></div>\n",
					html.EscapeString(r.Knobs), svgChart(r, maxPods, maxRate), html.EscapeString(summaryLine(r)))
			}
			fmt.Fprintln(w, "</div>")
		}
	}
	fmt.Fprintln(w, "<h2>All runs</h2><table><tr>")
	for _, h := range tableHeader {
		fmt.Fprintf(w, "<th>%s</th>", html.EscapeString(h))
	}
	fmt.Fprintln(w, "</tr>")
	for _, run := range runs {
		for _, fn := range run.Order {
			for _, r := range run.Results[fn] {
				fmt.Fprint(w, "<tr>")
				for _, c := range row(run.Scenario.Name, r) {
					fmt.Fprintf(w, "<td>%s</td>", html.EscapeString(c))
				}
				fmt.Fprintln(w, "</tr>")
			}
		}
	}
	fmt.Fprintln(w, "</table><h2>Knob sets</h2><ul>")
	for _, s := range sets {
		c := "functions/*/func.yaml and config-autoscaler.yaml as committed"
		if len(s.Changes) > 0 {
			c = "today's files with " + strings.Join(s.Changes, "; ")
		}
		fmt.Fprintf(w, "<li><b>%s</b>: %s</li>\n", html.EscapeString(s.Name), html.EscapeString(c))
	}
	fmt.Fprintln(w, "</ul><h2>What is Knative's, what is measured, what is assumed</h2><ul>")
	for _, l := range assumptionLines(meas, a, models) {
		fmt.Fprintf(w, "<li>%s</li>\n", html.EscapeString(strings.ReplaceAll(l, "`", "")))
	}
	fmt.Fprintln(w, "</ul></body></html>")
}

// summaryLine is the one-line summary under a chart.
func summaryLine(r *Result) string {
	s := fmt.Sprintf("max %d pods, %.1f pod-minutes, %d pods started", r.MaxReady, r.PodSeconds/60, r.PodsCreated)
	if r.HeldRequests > 0 {
		s += fmt.Sprintf("; %.0f requests held at the activator, waiting up to %.1f s (p99 %.1f s)", r.HeldRequests, r.HeldWaits.Max(), r.HeldWaits.Quantile(0.99))
	}
	if r.QueuedRequests > 0 {
		s += fmt.Sprintf("; %.0f queued behind busy pods (p99 wait %.1f s)", r.QueuedRequests, r.QueuedWaits.Quantile(0.99))
	}
	if r.Rejected > 0 {
		s += fmt.Sprintf("; %.0f rejected", r.Rejected)
	}
	if r.HeldRequests == 0 && r.QueuedRequests == 0 {
		s += "; no request waited"
	}
	return s + fmt.Sprintf("; panic %d s; activator in path %d s", r.PanicSeconds, r.ProxySeconds)
}

// svgChart draws one result.
func svgChart(r *Result, maxPods int, maxRate float64) string {
	const W, H, l, rt, top, bot = 600.0, 230.0, 40.0, 56.0, 10.0, 28.0
	pw, ph := W-l-rt, H-top-bot
	n := len(r.Points)
	if n == 0 {
		return ""
	}
	x := func(t float64) float64 { return l + pw*t/float64(n) }
	yPods := func(p float64) float64 { return top + ph - ph*p/float64(maxPods) }
	yRate := func(v float64) float64 { return top + ph - ph*v/maxRate }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %.0f %.0f" width="100%%" role="img">`, W, H)
	// Request rate.
	var area strings.Builder
	fmt.Fprintf(&area, "M%.1f %.1f", x(0), yRate(0))
	for i, p := range r.Points {
		fmt.Fprintf(&area, " L%.1f %.1f L%.1f %.1f", x(float64(i)), yRate(p.Arrivals), x(float64(i+1)), yRate(p.Arrivals))
	}
	fmt.Fprintf(&area, " L%.1f %.1f Z", x(float64(n)), yRate(0))
	fmt.Fprintf(&b, `<path d="%s" fill="#ddd"/>`, area.String())
	// Panic bands.
	for i := 0; i < n; {
		if !r.Points[i].Panic {
			i++
			continue
		}
		j := i
		for j < n && r.Points[j].Panic {
			j++
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#f4a0a0" fill-opacity="0.35"/>`, x(float64(i)), top, x(float64(j))-x(float64(i)), ph)
		i = j
	}
	step := func(val func(Point) float64, color, dash string) {
		var d strings.Builder
		for i, p := range r.Points {
			v := yPods(val(p))
			if i == 0 {
				fmt.Fprintf(&d, "M%.1f %.1f", x(0), v)
			}
			fmt.Fprintf(&d, " L%.1f %.1f L%.1f %.1f", x(float64(i)), v, x(float64(i+1)), v)
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2" %s/>`, d.String(), color, dash)
	}
	step(func(p Point) float64 { return float64(p.Replicas) }, "#f08c00", `stroke-dasharray="5 3"`)
	step(func(p Point) float64 { return float64(p.Ready) }, "#1f6fd1", "")
	// Waiting requests: a red tick per second in which requests waited.
	for i, p := range r.Points {
		if p.MeanWait > 0 || p.Held > 0 {
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="10" fill="#d00"/>`, x(float64(i))-1, top+ph-10, math.Max(3, x(1)-x(0)))
		}
	}
	// Axes and labels.
	fmt.Fprintf(&b, `<g font-size="10" fill="#444" font-family="sans-serif">`)
	fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/>`, l, top+ph, l+pw, top+ph)
	for _, v := range niceTicks(float64(maxPods)) {
		if v != math.Trunc(v) {
			continue // pods come in whole numbers
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%g</text><line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, l-4, yPods(v)+3, v, l, l+pw, yPods(v), yPods(v))
	}
	for _, v := range niceTicks(maxRate) {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">%s</text>`, l+pw+4, yRate(v)+3, rateLabel(v))
	}
	minutes := float64(n) / 60
	for _, m := range niceTicks(minutes) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%g</text>`, x(m*60), top+ph+12, m)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">minutes</text>`, l+pw/2, H-3)
	fmt.Fprintf(&b, `<text x="10" y="%.0f" transform="rotate(-90 10 %.0f)" text-anchor="middle">pods</text>`, top+ph/2, top+ph/2)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" transform="rotate(90 %.0f %.0f)" text-anchor="middle">requests/s</text>`, W-6, top+ph/2, W-6, top+ph/2)
	b.WriteString("</g></svg>")
	return b.String()
}

func rateLabel(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%gk", v/1000)
	}
	return fmt.Sprintf("%g", v)
}

// niceTicks returns up to about five round values from 0 to hi.
func niceTicks(hi float64) []float64 {
	if hi <= 0 {
		return []float64{0}
	}
	raw := hi / 4
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := 0.0; v <= hi+1e-9; v += step {
		out = append(out, v)
	}
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
