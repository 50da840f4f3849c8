// Command autoscale-sim feeds traffic profiles through Knative Serving's own autoscaler
// code (the metric collector, the KPA decider and the reconciler's scaling rules) for
// each function, with the knobs of the real func.yaml and config-autoscaler files and an
// alternative knob set beside them, and writes what it decided: pods over time, cold
// starts, requests that waited at the activator or behind busy pods, as a table
// (stdout and a Markdown file) and a self-contained HTML chart. The per-pod capacity and
// start-to-ready time come from measured.json, which functions/cmd/capacity measures on
// the real binary. `make autoscale-sim` runs it; platform/OPERATIONS.md reads it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/urlshort/shortener/shared/routing"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "autoscale-sim:", err)
		}
		os.Exit(1)
	}
}

// run is main without the process around it, for tests.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("autoscale-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	platformDir := fs.String("platform", ".", "the platform/ folder (config-autoscaler.yaml is read from knative-serving/ in it)")
	functionsDir := fs.String("functions", "../functions", "the folder of the functions' func.yaml files")
	measuredPath := fs.String("measured", "autoscaling/measured.json", "per-pod capacity and start-to-ready, written by make capacity")
	altPath := fs.String("alt", "autoscaling/recommended.knobs", "the alternative knob set (an overlay on today's files)")
	logPath := fs.String("log", "autoscaling/sample-requests.csv", "a recorded request log (timestamp,path CSV) to run as well; empty: none")
	only := fs.String("scenario", "", "run only this scenario (viral-spike, baseline, peak-hours, viral-event, recorded-log)")
	htmlPath := fs.String("html", "autoscaling/autoscale-sim.html", "where to write the HTML chart; empty: nowhere")
	mdPath := fs.String("md", "autoscaling/results.md", "where to write the Markdown tables; empty: nowhere")
	podOverhead := fs.Duration("pod-overhead", 2*time.Second, "assumed time from pod creation to our process starting (scheduling, sandbox, queue-proxy; image cached)")
	activatorQueue := fs.Float64("activator-queue", 20000, "assumed requests the activators hold per revision with containerConcurrency > 0 (Knative: 10,000 per activator, 2 activators)")
	timeout := fs.Duration("request-timeout", 300*time.Second, "the revisions' timeoutSeconds (Knative's default)")
	preroll := fs.Int("preroll", 600, "seconds each run settles at its first rate before time 0 (longer than stable window + grace or retention, so a quiet start is at zero)")
	studyDir := fs.String("study", "autoscaling/knobs", "a folder of overlays, each changing one knob: each is run against today's and written to study.md in it; empty: none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a := Assumptions{PodOverhead: *podOverhead, ActivatorQueue: *activatorQueue, RequestTimeout: *timeout, Preroll: *preroll}

	meas, err := LoadMeasured(*measuredPath)
	if err != nil {
		return err
	}
	ov, err := LoadOverlay(*altPath)
	if err != nil {
		return err
	}
	today, err := LoadKnobs(*platformDir, *functionsDir, routing.All, nil)
	if err != nil {
		return err
	}
	alt, err := LoadKnobs(*platformDir, *functionsDir, routing.All, ov)
	if err != nil {
		return err
	}
	sets := []*KnobSet{today, alt}

	scenarios := Scenarios()
	if *logPath != "" {
		s, err := ReadLogFile(*logPath)
		if err != nil {
			return err
		}
		scenarios = append(scenarios, s)
	}
	if *only != "" {
		scenarios = slices.DeleteFunc(scenarios, func(s Scenario) bool { return s.Name != *only })
		if len(scenarios) == 0 {
			return fmt.Errorf("no scenario %q", *only)
		}
	}

	models := map[string]Model{}
	var runs []Run
	for _, sc := range scenarios {
		r, err := RunScenario(sc, sets, meas, a, models)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.Name, err)
		}
		runs = append(runs, r)
	}

	WriteText(stdout, runs)
	fmt.Fprintln(stdout)
	for _, l := range assumptionLines(meas, a, models) {
		fmt.Fprintln(stdout, "- "+l)
	}
	if *mdPath != "" {
		if err := writeFile(*mdPath, func(w io.Writer) { WriteMarkdown(w, runs, sets, meas, a, models) }); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", *mdPath)
	}
	if *studyDir != "" {
		if err := study(*studyDir, *platformDir, *functionsDir, today, scenarios, meas, a); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", filepath.Join(*studyDir, "study.md"))
	}
	if *htmlPath != "" {
		if err := writeFile(*htmlPath, func(w io.Writer) { WriteHTML(w, runs, sets, meas, a, models) }); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "wrote", *htmlPath)
		// The viral spike alone, the picture the guide links to.
		for _, r := range runs {
			if r.Scenario.Name != "viral-spike" {
				continue
			}
			p := filepath.Join(filepath.Dir(*htmlPath), "viral-spike.html")
			if err := writeFile(p, func(w io.Writer) { WriteHTML(w, []Run{r}, sets, meas, a, models) }); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "wrote", p)
		}
	}
	return nil
}

