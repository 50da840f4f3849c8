package check

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"knative.dev/eventing/pkg/apis/feature"
	netcfg "knative.dev/networking/pkg/config"
	"knative.dev/pkg/apis"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingconfig "knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	asconfig "knative.dev/serving/pkg/autoscaler/config"
	"knative.dev/serving/pkg/autoscaler/config/autoscalerconfig"
	"knative.dev/serving/pkg/deployment"
	routeconfig "knative.dev/serving/pkg/reconciler/route/config"
	"sigs.k8s.io/yaml"
)

// AutoscalingKeys are the canonical autoscaling.knative.dev annotation keys of Serving
// v0.50.0. Knative's Validate ignores unknown keys in that group, so a misspelled knob would
// silently do nothing; we reject anything else, the legacy camelCase spellings included.
var AutoscalingKeys = map[string]bool{
	autoscaling.ClassAnnotationKey:                    true,
	autoscaling.MinScaleAnnotationKey:                 true,
	autoscaling.MaxScaleAnnotationKey:                 true,
	autoscaling.InitialScaleAnnotationKey:             true,
	autoscaling.ScaleDownDelayAnnotationKey:           true,
	autoscaling.MetricAnnotationKey:                   true,
	autoscaling.TargetAnnotationKey:                   true,
	autoscaling.ScaleToZeroPodRetentionPeriodKey:      true,
	autoscaling.MetricAggregationAlgorithmKey:         true,
	autoscaling.WindowAnnotationKey:                   true,
	autoscaling.TargetUtilizationPercentageKey:        true,
	autoscaling.TargetBurstCapacityKey:                true,
	autoscaling.PanicWindowPercentageAnnotationKey:    true,
	autoscaling.PanicThresholdPercentageAnnotationKey: true,
	autoscaling.ActivationScaleKey:                    true,
}

