package funcyaml

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingconfig "knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// What func v0.50's Knative deployer (pkg/knative/deployer.go, pkg/k8s/deployer.go) puts on
// every Service it creates.
const (
	defaultLiveness  = "/health/liveness"
	defaultReadiness = "/health/readiness"
	httpPort         = 8080
	deployerKey      = "function.knative.dev/deployer"
)

// Service renders the Knative Service that `func deploy --image image --build=false` creates
// from f. It follows func v0.50.0's generateNewService step by step, with one difference: it
// leaves out the BUILT env (a timestamp func adds on every deploy) so the output is stable.
func (f *Function) Service(image string) (*servingv1.Service, error) {
	if image == "" {
		return nil, errors.New("no image")
	}
	if len(f.Run.Volumes) > 0 || f.Run.Kafka != nil || len(f.Deploy.Subscriptions) > 0 {
		return nil, errors.New("run.volumes, run.kafka and deploy.subscriptions are not rendered; deploy this function with func")
	}

	container := corev1.Container{Image: image}
	container.SecurityContext = &corev1.SecurityContext{
		RunAsNonRoot:             ptr(true),
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	liveness, readiness := defaultLiveness, defaultReadiness
	if p := f.Deploy.HealthEndpoints.Liveness; p != "" {
		liveness = p
	}
	if p := f.Deploy.HealthEndpoints.Readiness; p != "" {
		readiness = p
	}
	container.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: liveness, Port: intstr.FromInt32(httpPort)}}}
	container.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: readiness, Port: intstr.FromInt32(httpPort)}}}

	env, envFrom, err := f.containerEnv()
	if err != nil {
		return nil, err
	}
	container.Env, container.EnvFrom = env, envFrom

	labels, err := f.labels()
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{deployerKey: "knative"}
	for k, v := range f.Deploy.Annotations {
		annotations[k] = v
	}
	revisionAnnotations := make(map[string]string, len(annotations))
	for k, v := range annotations {
		revisionAnnotations[k] = v
	}
	revisionLabels := make(map[string]string, len(labels))
	for k, v := range labels {
		revisionLabels[k] = v
	}

	svc := &servingv1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: servingv1.SchemeGroupVersion.String(), Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        f.Name,
			Namespace:   f.Namespace,
			Labels:      labels,
			Annotations: annotations,
		},
	}
	tmpl := &svc.Spec.Template
	tmpl.Labels = revisionLabels
	tmpl.Annotations = revisionAnnotations
	tmpl.Spec.Containers = []corev1.Container{container}
	tmpl.Spec.ServiceAccountName = f.Deploy.ServiceAccountName
	if s := f.Deploy.ImagePullSecret; s != "" {
		tmpl.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: s}}
	}
	if err := setOptions(tmpl, f.Deploy.Options); err != nil {
		return nil, err
	}
	return svc, nil
}

// containerEnv mirrors func's ProcessEnvs: ADDRESS=0.0.0.0 is added unless set, so the
// runtime listens on every interface in the cluster.
func (f *Function) containerEnv() ([]corev1.EnvVar, []corev1.EnvFromSource, error) {
	envs := f.Run.Envs
	hasAddress := false
	for _, e := range envs {
		if e.Name != nil && *e.Name == "ADDRESS" {
			hasAddress = true
		}
	}
	if !hasAddress {
		envs = append(append([]Env{}, envs...), Env{Name: ptr("ADDRESS"), Value: ptr("0.0.0.0")})
	}
	var vars []corev1.EnvVar
	var from []corev1.EnvFromSource
	for _, e := range envs {
		switch {
		case e.Value == nil:
			return nil, nil, fmt.Errorf("env %v has no value", e.Name)
		case e.Name == nil:
			if m := regWholeSecret.FindStringSubmatch(*e.Value); m != nil {
				from = append(from, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: m[1]}}})
				continue
			}
			if m := regWholeConfigMap.FindStringSubmatch(*e.Value); m != nil {
				from = append(from, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: m[1]}}})
				continue
			}
			return nil, nil, fmt.Errorf("unsupported env source entry %q", *e.Value)
		case !strings.HasPrefix(*e.Value, "{{"):
			vars = append(vars, corev1.EnvVar{Name: *e.Name, Value: *e.Value})
		case regKeyFromSecret.MatchString(*e.Value):
			m := regKeyFromSecret.FindStringSubmatch(*e.Value)
			vars = append(vars, corev1.EnvVar{Name: *e.Name, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: m[1]}, Key: m[2]}}})
		case regKeyFromConfigMap.MatchString(*e.Value):
			m := regKeyFromConfigMap.FindStringSubmatch(*e.Value)
			vars = append(vars, corev1.EnvVar{Name: *e.Name, ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: m[1]}, Key: m[2]}}})
		default:
			// {{ env:NAME }} is read from the deployer's environment at deploy time; a
			// rendered manifest must not depend on whoever runs `make manifests`.
			return nil, nil, fmt.Errorf("env %s: %q cannot be rendered offline", *e.Name, *e.Value)
		}
	}
	return vars, from, nil
}

