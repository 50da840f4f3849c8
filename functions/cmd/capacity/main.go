// Command capacity measures what one pod of each function does on one CPU, from the real
// server binary, for the autoscaling simulator (platform/cmd/autoscale-sim): its
// requests per second and latency at the concurrency its Knative target keeps it at, and
// its start-to-ready time (exec → /health/readiness answering 200, the path Knative's
// readiness probe asks). Each function runs as its own process the way it is deployed:
// FUNCTION and K_SERVICE set to its name, its func.yaml's literal environment, GOMEMLIMIT
// as the runtime would take it from the container's memory limit, and GOMAXPROCS=1. It
// writes platform/autoscaling/measured.json. `make capacity` runs it; the figures are
// recorded in BENCHMARKS.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "capacity:", err)
		}
		os.Exit(1)
	}
}

// Output is the file the simulator reads.
type Output struct {
	Command    string `json:"command"`
	Date       string `json:"date"`
	Machine    string `json:"machine"`
	Go         string `json:"go"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Note       string `json:"note"`
	// LoadAverage is /proc/loadavg when the run began: other work on the machine shares
	// its cores, and this says how much.
	LoadAverage string              `json:"load_average"`
	Functions   map[string]Function `json:"functions"`
}

// Function is one function's figures.
type Function struct {
	Request     string  `json:"request"`
	Metric      string  `json:"metric"`
	Target      float64 `json:"target"`
	Utilization float64 `json:"utilization"`
	// AsDeployed lists where the process departs from its func.yaml, and why.
	AsDeployed        []string `json:"as_deployed_except"`
	LoadConcurrency   int      `json:"load_concurrency"`
	Seconds           float64  `json:"seconds"`
	Requests          int      `json:"requests"`
	Unexpected        int      `json:"unexpected_statuses"`
	RequestsPerSecond float64  `json:"requests_per_second"`
	// CPUSeconds is what the server process used during the measured run, and
	// RequestsPerCPU the requests per CPU-second: the capacity of one CPU, whatever else
	// the machine's cores were doing meanwhile (the wall-clock rate above drops with it).
	CPUSeconds     float64      `json:"cpu_seconds"`
	RequestsPerCPU float64      `json:"requests_per_cpu_second"`
	LatencyP50Ms   float64      `json:"latency_p50_ms"`
	LatencyP90Ms   float64      `json:"latency_p90_ms"`
	LatencyP99Ms   float64      `json:"latency_p99_ms"`
	LatencyMaxMs   float64      `json:"latency_max_ms"`
	StartToReady   StartToReady `json:"start_to_ready_ms"`
}

// StartToReady is exec → readiness 200 over several starts of a process.
type StartToReady struct {
	P50  float64 `json:"p50"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Runs int     `json:"runs"`
}

// allFunctions is every function, in the order they are measured.
var allFunctions = []string{"redirect", "urls", "users", "events", "events-writer", "health"}

// run is main without the process around it, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("capacity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "platform/autoscaling/measured.json", "where to write the figures; empty: stdout only")
	only := fs.String("functions", strings.Join(allFunctions, ","), "functions to measure, comma-separated")
	duration := fs.Duration("duration", 10*time.Second, "load per function, after the warm-up")
	warmup := fs.Duration("warmup", 3*time.Second, "load before measuring, per function")
	starts := fs.Int("starts", 7, "process starts timed per function (after one untimed)")
	functionsDir := fs.String("functions-dir", "functions", "the folder of the functions' func.yaml files")
	bin := fs.String("bin", "", "the server binary; empty: build ./functions/cmd/shortener")
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := strings.Split(*only, ",")
	dir, err := os.MkdirTemp("", "capacity")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *bin == "" {
		*bin = filepath.Join(dir, "shortener")
		fmt.Fprintln(stderr, "capacity: building the server")
		if err := goBuild(ctx, *bin, "./functions/cmd/shortener"); err != nil {
			return err
		}
	}
	deps, err := devDeps(ctx, dir, stderr)
	if err != nil {
		return err
	}
	env := &environment{bin: *bin, deps: deps, prefix: fmt.Sprintf("capacity:%d:", time.Now().UnixNano()), adminKey: randomKey()}
	fx, err := setUp(ctx, env)
	if err != nil {
		return fmt.Errorf("set up: %w", err)
	}

	res := Output{
		Command:    strings.TrimSpace("go run ./functions/cmd/capacity " + strings.Join(args, " ")),
		Date:       time.Now().UTC().Format(time.RFC3339),
		Machine:    machine(),
		Go:         runtime.Version(),
		GOMAXPROCS: 1,
		Note:       "server processes at GOMAXPROCS=1, load generator in this process, PostgreSQL and Redis on loopback, all sharing the machine's cores",
		Functions:  map[string]Function{},
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		res.LoadAverage = strings.TrimSpace(string(b))
	}
	for _, name := range names {
		d, err := readFuncYAML(*functionsDir, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "capacity: %s: timing %d starts\n", name, *starts)
		str, err := timeStarts(ctx, env, name, d, *starts)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		w := workload(name, fx)
		conc := loadConcurrency(d)
		fmt.Fprintf(stderr, "capacity: %s: %s with %d in flight for %v\n", name, w.describe, conc, *duration)
		f, err := measureLoad(ctx, env, name, d, w, conc, *warmup, *duration)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		f.StartToReady = str
		res.Functions[name] = f
		fmt.Fprintf(stdout, "%-13s %-32s c=%-3d %8.0f req/s  %8.0f req/CPU-s  p50 %6.2f ms  p99 %6.2f ms  start→ready p50 %4.0f ms (max %4.0f)  unexpected %d\n",
			name, f.Request, f.LoadConcurrency, f.RequestsPerSecond, f.RequestsPerCPU, f.LatencyP50Ms, f.LatencyP99Ms, str.P50, str.Max, f.Unexpected)
	}
	if *out == "" {
		return nil
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "wrote", *out)
	return nil
}

// loadConcurrency is how many requests a pod has in flight at its Knative target. For
// the concurrency metric it is target × utilization, what the autoscaler keeps a pod at;
// the rps metric names no concurrency, so its pod is driven with enough in flight to keep
// one CPU busy (16), which measures what a pod can serve, not what its target asks.
func loadConcurrency(d *deployed) int {
	if d.Metric == "rps" {
		return 16
	}
	return max(1, int(d.Target*d.Utilization/100+0.5))
}

// goBuild builds pkg into out.
func goBuild(ctx context.Context, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// devDeps runs the project's devdeps, which finds or starts PostgreSQL and Redis, on a
// fresh database of the benchmark's own, and returns its KEY=value lines.
func devDeps(ctx context.Context, dir string, stderr io.Writer) ([]string, error) {
	bin := filepath.Join(dir, "devdeps")
	if err := goBuild(ctx, bin, "./functions/cmd/devdeps"); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-db", "capacity", "-fresh")
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("devdeps: %w", err)
	}
	return strings.Fields(string(out)), nil
}

// randomKey is an admin key for the run: 32 hex characters from crypto/rand.
func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// machine describes the CPU the figures come from.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d cores, %s, %s/%s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH)
}
