package main

import (
	"context"
	"errors"
	"math"
	"slices"
	"sort"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/types"
	autoscalingv1alpha1 "knative.dev/serving/pkg/apis/autoscaling/v1alpha1"
	"knative.dev/serving/pkg/autoscaler/config/autoscalerconfig"
	"knative.dev/serving/pkg/autoscaler/metrics"
	"knative.dev/serving/pkg/autoscaler/scaling"
	kparesources "knative.dev/serving/pkg/reconciler/autoscaling/kpa/resources"
)

// Model holds what Knative does not decide and the simulator must be told: how a pod
// of this function performs and how long it takes to become ready, and the assumptions
// about the machinery around it. Every field is printed with the results.
type Model struct {
	// CapacityPerCPU is the requests per second one pod serves at one CPU (measured).
	CapacityPerCPU float64
	// Latency is a request's own service time when it does not wait (measured p50).
	Latency time.Duration
	// ProcessStart is exec → readiness endpoint answering 200 (measured p50).
	ProcessStart time.Duration
	// PodOverhead is what a pod needs before our process starts: scheduling, the
	// sandbox, the queue-proxy, the image already on the node (assumed).
	PodOverhead time.Duration
	// ActivatorQueue is how many requests the activators hold for one revision before
	// answering 503, when containerConcurrency > 0; with 0 (no limit) they hold every
	// request (Knative's breakerQueueDepth 10,000 per activator, two activators).
	ActivatorQueue float64
	// RequestTimeout is the revision's timeoutSeconds (Knative's default 300 s): a held
	// request that waits longer fails.
	RequestTimeout time.Duration
}

// ColdStart is a new pod's time from creation to ready.
func (m Model) ColdStart() time.Duration { return m.PodOverhead + m.ProcessStart }

// Point is one simulated second of one function.
type Point struct {
	T         int     // seconds since the scenario's start
	Arrivals  float64 // requests that arrived in this second
	Ready     int     // ready pods at the second's start
	Replicas  int32   // pods the Deployment asks for after this second's reconcile
	Desired   int32   // the decider's DesiredScale (-1: no decision yet)
	Panic     bool    // the decider is in panic mode
	Proxy     bool    // the activator is in the request path (SKS proxy mode)
	Held      float64 // requests waiting at the activator (no ready pod) at the second's end
	Queued    float64 // requests waiting behind busy pods at the second's end
	MeanWait  float64 // mean extra wait, in seconds, of the requests served in this second
	Inflight  float64 // concurrency reported to the autoscaler
	StableRPS float64 // what the decider saw (stable window), in its metric's unit
}

// Result is a run of one function through one traffic profile under one knob set.
type Result struct {
	Function string
	Knobs    string
	Points   []Point
	// Summary figures over the scenario (the pre-roll excluded).
	Requests       float64
	PodsCreated    int // cold starts: pods started
	ScaleFromZero  int // times a request found no pod and had to wait for one
	MaxReady       int
	PodSeconds     float64
	PanicSeconds   int
	ProxySeconds   int
	HeldRequests   float64 // requests that waited at the activator for a pod
	HeldWaits      Dist
	QueuedRequests float64 // requests that waited behind busy pods
	QueuedWaits    Dist
	Rejected       float64 // answered 503/504 by the activator (queue full, timeout)
	FirstZero      int     // second the function first reached zero pods (-1: never)
}

// Dist is a weighted distribution of waits in seconds.
type Dist struct{ w, v []float64 }

func (d *Dist) add(n, wait float64) {
	if n > 0 {
		d.w, d.v = append(d.w, n), append(d.v, wait)
	}
}

// Quantile returns the q-quantile of the waits (0 when empty).
func (d Dist) Quantile(q float64) float64 {
	if len(d.v) == 0 {
		return 0
	}
	idx := make([]int, len(d.v))
	total := 0.0
	for i := range idx {
		idx[i] = i
		total += d.w[i]
	}
	sort.Slice(idx, func(a, b int) bool { return d.v[idx[a]] < d.v[idx[b]] })
	acc := 0.0
	for _, i := range idx {
		acc += d.w[i]
		if acc >= q*total {
			return d.v[i]
		}
	}
	return d.v[idx[len(idx)-1]]
}

// Mean returns the mean wait.
func (d Dist) Mean() float64 {
	s, n := 0.0, 0.0
	for i := range d.v {
		s += d.w[i] * d.v[i]
		n += d.w[i]
	}
	if n == 0 {
		return 0
	}
	return s / n
}

// Max returns the longest wait.
func (d Dist) Max() float64 {
	if len(d.v) == 0 {
		return 0
	}
	return slices.Max(d.v)
}

// activeState mirrors the PodAutoscaler's Active condition.
type activeState int

const (
	activating activeState = iota
	active
	inactive
)

// pod is one pod of the revision's Deployment.
type pod struct {
	readyAt float64 // seconds since the simulation's start
}

