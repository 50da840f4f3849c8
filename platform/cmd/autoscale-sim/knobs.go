package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	autoscalingv1alpha1 "knative.dev/serving/pkg/apis/autoscaling/v1alpha1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	asconfig "knative.dev/serving/pkg/autoscaler/config"
	"knative.dev/serving/pkg/autoscaler/config/autoscalerconfig"
	"knative.dev/serving/pkg/autoscaler/scaling"
	kparesources "knative.dev/serving/pkg/reconciler/autoscaling/kpa/resources"
	aresources "knative.dev/serving/pkg/reconciler/autoscaling/resources"
	revresources "knative.dev/serving/pkg/reconciler/revision/resources"
	"sigs.k8s.io/yaml"

	"github.com/urlshort/shortener/platform/internal/funcyaml"
)

// KnobSet is one set of autoscaling settings: the cluster's config-autoscaler and every
// function's func.yaml, possibly with an overlay's changes applied on top.
type KnobSet struct {
	Name       string
	Autoscaler *autoscalerconfig.Config
	Functions  map[string]*FunctionKnobs
	// Changes lists what the overlay changed, for the report.
	Changes []string
}

// FunctionKnobs is what Knative derives from one function's revision template: the
// PodAutoscaler, the Decider the autoscaler runs for it and the Metric it collects.
type FunctionKnobs struct {
	Name                 string
	PA                   *autoscalingv1alpha1.PodAutoscaler
	Decider              *scaling.Decider
	Metric               *autoscalingv1alpha1.Metric
	ContainerConcurrency int64
	// CPU is the container's CPU limit in cores: the share of a core the measured
	// per-pod capacity is scaled by.
	CPU float64
}

// Overlay is the file format of an alternative knob set: config-autoscaler keys merged
// over the cluster's ConfigMap data, and per-function changes to func.yaml's
// deploy.options (the only per-function knobs func can set).
type Overlay struct {
	Name             string                      `json:"name"`
	ConfigAutoscaler map[string]string           `json:"config-autoscaler,omitempty"`
	Functions        map[string]FunctionOverride `json:"functions,omitempty"`
}

// FunctionOverride changes func.yaml's deploy.options.scale fields and
// resources.limits.concurrency (containerConcurrency); a nil field keeps the file's value.
type FunctionOverride struct {
	Min         *int64   `json:"min,omitempty"`
	Max         *int64   `json:"max,omitempty"`
	Metric      *string  `json:"metric,omitempty"`
	Target      *float64 `json:"target,omitempty"`
	Utilization *float64 `json:"utilization,omitempty"`
	Concurrency *int64   `json:"concurrency,omitempty"`
}

// namespace is where every function runs (func.yaml's namespace).
const namespace = "shortener"

