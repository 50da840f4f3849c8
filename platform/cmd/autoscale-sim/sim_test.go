package main

import (
	"fmt"
	"testing"
	"time"
)

// testModel is a pod that never runs out of capacity, so the tests see the autoscaler's
// decisions alone, with a cold start of 2 s.
var testModel = Model{
	CapacityPerCPU: 1e6,
	Latency:        10 * time.Millisecond,
	ProcessStart:   500 * time.Millisecond,
	PodOverhead:    1500 * time.Millisecond,
	ActivatorQueue: 20000,
	RequestTimeout: 300 * time.Second,
}

// fixture loads the test's func.yaml fixtures under the real config-autoscaler's copy.
func fixture(t *testing.T, ov *Overlay) *KnobSet {
	t.Helper()
	ks, err := LoadKnobs("testdata/platform", "testdata/functions", []string{"steady", "bursty", "warm"}, ov)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func simulate(t *testing.T, ks *KnobSet, fn string, rate []float64, preroll int) *Result {
	t.Helper()
	r, err := Simulate(ks.Functions[fn], ks.Autoscaler, testModel, withPreroll(rate, preroll), preroll)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func constant(secs int, v float64) []float64 { return ramp(hold(secs, v)) }

// TestSteadyLoadAtTargetTimesN: a steady load of exactly the decider's target per pod
// times N settles at N pods, for the rps metric and the concurrency metric, the answer
// Knative's decider gives (desired = ceil(observed / target)).
func TestSteadyLoadAtTargetTimesN(t *testing.T) {
	ks := fixture(t, nil)
	for _, fn := range []string{"steady", "bursty"} {
		spec := ks.Functions[fn].Decider.Spec
		for _, n := range []int{1, 3, 7} {
			t.Run(fmt.Sprintf("%s/%dPods", fn, n), func(t *testing.T) {
				rate := spec.TargetValue * float64(n)
				if spec.ScalingMetric == "concurrency" {
					// Concurrency is rate × service time when nobody waits.
					rate /= testModel.Latency.Seconds()
				}
				r := simulate(t, ks, fn, constant(300, rate), 240)
				for _, p := range r.Points[120:] {
					if p.Ready != n || p.Replicas != int32(n) || p.Desired != int32(n) {
						t.Fatalf("t=%d s: %d ready, %d wanted, decider %d; want %d", p.T, p.Ready, p.Replicas, p.Desired, n)
					}
				}
			})
		}
	}
}

// TestBurstPanicsAndHoldsForTheStableWindow: a burst to five times what one pod is
// meant to carry puts the decider in panic mode within a tick or two and scales up in
// panic; panic mode lasts the stable window (60 s) after the panic window last saw
// demand over the threshold, and no pod goes while it lasts.
func TestBurstPanicsAndHoldsForTheStableWindow(t *testing.T) {
	ks := fixture(t, nil)
	spec := ks.Functions["bursty"].Decider.Spec
	per := spec.TargetValue / testModel.Latency.Seconds() // requests/s one pod is meant to carry
	const burstStart, burstEnd = 60, 120
	rate := ramp(hold(burstStart, per), hold(burstEnd-burstStart, 5*per), hold(300, per))
	r := simulate(t, ks, "bursty", rate, 240)

	firstPanic, lastPanic := -1, -1
	for _, p := range r.Points {
		if p.Panic {
			if firstPanic < 0 {
				firstPanic = p.T
			}
			lastPanic = p.T
		}
	}
	if firstPanic < burstStart || firstPanic > burstStart+4 {
		t.Fatalf("panic began at %d s, want within 4 s of the burst at %d s", firstPanic, burstStart)
	}
	// Scaled up in panic mode: 4 s in, the stable window has seen 4 s of the burst (it
	// alone would want 2 pods); panic wants what the 6 s panic window sees.
	if p := r.Points[burstStart+4]; !p.Panic || p.Replicas < 4 {
		t.Errorf("4 s into the burst: panic %v, %d pods wanted; want panic and at least 4", p.Panic, p.Replicas)
	}
	if p := r.Points[burstStart+10]; p.Replicas != 5 || p.Ready != 5 {
		t.Errorf("10 s into the burst: %d pods wanted, %d ready; want 5", p.Replicas, p.Ready)
	}
	// With 5 pods the demand is under twice the capacity, so the last over-threshold
	// reading is in the burst's first seconds; panic ends a stable window later.
	if d := lastPanic - firstPanic; d < 60 || d > 66 {
		t.Errorf("panic lasted %d s, want the stable window (60 s) after its last over-threshold tick", d)
	}
	maxSoFar := int32(0)
	for _, p := range r.Points[firstPanic : lastPanic+1] {
		if p.Replicas < maxSoFar {
			t.Fatalf("t=%d s: %d pods wanted after %d; no scale-down in panic mode", p.T, p.Replicas, maxSoFar)
		}
		maxSoFar = max(maxSoFar, p.Replicas)
	}
	if end := r.Points[len(r.Points)-1]; end.Replicas != 1 {
		t.Errorf("at the end %d pods wanted, want 1 again", end.Replicas)
	}
}

// TestMinScaleOneNeverReachesZero: with min-scale 1 the revision keeps a pod through ten
// idle minutes, while the same traffic takes a min-scale 0 revision to zero once the
// stable window has seen no request: at once when the activator is already in the path
// (target-burst-capacity 200 keeps it there for a concurrency target of 10: Knative's
// fast path), after the grace period when it first has to be put there (burst capacity 0).
func TestMinScaleOneNeverReachesZero(t *testing.T) {
	ks := fixture(t, nil)
	const lastRequest = 59
	rate := ramp(hold(60, 50), hold(600, 0))

	warm := simulate(t, ks, "warm", rate, 240)
	for _, p := range warm.Points {
		if p.Ready < 1 || p.Replicas < 1 {
			t.Fatalf("min-scale 1: t=%d s: %d ready, %d wanted", p.T, p.Ready, p.Replicas)
		}
	}

	sw := ks.Autoscaler.StableWindow.Seconds()
	grace := ks.Autoscaler.ScaleToZeroGracePeriod.Seconds()
	proxied := simulate(t, ks, "bursty", rate, 240)
	if z := float64(proxied.FirstZero - lastRequest); z < sw || z > sw+4 {
		t.Errorf("activator in the path: zero %v s after the last request, want the stable window (%v s) to 4 s more", z, sw)
	}
	served := simulate(t, fixture(t, &Overlay{Name: "tbc0", ConfigAutoscaler: map[string]string{"target-burst-capacity": "0"}}), "bursty", rate, 240)
	if z := float64(served.FirstZero - lastRequest); z < sw+grace || z > sw+grace+4 {
		t.Errorf("activator out of the path: zero %v s after the last request, want stable window + grace (%v s) to 4 s more", z, sw+grace)
	}
}

// TestColdStartHoldsRequestsAtTheActivator: the first requests to a revision at zero
// wait at the activator for the cold start, no longer.
func TestColdStartHoldsRequestsAtTheActivator(t *testing.T) {
	ks := fixture(t, nil)
	rate := ramp(hold(60, 0), hold(60, 10), hold(60, 0))
	r := simulate(t, ks, "bursty", rate, 240)
	if r.ScaleFromZero != 1 || r.HeldRequests == 0 {
		t.Fatalf("%d scale-ups from zero, %v requests held; want 1 and some", r.ScaleFromZero, r.HeldRequests)
	}
	cold := testModel.ColdStart().Seconds()
	if mx := r.HeldWaits.Max(); mx < cold-0.2 || mx > cold+0.2 {
		t.Errorf("longest wait at the activator %.2f s, want about the cold start %.2f s", mx, cold)
	}
	if r.QueuedRequests != 0 || r.Rejected != 0 {
		t.Errorf("%v queued, %v rejected; want none with unbounded capacity", r.QueuedRequests, r.Rejected)
	}
}

// TestOverloadQueues: more traffic than the pods can serve waits behind them.
func TestOverloadQueues(t *testing.T) {
	ks := fixture(t, nil)
	m := testModel
	m.CapacityPerCPU = 100
	rate := ramp(hold(30, 50), hold(30, 1000), hold(120, 50))
	r, err := Simulate(ks.Functions["steady"], ks.Autoscaler, m, withPreroll(rate, 240), 240)
	if err != nil {
		t.Fatal(err)
	}
	if r.QueuedRequests == 0 || r.QueuedWaits.Max() <= 0 {
		t.Fatalf("%v requests queued; want some", r.QueuedRequests)
	}
}
