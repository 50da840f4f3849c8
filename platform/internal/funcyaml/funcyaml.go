// Package funcyaml reads the project's func.yaml files and renders the Knative Service that
// `func deploy` makes from each, so the fallback path (`make manifests` + kubectl apply) and
// the func CLI path deploy the same object, and the offline tests can validate it.
//
// The types mirror schema/func_yaml-schema.json of knative/func v0.50.0 (Knative 1.23): every
// key that file allows is here, and decoding is strict, so a key func does not know fails.
package funcyaml

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// SpecVersion is the func.yaml spec version written by func v0.50 (its last migration).
const SpecVersion = "0.36.0"

// Function is a func.yaml document.
type Function struct {
	SpecVersion      string     `json:"specVersion"`
	Name             string     `json:"name,omitempty"`
	Domain           string     `json:"domain,omitempty"`
	Runtime          string     `json:"runtime,omitempty"`
	Registry         string     `json:"registry,omitempty"`
	RegistryInsecure bool       `json:"registryInsecure,omitempty"`
	Image            string     `json:"image,omitempty"`
	Namespace        string     `json:"namespace,omitempty"`
	Deployer         string     `json:"deployer,omitempty"`
	Created          time.Time  `json:"created"`
	Invoke           string     `json:"invoke,omitempty"`
	Build            BuildSpec  `json:"build,omitempty"`
	Run              RunSpec    `json:"run,omitempty"`
	Deploy           DeploySpec `json:"deploy,omitempty"`
}

// BuildSpec is func.yaml's build section.
type BuildSpec struct {
	Git                Git               `json:"git,omitempty"`
	BuilderImages      map[string]string `json:"builderImages,omitempty"`
	Buildpacks         []string          `json:"buildpacks,omitempty"`
	Builder            string            `json:"builder,omitempty"`
	BuildEnvs          []Env             `json:"buildEnvs,omitempty"`
	PVCSize            string            `json:"pvcSize,omitempty"`
	RemoteStorageClass string            `json:"remoteStorageClass,omitempty"`
	BaseImage          string            `json:"baseImage,omitempty"`
	Mounts             []MountSpec       `json:"volumes,omitempty"`
}

// Git is func.yaml's build.git section.
type Git struct {
	URL        string `json:"url,omitempty"`
	Revision   string `json:"revision,omitempty"`
	ContextDir string `json:"contextDir,omitempty"`
}

// MountSpec is a build-time volume.
type MountSpec struct {
	Source      string `json:"hostPath"`
	Destination string `json:"path"`
}

// RunSpec is func.yaml's run section.
type RunSpec struct {
	Volumes      []Volume     `json:"volumes,omitempty"`
	Envs         []Env        `json:"envs,omitempty"`
	StartTimeout int          `json:"startTimeout,omitempty"`
	Kafka        *KafkaConfig `json:"kafka,omitempty"`
}

// KafkaConfig is func.yaml's run.kafka section.
type KafkaConfig struct {
	Brokers       string `json:"brokers"`
	Topic         string `json:"topic"`
	ConsumerGroup string `json:"consumerGroup"`
}

// Env is one environment variable; Value may be a {{ secret:… }}, {{ configMap:… }} or
// {{ env:… }} reference.
type Env struct {
	Name  *string `json:"name,omitempty"`
	Value *string `json:"value,omitempty"`
}

// Volume is a run-time volume.
type Volume struct {
	Secret                *string                `json:"secret,omitempty"`
	ConfigMap             *string                `json:"configMap,omitempty"`
	PersistentVolumeClaim *PersistentVolumeClaim `json:"persistentVolumeClaim,omitempty"`
	EmptyDir              *EmptyDir              `json:"emptyDir,omitempty"`
	Path                  *string                `json:"path,omitempty"`
}

// PersistentVolumeClaim is a volume backed by a claim.
type PersistentVolumeClaim struct {
	ClaimName *string `json:"claimName,omitempty"`
	ReadOnly  bool    `json:"readOnly,omitempty"`
}

// EmptyDir is a scratch volume.
type EmptyDir struct {
	Medium    string  `json:"medium,omitempty"`
	SizeLimit *string `json:"sizeLimit,omitempty"`
}

