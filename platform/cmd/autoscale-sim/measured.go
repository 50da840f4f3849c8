package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Measured is the file functions/cmd/capacity writes (platform/autoscaling/measured.json):
// what one pod of each function does on one CPU, measured from the real binary. Only the
// fields the simulator reads are declared here; the file has more (the command, the
// machine, p99s), which the report shows by name.
type Measured struct {
	Command   string                      `json:"command"`
	Date      string                      `json:"date"`
	Machine   string                      `json:"machine"`
	Functions map[string]MeasuredFunction `json:"functions"`
}

// MeasuredFunction is one function's figures.
type MeasuredFunction struct {
	Request           string       `json:"request"`
	LoadConcurrency   int          `json:"load_concurrency"`
	RequestsPerSecond float64      `json:"requests_per_second"`
	RequestsPerCPU    float64      `json:"requests_per_cpu_second"`
	LatencyP50Ms      float64      `json:"latency_p50_ms"`
	LatencyP99Ms      float64      `json:"latency_p99_ms"`
	StartToReady      StartToReady `json:"start_to_ready_ms"`
}

// StartToReady is exec → readiness endpoint answering 200, over several starts.
type StartToReady struct {
	P50  float64 `json:"p50"`
	Max  float64 `json:"max"`
	Runs int     `json:"runs"`
}

// LoadMeasured reads and checks the measured file.
func LoadMeasured(path string) (*Measured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w (make capacity writes it)", err)
	}
	var m Measured
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for name, f := range m.Functions {
		if f.RequestsPerSecond <= 0 || f.LatencyP50Ms <= 0 || f.StartToReady.P50 <= 0 {
			return nil, fmt.Errorf("%s: %s has no capacity, latency or start-to-ready figure", path, name)
		}
	}
	return &m, nil
}

// Model returns the simulator's model of fn from the measurements and the assumptions.
func (m *Measured) Model(fn string, a Assumptions) (Model, error) {
	f, ok := m.Functions[fn]
	if !ok {
		return Model{}, fmt.Errorf("no measurement of %s in the measured file (make capacity)", fn)
	}
	// Requests per CPU-second of the server process is the capacity of one CPU whatever
	// else the machine did during the run; older files have only the wall-clock rate.
	capacity := f.RequestsPerCPU
	if capacity <= 0 {
		capacity = f.RequestsPerSecond
	}
	return Model{
		CapacityPerCPU: capacity,
		Latency:        time.Duration(f.LatencyP50Ms * float64(time.Millisecond)),
		ProcessStart:   time.Duration(f.StartToReady.P50 * float64(time.Millisecond)),
		PodOverhead:    a.PodOverhead,
		ActivatorQueue: a.ActivatorQueue,
		RequestTimeout: a.RequestTimeout,
	}, nil
}

// Assumptions are the simulator's inputs that are neither Knative's code nor measured
// here; each is printed with the results.
type Assumptions struct {
	PodOverhead    time.Duration
	ActivatorQueue float64
	RequestTimeout time.Duration
	Preroll        int
}