// CheckAutoscalingKeys rejects autoscaling.knative.dev/* keys that are not canonical.
func CheckAutoscalingKeys(annotations map[string]string) error {
	var bad []string
	for k := range annotations {
		if strings.HasPrefix(k, autoscaling.GroupName+"/") && !AutoscalingKeys[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("unknown autoscaling annotation(s) %v (Knative would ignore them)", bad)
}

var (
	modDirs   = map[string]string{}
	modDirsMu sync.Mutex
)

// ModuleDir returns where the Go toolchain keeps the source of a module this one requires,
// so tests can read the release's own config files (documentation of every ConfigMap key,
// CloudNativePG's release manifest) offline from the module cache.
func ModuleDir(module string) (string, error) {
	modDirsMu.Lock()
	defer modDirsMu.Unlock()
	if d, ok := modDirs[module]; ok {
		return d, nil
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	d := strings.TrimSpace(string(out))
	if d == "" {
		return "", fmt.Errorf("module %s is not downloaded (run go mod download)", module)
	}
	modDirs[module] = d
	return d, nil
}

// readConfigMap reads a single ConfigMap document.
func readConfigMap(path string) (*corev1.ConfigMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &cm, nil
}

var exampleKey = regexp.MustCompile(`(?m)^\s{0,4}#?\s?([a-z][a-z0-9.-]*):`)

// ExampleKeys returns the keys a release documents in a ConfigMap's _example block: the only
// keys its components read (they ignore the rest without a word).
func ExampleKeys(path string) (map[string]bool, error) {
	cm, err := readConfigMap(path)
	if err != nil {
		return nil, err
	}
	keys := map[string]bool{}
	for _, m := range exampleKey.FindAllStringSubmatch(cm.Data["_example"], -1) {
		keys[m[1]] = true
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: no _example keys", path)
	}
	return keys, nil
}

// Cluster is the configuration the Knative webhooks of our cluster would validate with: the
// release defaults plus our ConfigMap patches.
type Cluster struct {
	Serving    context.Context
	Eventing   context.Context
	Autoscaler *autoscalerconfig.Config
	// Domain is the external domain Knative gives public Services (config-domain).
	Domain string
}

// configPatch names one of our Knative ConfigMap patches and where the release documents it.
type configPatch struct {
	file    string // under platform/knative-serving
	module  string
	example string // file in the module whose _example lists the valid keys
}

var servingPatches = []configPatch{
	{"config-autoscaler.yaml", "knative.dev/serving", "config/core/configmaps/autoscaler.yaml"},
	{"config-deployment.yaml", "knative.dev/serving", "config/core/configmaps/deployment.yaml"},
	{"config-network.yaml", "knative.dev/networking", "config/config-network.yaml"},
}

// LoadCluster parses our Knative ConfigMap patches with Knative's own parsers, checks their
// keys against the release's documentation, and builds validation contexts from them.
func LoadCluster(platformDir string) (*Cluster, error) {
	dir := filepath.Join(platformDir, "knative-serving")
	for _, p := range servingPatches {
		if err := CheckConfigKeys(filepath.Join(dir, p.file), p.module, p.example); err != nil {
			return nil, err
		}
	}

	asCM, err := readConfigMap(filepath.Join(dir, "config-autoscaler.yaml"))
	if err != nil {
		return nil, err
	}
	as, err := asconfig.NewConfigFromConfigMap(asCM)
	if err != nil {
		return nil, fmt.Errorf("config-autoscaler: %w", err)
	}

	depCM, err := readConfigMap(filepath.Join(dir, "config-deployment.yaml"))
	if err != nil {
		return nil, err
	}
	// The release's own ConfigMap carries the queue-proxy image; ours only patches it.
	depCM.Data[deployment.QueueSidecarImageKey] = "queue.example/queue@sha256:" + strings.Repeat("0", 64)
	if _, err := deployment.NewConfigFromConfigMap(depCM); err != nil {
		return nil, fmt.Errorf("config-deployment: %w", err)
	}

	netCM, err := readConfigMap(filepath.Join(dir, "config-network.yaml"))
	if err != nil {
		return nil, err
	}
	if _, err := netcfg.NewConfigFromConfigMap(netCM); err != nil {
		return nil, fmt.Errorf("config-network: %w", err)
	}

	domCM, err := readConfigMap(filepath.Join(dir, "config-domain.yaml"))
	if err != nil {
		return nil, err
	}
	if _, err := routeconfig.NewDomainFromConfigMap(domCM); err != nil {
		return nil, fmt.Errorf("config-domain: %w", err)
	}
	if len(domCM.Data) != 1 {
		return nil, fmt.Errorf("config-domain: want exactly one domain, have %d", len(domCM.Data))
	}
	var domain string
	for d := range domCM.Data {
		domain = d
	}

	defaults, err := servingconfig.NewDefaultsConfigFromMap(map[string]string{})
	if err != nil {
		return nil, err
	}
	features, err := servingconfig.NewFeaturesConfigFromMap(map[string]string{})
	if err != nil {
		return nil, err
	}
	serving := servingconfig.ToContext(context.Background(), &servingconfig.Config{
		Defaults: defaults, Features: features, Autoscaler: as,
	})

	// Eventing runs with its release's config-features (delivery-timeout is on, for one).
	evDir, err := ModuleDir("knative.dev/eventing")
	if err != nil {
		return nil, err
	}
	fcm, err := readConfigMap(filepath.Join(evDir, "config/core/configmaps/features.yaml"))
	if err != nil {
		return nil, err
	}
	flags, err := feature.NewFlagsConfigFromConfigMap(fcm)
	if err != nil {
		return nil, err
	}
	eventing := feature.ToContext(context.Background(), flags)

	return &Cluster{Serving: serving, Eventing: eventing, Autoscaler: as, Domain: domain}, nil
}

// CheckConfigKeys fails on a key of our ConfigMap patch that the release does not document.
func CheckConfigKeys(path, module, example string) error {
	cm, err := readConfigMap(path)
	if err != nil {
		return err
	}
	mod, err := ModuleDir(module)
	if err != nil {
		return err
	}
	keys, err := ExampleKeys(filepath.Join(mod, example))
	if err != nil {
		return err
	}
	for k := range cm.Data {
		if !keys[k] {
			return fmt.Errorf("%s: key %q is not a %s setting (see %s)", path, k, cm.Name, example)
		}
	}
	return nil
}

// errorLevel keeps the errors of a Knative FieldError and drops its warnings.
func errorLevel(fe *apis.FieldError) error {
	if fe == nil {
		return nil
	}
	if e := fe.Filter(apis.ErrorLevel); e != nil {
		return e
	}
	return nil
}

// ValidateKnativeService defaults and validates a Knative Service as Serving's webhook does
// on create, and checks its autoscaling keys.
func (c *Cluster) ValidateKnativeService(svc *servingv1.Service) error {
	ctx := apis.WithinCreate(c.Serving)
	s := svc.DeepCopy()
	s.SetDefaults(ctx)
	if err := errorLevel(s.Validate(ctx)); err != nil {
		return err
	}
	if err := CheckAutoscalingKeys(svc.Spec.Template.Annotations); err != nil {
		return err
	}
	return CheckAutoscalingKeys(svc.Annotations)
}

// defaultable is what every Knative type implements.
type defaultable interface {
	SetDefaults(context.Context)
	Validate(context.Context) *apis.FieldError
}

// ValidateEventing defaults and validates a Knative Eventing object as its webhook does.
func (c *Cluster) ValidateEventing(obj defaultable) error {
	ctx := apis.WithinCreate(c.Eventing)
	obj.SetDefaults(ctx)
	return errorLevel(obj.Validate(ctx))
}