// RunScenario simulates every function that has traffic in sc under each knob set.
func RunScenario(sc Scenario, sets []*KnobSet, meas *Measured, a Assumptions, models map[string]Model) (Run, error) {
	run := Run{Scenario: sc, Results: map[string][]*Result{}}
	for fn := range sc.Rates {
		run.Order = append(run.Order, fn)
	}
	// Functions in routing's order (redirect before urls reads best: the hot path first).
	sort.Slice(run.Order, func(i, j int) bool { return rank(run.Order[i]) < rank(run.Order[j]) })
	for _, fn := range run.Order {
		m, err := meas.Model(fn, a)
		if err != nil {
			return run, err
		}
		models[fn] = m
		rate := withPreroll(sc.Rates[fn], a.Preroll)
		for _, ks := range sets {
			fk, ok := ks.Functions[fn]
			if !ok {
				return run, fmt.Errorf("no knobs for %s", fn)
			}
			res, err := Simulate(fk, ks.Autoscaler, m, rate, a.Preroll)
			if err != nil {
				return run, fmt.Errorf("%s, %s: %w", fn, ks.Name, err)
			}
			res.Knobs = ks.Name
			run.Results[fn] = append(run.Results[fn], res)
		}
	}
	return run, nil
}

// study runs every overlay in dir against today's knobs and writes one table per overlay
// to dir/study.md: what turning that one knob does on each scenario.
func study(dir, platformDir, functionsDir string, today *KnobSet, scenarios []Scenario, meas *Measured, a Assumptions) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.knobs"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	type section struct {
		set  *KnobSet
		runs []Run
	}
	var sections []section
	models := map[string]Model{}
	for _, f := range files {
		ov, err := LoadOverlay(f)
		if err != nil {
			return err
		}
		ks, err := LoadKnobs(platformDir, functionsDir, routing.All, ov)
		if err != nil {
			return err
		}
		sec := section{set: ks}
		for _, sc := range scenarios {
			r, err := RunScenario(sc, []*KnobSet{today, ks}, meas, a, models)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", f, sc.Name, err)
			}
			sec.runs = append(sec.runs, r)
		}
		sections = append(sections, sec)
	}
	return writeFile(filepath.Join(dir, "study.md"), func(w io.Writer) {
		fmt.Fprintln(w, "# One knob at a time")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Written by `make autoscale-sim` from the overlays in this folder, each against today's files, on every scenario; do not edit by hand. Assumptions and scenarios as in ../results.md. Rows where the knob changes nothing for a function are left out.")
		fmt.Fprintln(w)
		for _, sec := range sections {
			fmt.Fprintf(w, "## %s\n\n%s.\n\n", sec.set.Name, strings.Join(sec.set.Changes, "; "))
			fmt.Fprintln(w, "| "+strings.Join(tableHeader, " | ")+" |")
			fmt.Fprintln(w, "|"+strings.Repeat("---|", len(tableHeader)))
			for _, run := range sec.runs {
				for _, fn := range run.Order {
					rs := run.Results[fn]
					a, b := row(run.Scenario.Name, rs[0]), row(run.Scenario.Name, rs[1])
					if slices.Equal(a[3:], b[3:]) {
						continue
					}
					fmt.Fprintln(w, "| "+strings.Join(a, " | ")+" |")
					fmt.Fprintln(w, "| "+strings.Join(b, " | ")+" |")
				}
			}
			fmt.Fprintln(w)
		}
	})
}

// rank orders functions: redirect, urls, then the rest as routing lists them.
func rank(fn string) int {
	order := []string{routing.Redirect, routing.URLs, routing.Users, routing.Events, routing.Health, routing.EventsWriter}
	if i := slices.Index(order, fn); i >= 0 {
		return i
	}
	return len(order)
}

// withPreroll puts preroll seconds of the profile's first rate before it.
func withPreroll(rate []float64, preroll int) []float64 {
	first := 0.0
	if len(rate) > 0 {
		first = rate[0]
	}
	out := make([]float64, 0, preroll+len(rate))
	for range preroll {
		out = append(out, first)
	}
	return append(out, rate...)
}

// writeFile writes what fill produces to path.
func writeFile(path string, fill func(io.Writer)) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	fill(f)
	return f.Close()
}