// LoadKnobs reads config-autoscaler.yaml under platformDir and the func.yaml of each named
// function under functionsDir, applies ov (nil: none) and derives what Knative would run.
func LoadKnobs(platformDir, functionsDir string, names []string, ov *Overlay) (*KnobSet, error) {
	data, err := readConfigMapData(filepath.Join(platformDir, "knative-serving", "config-autoscaler.yaml"))
	if err != nil {
		return nil, err
	}
	ks := &KnobSet{Name: "today", Functions: map[string]*FunctionKnobs{}}
	if ov != nil {
		ks.Name = ov.Name
		for k, v := range ov.ConfigAutoscaler {
			ks.Changes = append(ks.Changes, fmt.Sprintf("config-autoscaler %s: %q → %q", k, data[k], v))
			data[k] = v
		}
	}
	// Knative's own parser: defaults for absent keys, and the same validation the
	// autoscaler applies when it reads the ConfigMap.
	cfg, err := asconfig.NewConfigFromMap(data)
	if err != nil {
		return nil, fmt.Errorf("config-autoscaler: %w", err)
	}
	ks.Autoscaler = cfg
	for _, name := range names {
		f, err := funcyaml.Load(filepath.Join(functionsDir, name))
		if err != nil {
			return nil, err
		}
		if ov != nil {
			if o, ok := ov.Functions[name]; ok {
				ks.Changes = append(ks.Changes, applyOverride(f, o)...)
			}
		}
		fk, err := functionKnobs(f, cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		ks.Functions[name] = fk
	}
	if ov != nil {
		for name := range ov.Functions {
			if _, ok := ks.Functions[name]; !ok {
				return nil, fmt.Errorf("overlay %s: unknown function %q", ov.Name, name)
			}
		}
	}
	return ks, nil
}

// functionKnobs renders f's Knative Service as func deploy would, turns its template into
// the Revision and PodAutoscaler Serving makes, and asks Knative's reconciler code for the
// Decider and Metric.
func functionKnobs(f *funcyaml.Function, cfg *autoscalerconfig.Config) (*FunctionKnobs, error) {
	svc, err := f.Service("autoscale-sim.invalid/shortener:sim")
	if err != nil {
		return nil, err
	}
	tmpl := svc.Spec.Template
	rev := &servingv1.Revision{
		ObjectMeta: metav1.ObjectMeta{
			Name:        f.Name + "-00001",
			Namespace:   namespace,
			Annotations: maps.Clone(tmpl.Annotations),
			Labels:      maps.Clone(tmpl.Labels),
		},
		Spec: tmpl.Spec,
	}
	pa := revresources.MakePA(rev, nil)
	// A revision the route sends traffic to (routingState=active).
	pa.Spec.Reachability = autoscalingv1alpha1.ReachabilityReachable
	decider := kparesources.MakeDecider(pa, cfg)
	metric := aresources.MakeMetric(pa, rev.Name+"-private", cfg)
	cpu := 1.0
	if c := tmpl.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]; !c.IsZero() {
		cpu = c.AsApproximateFloat64()
	}
	return &FunctionKnobs{
		Name: f.Name, PA: pa, Decider: decider, Metric: metric,
		ContainerConcurrency: pa.Spec.ContainerConcurrency, CPU: cpu,
	}, nil
}

// applyOverride changes f's options as the overlay says and describes each change.
func applyOverride(f *funcyaml.Function, o FunctionOverride) []string {
	if f.Deploy.Options.Scale == nil {
		f.Deploy.Options.Scale = &funcyaml.ScaleOptions{}
	}
	s := f.Deploy.Options.Scale
	var changes []string
	set := func(field string, apply func() (old, new string)) {
		o, n := apply()
		changes = append(changes, fmt.Sprintf("%s func.yaml %s: %s → %s", f.Name, field, o, n))
	}
	if o.Min != nil {
		set("scale.min", func() (string, string) { return override(&s.Min, o.Min) })
	}
	if o.Max != nil {
		set("scale.max", func() (string, string) { return override(&s.Max, o.Max) })
	}
	if o.Metric != nil {
		set("scale.metric", func() (string, string) { return override(&s.Metric, o.Metric) })
	}
	if o.Target != nil {
		set("scale.target", func() (string, string) { return override(&s.Target, o.Target) })
	}
	if o.Utilization != nil {
		set("scale.utilization", func() (string, string) { return override(&s.Utilization, o.Utilization) })
	}
	if o.Concurrency != nil {
		if f.Deploy.Options.Resources == nil {
			f.Deploy.Options.Resources = &funcyaml.ResourcesOptions{}
		}
		if f.Deploy.Options.Resources.Limits == nil {
			f.Deploy.Options.Resources.Limits = &funcyaml.ResourcesLimitsOptions{}
		}
		l := f.Deploy.Options.Resources.Limits
		set("resources.limits.concurrency", func() (string, string) { return override(&l.Concurrency, o.Concurrency) })
	}
	return changes
}

// override points *dst at v and says what it pointed to before and after ("unset" for
// nothing), for the list of changes an overlay made.
func override[T any](dst **T, v *T) (old, new string) {
	show := func(p *T) string {
		if p == nil {
			return "unset"
		}
		return fmt.Sprint(*p)
	}
	old, *dst = show(*dst), v
	return old, show(v)
}

// LoadOverlay reads an overlay file, strictly: a misspelled key is an error, not a
// silently unchanged knob.
func LoadOverlay(path string) (*Overlay, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ov Overlay
	if err := yaml.UnmarshalStrict(b, &ov); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if ov.Name == "" {
		return nil, fmt.Errorf("%s: no name", path)
	}
	return &ov, nil
}

// readConfigMapData reads a ConfigMap manifest's data.
func readConfigMapData(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(b, &cm); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	return cm.Data, nil
}
