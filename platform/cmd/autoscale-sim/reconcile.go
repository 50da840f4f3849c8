package main

import (
	"time"

	autoscalingv1alpha1 "knative.dev/serving/pkg/apis/autoscaling/v1alpha1"
	"knative.dev/serving/pkg/autoscaler/config/autoscalerconfig"
	aresources "knative.dev/serving/pkg/reconciler/autoscaling/resources"
)

// reconcileState is the part of the KPA reconciler's state the simulator keeps: the
// PodAutoscaler's Active condition and when it last changed, whether the scale target
// reached its initial scale, the SKS mode and since when, and the Deployment's replicas.
//
// The reconciler itself (pkg/reconciler/autoscaling/kpa: kpa.go ReconcileKind,
// scaler.go scale and handleScaleToZero, computeActiveCondition) works on API objects,
// listers and a dynamic client, and stamps conditions with the wall clock; so its rules
// are restated here step by step, on simulated time, each with the function it follows.
// The inputs come from Knative's own code: the bounds from PodAutoscaler.ScaleBounds,
// the initial scale from kpa/resources.GetInitialScale, the stable window from
// autoscaling/resources.StableWindow, the desired scale from the decider.
type reconcileState struct {
	cfg         *autoscalerconfig.Config
	pa          *autoscalingv1alpha1.PodAutoscaler
	min, max    int32
	initial     int32
	state       activeState
	since       float64 // when state last changed
	initialized bool    // IsScaleTargetInitialized
	proxy       bool    // SKS in proxy mode (activator in the path)
	proxySince  float64
	replicas    int32
}

// scaleUnknown is the reconciler's "no decision" scale.
const scaleUnknown = -1

// activationTimeout is Knative's default progress deadline (config-deployment's
// progress-deadline, 600 s) plus its activationTimeoutBuffer (30 s).
const activationTimeout = 630.0

// reconcile runs one reconcile of the PodAutoscaler at time t with the decider's desired
// scale and excess burst capacity, and the ready pods; it updates the Deployment's
// replicas and returns whether the activator is in the request path.
func (r *reconcileState) reconcile(t float64, desired, ebc int32, ready int) bool {
	want := r.scale(t, desired)

	// kpa.go ReconcileKind: the activator leaves the path only when pods are wanted and
	// the revision has its target burst capacity to spare.
	proxy := true
	switch {
	case want == scaleUnknown && r.state == inactive:
		proxy = true
	case want > 0 && ebc >= 0:
		proxy = false
	}
	if proxy && !r.proxy {
		r.proxySince = t
	}
	r.proxy = proxy
	r.computeActiveCondition(t, want, ready)
	return proxy
}

// scale follows scaler.go scale: bounds, initial scale, then handleScaleToZero.
func (r *reconcileState) scale(t float64, desired int32) int32 {
	if desired < 0 && r.state != activating {
		return desired
	}
	minScale := r.min
	if r.initial > 1 && !r.initialized {
		minScale = max(r.initial, minScale)
	}
	desired = applyBounds(minScale, r.max, desired)
	desired, apply := r.handleScaleToZero(t, desired)
	if apply {
		r.replicas = desired
	}
	return desired
}

// applyBounds is scaler.go's applyBounds.
func applyBounds(lo, hi, x int32) int32 {
	if x < lo {
		return lo
	}
	if hi != 0 && x > hi {
		return hi
	}
	return x
}

// handleScaleToZero follows scaler.go handleScaleToZero: a revision goes to zero only
// after it has been active for the stable window (then it is marked inactive and the
// activator takes the route) and the activator has been in the path for the grace
// period (and the last pod's retention has passed). The activator probe is assumed to
// succeed as soon as the SKS is in proxy mode.
func (r *reconcileState) handleScaleToZero(t float64, desired int32) (int32, bool) {
	if desired != 0 {
		return desired, true
	}
	if !r.cfg.EnableScaleToZero {
		return 1, true
	}
	switch r.state {
	case activating:
		if t-r.since >= activationTimeout {
			return desired, true
		}
		return scaleUnknown, false
	case active:
		sw := aresources.StableWindow(r.pa, r.cfg).Seconds()
		if t-r.since >= sw {
			return desired, false
		}
		return 1, true
	default:
		grace := r.cfg.ScaleToZeroGracePeriod.Seconds()
		retention := lastPodRetention(r.pa, r.cfg).Seconds()
		inactiveFor := t - r.since
		if inactiveFor >= max(grace, retention) {
			return desired, true
		}
		if retention > 0 && inactiveFor < retention {
			return desired, false
		}
		proxyFor := 0.0
		if r.proxy {
			proxyFor = t - r.proxySince
		}
		if grace-proxyFor <= 0 {
			return desired, true
		}
		return desired, false
	}
}

// lastPodRetention is scaler.go's lastPodRetention.
func lastPodRetention(pa *autoscalingv1alpha1.PodAutoscaler, cfg *autoscalerconfig.Config) time.Duration {
	if pa.Spec.Reachability == autoscalingv1alpha1.ReachabilityUnreachable {
		return 0
	}
	if d, ok := pa.ScaleToZeroPodRetention(); ok {
		return d
	}
	return cfg.ScaleToZeroPodRetentionPeriod
}

// computeActiveCondition follows kpa.go computeActiveCondition and activeThreshold.
func (r *reconcileState) computeActiveCondition(t float64, want int32, ready int) {
	minReady := int(max(r.min, 1))
	if !r.initialized {
		minReady = int(max(r.min, r.initial))
	}
	if ready >= minReady {
		r.initialized = true
	}
	set := func(s activeState) {
		if r.state != s {
			r.state, r.since = s, t
		}
	}
	switch {
	case want == 0 || minReady == 0:
		set(inactive)
	case ready < minReady:
		if want > 0 || r.state != inactive {
			set(activating)
		} else {
			set(inactive)
		}
	default:
		if want > 0 || r.state != inactive {
			set(active)
		}
	}
}