// cohort is requests that arrived in one second and wait in FIFO order.
type cohort struct {
	arrival   float64 // their mean arrival time
	n         float64
	activator bool // held at the activator because no pod was ready when they came
}

// podCounter tells the autoscaler how many pods are ready, as the endpoints lister
// does in the cluster.
type podCounter struct{ ready, notReady int }

func (p *podCounter) ReadyCount() (int, error)    { return p.ready, nil }
func (p *podCounter) NotReadyCount() (int, error) { return p.notReady, nil }

// simPodName marks the stats the simulator records; the collector ignores a stat that
// is entirely empty (as it is when no pod is scraped), and a named one never is.
const simPodName = "autoscale-sim"

// Simulate runs rate (requests per second, per second from -preroll) through Knative's
// metric collector and decider for fk, with the reconciler's scaling rules around them
// and m's model of pods and requests. The first preroll seconds settle the revision
// from a fresh deployment (initial scale) at the profile's starting rate and are not
// reported.
func Simulate(fk *FunctionKnobs, cfg *autoscalerconfig.Config, m Model, rate []float64, preroll int) (*Result, error) {
	epoch := time.Now().Truncate(time.Second)
	at := func(s float64) time.Time { return epoch.Add(time.Duration(s * float64(time.Second))) }
	pa := fk.PA
	spec := fk.Decider.Spec
	capacity := m.CapacityPerCPU * fk.CPU
	if capacity <= 0 {
		return nil, errors.New("no measured capacity")
	}
	lat := m.Latency.Seconds()
	cold := m.ColdStart().Seconds()
	const steps = 10
	const dt = 1.0 / steps

	collector := metrics.NewMetricCollector(func(*autoscalingv1alpha1.Metric, *zap.SugaredLogger) (metrics.StatsScraper, error) {
		// No scraper: the simulator records the stats a scrape would have returned.
		return nil, nil
	}, zap.NewNop().Sugar())
	if err := collector.CreateOrUpdate(fk.Metric); err != nil {
		return nil, err
	}
	key := types.NamespacedName{Namespace: fk.Metric.Namespace, Name: fk.Metric.Name}
	defer collector.Delete(key.Namespace, key.Name)

	// A new revision starts at its initial scale, ready (it must be, to take traffic).
	minScale, maxScale := pa.ScaleBounds(cfg)
	initial := kparesources.GetInitialScale(cfg, pa)
	var pods []pod
	for range max(initial, 0) {
		pods = append(pods, pod{readyAt: 0})
	}
	pc := &podCounter{ready: len(pods)}
	reader := sdkmetric.NewManualReader()
	scaler := scaling.New(attribute.NewSet(), sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)), key.Namespace, key.Name, collector, pc, &spec)
	logger := zap.NewNop().Sugar()

	rs := &reconcileState{cfg: cfg, pa: pa, min: minScale, max: maxScale, initial: initial, replicas: int32(len(pods))}
	rs.state, rs.since, rs.initialized = active, 0, true
	if len(pods) == 0 {
		rs.state, rs.initialized = inactive, false
	}
	desired := int32(-1)
	ebc := int32(0)
	switch tbc := spec.TargetBurstCapacity; tbc {
	case -1, 0:
		ebc = int32(tbc)
	default:
		ebc = int32(float64(spec.InitialScale)*spec.TotalValue - tbc)
	}
	panicking := false
	tick := func(s float64) error {
		sr := scaler.Scale(logger, at(s))
		if sr.ScaleValid {
			desired, ebc = sr.DesiredPodCount, sr.ExcessBurstCapacity
		}
		// The decider keeps its panic state private but reports it as the gauge
		// kn.revision.panic.mode; read it the way Knative's own tests do.
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			return err
		}
		panicking = panicMode(rm)
		return nil
	}

	res := &Result{Function: fk.Name, FirstZero: -1}
	var queue []cohort
	var lastStat metrics.Stat
	haveStat := false
	proxy := true
	prevHeld := 0.0
	for i := range rate {
		t := float64(i)
		rel := i - preroll
		// Pods that became ready by the start of this second.
		ready, notReady := 0, 0
		for _, p := range pods {
			if p.readyAt <= t {
				ready++
			} else {
				notReady++
			}
		}
		pc.ready, pc.notReady = ready, notReady

		// The scrape at t returns what the pods (and activator) reported for the last
		// second; the collector keeps it in its 1 s buckets.
		if haveStat {
			collector.Record(key, at(t), lastStat)
		}
		// The autoscaler decides every 2 s (scaling.tickInterval).
		if i%2 == 0 {
			if err := tick(t); err != nil {
				return nil, err
			}
		}

		// At zero the activator reports the first request at once and the multiscaler
		// pokes the decider (MultiScaler.Poke) instead of waiting for the next tick.
		if rate[i] > 0 && ready == 0 && desired == 0 {
			collector.Record(key, at(t), metrics.Stat{PodName: simPodName, AverageConcurrentRequests: 1, RequestCount: 1})
			if err := tick(t); err != nil {
				return nil, err
			}
		}

		proxy = rs.reconcile(t, desired, ebc, ready)
		// The Deployment converges on want: new pods start now, surplus ones go
		// (not-ready ones first, then the newest, as the ReplicaSet controller picks).
		for int32(len(pods)) < rs.replicas {
			pods = append(pods, pod{readyAt: t + cold})
			if rel >= 0 {
				res.PodsCreated++
			}
		}
		if int32(len(pods)) > rs.replicas {
			sort.SliceStable(pods, func(x, y int) bool { return pods[x].readyAt < pods[y].readyAt })
			pods = pods[:rs.replicas]
			ready = min(ready, len(pods))
		}

		// Requests in this second, in steps of dt: each step's arrivals join the FIFO
		// queue, and the pods ready at the step's start serve what their capacity allows.
		served, waitSum, inflightSum := 0.0, 0.0, 0.0
		for k := range steps {
			st := t + float64(k)*dt
			readyNow := 0
			for _, p := range pods {
				if p.readyAt <= st {
					readyNow++
				}
			}
			if n := rate[i] * dt; n > 0 {
				queue = append(queue, cohort{arrival: st, n: n, activator: readyNow == 0})
			}
			left := float64(readyNow) * capacity * dt
			stepServed := 0.0
			for len(queue) > 0 && left > 1e-12 {
				c := &queue[0]
				n := math.Min(c.n, left)
				wait := st - c.arrival
				if wait > m.RequestTimeout.Seconds() {
					if rel >= 0 {
						res.Rejected += n
					}
				} else {
					if rel >= 0 {
						switch {
						case c.activator:
							res.HeldRequests += n
							res.HeldWaits.add(n, wait)
						case wait > 0:
							res.QueuedRequests += n
							res.QueuedWaits.add(n, wait)
						}
					}
					served += n
					stepServed += n
					waitSum += n * wait
				}
				left -= n
				c.n -= n
				if c.n <= 1e-12 {
					queue = queue[1:]
				}
			}
			waiting := 0.0
			for _, c := range queue {
				waiting += c.n
			}
			// The activators hold requests only up to their queue when the revision
			// has a containerConcurrency; beyond it they answer 503.
			if fk.ContainerConcurrency > 0 && readyNow == 0 && waiting > m.ActivatorQueue {
				over := waiting - m.ActivatorQueue
				queue[len(queue)-1].n -= over
				waiting -= over
				if rel >= 0 {
					res.Rejected += over
				}
			}
			// In flight: waiting, plus those being served (rate × service time).
			inflightSum += waiting + stepServed/dt*lat
		}
		held, queued := 0.0, 0.0
		for _, c := range queue {
			if c.activator {
				held += c.n
			} else {
				queued += c.n
			}
		}
		a := rate[i]
		// What the queue-proxies and the activator report for this second: requests
		// that arrived, and the mean number in flight (waiting or being served).
		inflight := inflightSum / steps
		lastStat = metrics.Stat{PodName: simPodName, AverageConcurrentRequests: inflight, RequestCount: a}
		// With no pod to scrape and nothing at the activator, nothing is reported.
		haveStat = ready > 0 || inflight > 0 || a > 0

		if rel < 0 {
			continue
		}
		stable, _, _ := collector.StableAndPanicRPS(key, at(t))
		if spec.ScalingMetric != "rps" {
			stable, _, _ = collector.StableAndPanicConcurrency(key, at(t))
		}
		mw := 0.0
		if served > 0 {
			mw = waitSum / served
		}
		res.Points = append(res.Points, Point{
			T: rel, Arrivals: a, Ready: ready, Replicas: rs.replicas, Desired: desired,
			Panic: panicking, Proxy: proxy,
			Held: held, Queued: queued, MeanWait: mw, Inflight: inflight, StableRPS: stable,
		})
		res.Requests += a
		if ready == 0 && a > 0 && prevHeld == 0 {
			res.ScaleFromZero++
		}
		prevHeld = held
	}
	summarize(res)
	return res, nil
}

// panicMode reads the decider's kn.revision.panic.mode gauge from a collection.
func panicMode(rm metricdata.ResourceMetrics) bool {
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if mt.Name != "kn.revision.panic.mode" {
				continue
			}
			if g, ok := mt.Data.(metricdata.Gauge[int64]); ok {
				for _, dp := range g.DataPoints {
					return dp.Value > 0
				}
			}
		}
	}
	return false
}

// summarize fills the summary figures from the points.
func summarize(r *Result) {
	for _, p := range r.Points {
		r.PodSeconds += float64(p.Ready)
		r.MaxReady = max(r.MaxReady, p.Ready)
		if p.Panic {
			r.PanicSeconds++
		}
		if p.Proxy {
			r.ProxySeconds++
		}
		if p.Ready == 0 && r.FirstZero < 0 {
			r.FirstZero = p.T
		}
	}
}
