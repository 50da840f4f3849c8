package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadFuncYAML reads every committed func.yaml: each names itself in FUNCTION, has a
// scale target, and keeps its secrets as references, never as values.
func TestReadFuncYAML(t *testing.T) {
	for _, name := range allFunctions {
		d, err := readFuncYAML("../..", name)
		if err != nil {
			t.Fatal(err)
		}
		if d.Envs["FUNCTION"] != name || d.Target <= 0 || d.Utilization <= 0 || d.MemoryLimit == "" {
			t.Errorf("%s: %+v", name, d)
		}
		if !d.Refs["DATABASE_URL"] {
			t.Errorf("%s: DATABASE_URL is not a reference", name)
		}
		for k, v := range d.Envs {
			if strings.Contains(v, "{{") {
				t.Errorf("%s: %s=%q kept as a value", name, k, v)
			}
		}
	}
}

// TestReadFuncYAMLRefusesOtherShapes: a file the line reader cannot place is an error.
func TestReadFuncYAMLRefusesOtherShapes(t *testing.T) {
	dir := t.TempDir()
	// Each body names itself (NAME) so that only the flaw it has can fail it.
	scale := "deploy:\n  options:\n    scale:\n      metric: rps\n      target: 1\n      utilization: 70\n"
	envs := "run:\n  envs:\n  - name: FUNCTION\n    value: NAME\n"
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"Valid":      envs + scale,
		"NoScale":    envs,
		"BadIndent":  envs + "deploy:\n      options:\n",
		"NotKeyed":   envs + scale + "deploy\n",
		"BadTarget":  envs + strings.Replace(scale, "target: 1", "target: lots", 1),
		"WrongName":  strings.Replace(envs, "NAME", "other", 1) + scale,
		"ValueFirst": "run:\n  envs:\n  - value: NAME\n" + scale,
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name, "func.yaml"), []byte(strings.ReplaceAll(body, "NAME", name)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := readFuncYAML(dir, name)
			if (err == nil) != (name == "Valid") {
				t.Errorf("error %v", err)
			}
		})
	}
}

// TestLoadConcurrency: a concurrency-scaled pod is driven at target × utilization.
func TestLoadConcurrency(t *testing.T) {
	for _, c := range []struct {
		d    deployed
		want int
	}{
		{deployed{Metric: "concurrency", Target: 20, Utilization: 70}, 14},
		{deployed{Metric: "concurrency", Target: 1, Utilization: 10}, 1},
		{deployed{Metric: "rps", Target: 200, Utilization: 70}, 16},
	} {
		if got := loadConcurrency(&c.d); got != c.want {
			t.Errorf("%+v: %d, want %d", c.d, got, c.want)
		}
	}
	if q := quantile([]float64{1, 2, 3, 4}, 0.5); q != 2 {
		t.Errorf("median %v", q)
	}
	if b, err := memoryLimitBytes("256Mi"); err != nil || b != 256<<20 {
		t.Errorf("256Mi: %v %v", b, err)
	}
	if _, err := memoryLimitBytes("1e9"); err == nil {
		t.Error("1e9 accepted")
	}
}

// TestRunMeasuresOneFunction runs the command briefly on the health function: the server
// is built, started as deployed against PostgreSQL (devdeps starts one if none answers),
// and the file is written with a start-to-ready time and a rate. It asserts the shape of
// the figures, never their size.
func TestRunMeasuresOneFunction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	out := filepath.Join(t.TempDir(), "measured.json")
	var stdout, stderr strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := run(ctx, []string{"-functions", "health", "-duration", "300ms", "-warmup", "100ms", "-starts", "1", "-out", out}, &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var o Output
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	h := o.Functions["health"]
	if h.Requests == 0 || h.RequestsPerSecond <= 0 || h.LatencyP50Ms <= 0 || h.StartToReady.Runs != 1 || h.StartToReady.P50 <= 0 || h.Unexpected != 0 {
		t.Errorf("figures %+v", h)
	}
}