// DeploySpec is func.yaml's deploy section.
type DeploySpec struct {
	Namespace          string                `json:"namespace,omitempty"`
	Image              string                `json:"image,omitempty"`
	Annotations        map[string]string     `json:"annotations,omitempty"`
	Options            Options               `json:"options,omitempty"`
	Labels             []Label               `json:"labels,omitempty"`
	HealthEndpoints    HealthEndpoints       `json:"healthEndpoints,omitempty"`
	ServiceAccountName string                `json:"serviceAccountName,omitempty"`
	ImagePullSecret    string                `json:"imagePullSecret,omitempty"`
	Deployer           string                `json:"deployer,omitempty"`
	Subscriptions      []KnativeSubscription `json:"subscriptions,omitempty"`
	ManagementDisabled bool                  `json:"managementDisabled,omitempty"`
}

// Label is one label of the deployed Service.
type Label struct {
	Key   *string `json:"key"`
	Value *string `json:"value,omitempty"`
}

// HealthEndpoints overrides the probe paths.
type HealthEndpoints struct {
	Liveness  string `json:"liveness,omitempty"`
	Readiness string `json:"readiness,omitempty"`
}

// KnativeSubscription makes func deploy create a Trigger.
type KnativeSubscription struct {
	Source  string            `json:"source"`
	Filters map[string]string `json:"filters,omitempty"`
}

// Options holds the scaling and resource options.
type Options struct {
	Scale     *ScaleOptions     `json:"scale,omitempty"`
	Resources *ResourcesOptions `json:"resources,omitempty"`
}

// ScaleOptions become the autoscaling.knative.dev/* annotations of the revision template.
type ScaleOptions struct {
	Min         *int64   `json:"min,omitempty"`
	Max         *int64   `json:"max,omitempty"`
	Metric      *string  `json:"metric,omitempty"`
	Target      *float64 `json:"target,omitempty"`
	Utilization *float64 `json:"utilization,omitempty"`
}

// ResourcesOptions become the container's resources and containerConcurrency.
type ResourcesOptions struct {
	Requests *ResourcesRequestsOptions `json:"requests,omitempty"`
	Limits   *ResourcesLimitsOptions   `json:"limits,omitempty"`
}

// ResourcesRequestsOptions are the container's requests.
type ResourcesRequestsOptions struct {
	CPU    *string `json:"cpu,omitempty"`
	Memory *string `json:"memory,omitempty"`
}

// ResourcesLimitsOptions are the container's limits and the hard concurrency limit.
type ResourcesLimitsOptions struct {
	CPU         *string `json:"cpu,omitempty"`
	Memory      *string `json:"memory,omitempty"`
	Concurrency *int64  `json:"concurrency,omitempty"`
}

// Parse decodes a func.yaml strictly: unknown or duplicate keys are errors.
func Parse(data []byte) (*Function, error) {
	var f Function
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// Load reads and parses the func.yaml in dir.
func Load(dir string) (*Function, error) {
	data, err := os.ReadFile(filepath.Join(dir, "func.yaml"))
	if err != nil {
		return nil, err
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "func.yaml"), err)
	}
	return f, nil
}

// Patterns and enums of the func.yaml schema and of func's own validation (v0.50.0).
var (
	namePattern     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envNamePattern  = regexp.MustCompile(`^[-._a-zA-Z][-._a-zA-Z0-9]*$`)
	labelKeyPattern = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	labelValPattern = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
	quantityPattern = regexp.MustCompile(`^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$`)

	regWholeSecret      = regexp.MustCompile(`^{{\s*secret:((?:\w|['-]\w)+)\s*}}$`)
	regKeyFromSecret    = regexp.MustCompile(`^{{\s*secret:((?:\w|['-]\w)+):([-._a-zA-Z0-9]+)\s*}}$`)
	regWholeConfigMap   = regexp.MustCompile(`^{{\s*configMap:((?:\w|['-]\w)+)\s*}}$`)
	regKeyFromConfigMap = regexp.MustCompile(`^{{\s*configMap:((?:\w|['-]\w)+):([-._a-zA-Z0-9]+)\s*}}$`)
	regLocalEnv         = regexp.MustCompile(`^{{\s*env:(\w+)\s*}}$`)
)