// labels mirrors func's GenerateCommonLabels.
func (f *Function) labels() (map[string]string, error) {
	ll := map[string]string{
		"function.knative.dev/name":    f.Name,
		"function.knative.dev/runtime": f.Runtime,
		"boson.dev/function":           "true",
	}
	for _, l := range f.Deploy.Labels {
		if l.Key == nil {
			return nil, errors.New("label without key")
		}
		v := ""
		if l.Value != nil {
			if strings.HasPrefix(*l.Value, "{{") {
				return nil, fmt.Errorf("label %s: %q cannot be rendered offline", *l.Key, *l.Value)
			}
			v = *l.Value
		}
		ll[*l.Key] = v
	}
	if f.Domain != "" {
		ll["func.domain"] = f.Domain
	}
	return ll, nil
}

// setOptions mirrors func's setServiceOptions: scale options become revision-template
// annotations (validated as knative/client does), resources go to the container.
func setOptions(tmpl *servingv1.RevisionTemplateSpec, o Options) error {
	if s := o.Scale; s != nil {
		set := map[string]string{}
		if s.Min != nil {
			set[autoscaling.MinScaleAnnotationKey] = fmt.Sprintf("%d", *s.Min)
		}
		if s.Max != nil {
			set[autoscaling.MaxScaleAnnotationKey] = fmt.Sprintf("%d", *s.Max)
		}
		if s.Metric != nil {
			set[autoscaling.MetricAnnotationKey] = *s.Metric
		}
		if s.Target != nil {
			set[autoscaling.TargetAnnotationKey] = fmt.Sprintf("%f", *s.Target)
		}
		if s.Utilization != nil {
			set[autoscaling.TargetUtilizationPercentageKey] = fmt.Sprintf("%f", *s.Utilization)
		}
		ctx := context.Background()
		cfg := servingconfig.FromContextOrDefaults(ctx).Autoscaler
		cfg.AllowZeroInitialScale = true
		if err := autoscaling.ValidateAnnotations(ctx, cfg, set); err != nil {
			return err
		}
		for k, v := range set {
			tmpl.Annotations[k] = v
		}
	}
	c := &tmpl.Spec.Containers[0]
	r := o.Resources
	if r == nil {
		return nil
	}
	parse := func(list corev1.ResourceList, name corev1.ResourceName, v *string) error {
		if v == nil {
			return nil
		}
		q, err := resource.ParseQuantity(*v)
		if err != nil {
			return fmt.Errorf("%s %q: %w", name, *v, err)
		}
		list[name] = q
		return nil
	}
	if r.Requests != nil {
		c.Resources.Requests = corev1.ResourceList{}
		if err := errors.Join(parse(c.Resources.Requests, corev1.ResourceCPU, r.Requests.CPU),
			parse(c.Resources.Requests, corev1.ResourceMemory, r.Requests.Memory)); err != nil {
			return err
		}
	}
	if r.Limits != nil {
		c.Resources.Limits = corev1.ResourceList{}
		if err := errors.Join(parse(c.Resources.Limits, corev1.ResourceCPU, r.Limits.CPU),
			parse(c.Resources.Limits, corev1.ResourceMemory, r.Limits.Memory)); err != nil {
			return err
		}
		tmpl.Spec.ContainerConcurrency = r.Limits.Concurrency
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// ServiceYAML serialises a rendered Service without the empty status and timestamps that a
// Go object carries but a manifest should not.
func ServiceYAML(svc *servingv1.Service) ([]byte, error) {
	raw, err := yaml.Marshal(svc)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	if spec, ok := m["spec"].(map[string]any); ok {
		if tmpl, ok := spec["template"].(map[string]any); ok {
			if md, ok := tmpl["metadata"].(map[string]any); ok {
				delete(md, "creationTimestamp")
			}
			if ts, ok := tmpl["spec"].(map[string]any); ok {
				if cs, ok := ts["containers"].([]any); ok {
					for _, c := range cs {
						if cm, ok := c.(map[string]any); ok {
							if cm["name"] == "" {
								delete(cm, "name")
							}
							if r, ok := cm["resources"].(map[string]any); ok && len(r) == 0 {
								delete(cm, "resources")
							}
						}
					}
				}
			}
		}
	}
	return yaml.Marshal(m)
}