// Validate applies the checks of the func.yaml schema and of func's Function.Validate:
// what `func deploy` itself would refuse.
func (f *Function) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if f.SpecVersion != SpecVersion {
		add("specVersion %q: want %q (func v0.50)", f.SpecVersion, SpecVersion)
	}
	if f.Created.IsZero() {
		add("created: required")
	}
	if f.Name != "" && !namePattern.MatchString(f.Name) {
		add("name %q: must match %s", f.Name, namePattern)
	}
	oneOf := func(field, v string, allowed ...string) {
		if v == "" {
			return
		}
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add("%s %q: must be one of %v", field, v, allowed)
	}
	// The schema's enum lists pack and s2i only, but the func CLI (cmd/build.go) also takes
	// the host builder, which is the one Go functions are built with.
	oneOf("build.builder", f.Build.Builder, "pack", "s2i", "host")
	oneOf("deployer", f.Deployer, "knative", "raw", "keda")
	oneOf("deploy.deployer", f.Deploy.Deployer, "knative", "raw", "keda")
	oneOf("invoke", f.Invoke, "http", "cloudevent")

	for i, e := range f.Run.Envs {
		if err := validateEnv(e); err != nil {
			add("run.envs[%d]: %v", i, err)
		}
	}
	for i, e := range f.Build.BuildEnvs {
		if err := validateEnv(e); err != nil {
			add("build.buildEnvs[%d]: %v", i, err)
		}
	}
	for i, l := range f.Deploy.Labels {
		if l.Key == nil || !labelKeyPattern.MatchString(*l.Key) {
			add("deploy.labels[%d]: invalid key", i)
			continue
		}
		if l.Value != nil && !regLocalEnv.MatchString(*l.Value) && !labelValPattern.MatchString(*l.Value) {
			add("deploy.labels[%d] (%s): invalid value %q", i, *l.Key, *l.Value)
		}
	}
	for i, v := range f.Run.Volumes {
		n := 0
		for _, set := range []bool{v.Secret != nil, v.ConfigMap != nil, v.PersistentVolumeClaim != nil, v.EmptyDir != nil} {
			if set {
				n++
			}
		}
		if n != 1 || v.Path == nil {
			add("run.volumes[%d]: needs exactly one source and a path", i)
		}
	}
	errs = append(errs, validateOptions(f.Deploy.Options)...)
	return errors.Join(errs...)
}

func validateEnv(e Env) error {
	if e.Name == nil {
		if e.Value == nil || !(regWholeSecret.MatchString(*e.Value) || regWholeConfigMap.MatchString(*e.Value)) {
			return errors.New("an env without a name must be {{ secret:NAME }} or {{ configMap:NAME }}")
		}
		return nil
	}
	if !envNamePattern.MatchString(*e.Name) {
		return fmt.Errorf("invalid name %q", *e.Name)
	}
	if e.Value == nil || !strings.HasPrefix(*e.Value, "{{") {
		return nil
	}
	v := *e.Value
	if regKeyFromSecret.MatchString(v) || regKeyFromConfigMap.MatchString(v) || regLocalEnv.MatchString(v) {
		return nil
	}
	return fmt.Errorf("%s: value %q is not {{ secret:NAME:KEY }}, {{ configMap:NAME:KEY }} or {{ env:NAME }}", *e.Name, v)
}

func validateOptions(o Options) (errs []error) {
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s := o.Scale; s != nil {
		if s.Min != nil && *s.Min < 0 {
			add("deploy.options.scale.min %d: must not be negative", *s.Min)
		}
		if s.Max != nil && *s.Max < 0 {
			add("deploy.options.scale.max %d: must not be negative", *s.Max)
		}
		if s.Min != nil && s.Max != nil && *s.Max < *s.Min {
			add("deploy.options.scale.max %d: must be >= min %d", *s.Max, *s.Min)
		}
		if s.Metric != nil && *s.Metric != "concurrency" && *s.Metric != "rps" {
			add("deploy.options.scale.metric %q: must be concurrency or rps", *s.Metric)
		}
		if s.Target != nil && *s.Target < 0.01 {
			add("deploy.options.scale.target %g: must be >= 0.01", *s.Target)
		}
		if s.Utilization != nil && (*s.Utilization < 1 || *s.Utilization > 100) {
			add("deploy.options.scale.utilization %g: must be within 1..100", *s.Utilization)
		}
	}
	if r := o.Resources; r != nil {
		q := func(field string, v *string) {
			if v != nil && !quantityPattern.MatchString(*v) {
				add("deploy.options.resources.%s %q: not a quantity", field, *v)
			}
		}
		if r.Requests != nil {
			q("requests.cpu", r.Requests.CPU)
			q("requests.memory", r.Requests.Memory)
		}
		if r.Limits != nil {
			q("limits.cpu", r.Limits.CPU)
			q("limits.memory", r.Limits.Memory)
			if r.Limits.Concurrency != nil && *r.Limits.Concurrency < 0 {
				add("deploy.options.resources.limits.concurrency %d: must not be negative", *r.Limits.Concurrency)
			}
		}
	}
	return errs
}
