package check

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// Validate runs the checks for one fully built object (not a patch): the metadata rules of
// the API server, the kind's webhook validation where we have it, and our rules.
func (c *Cluster) Validate(d *Doc) error {
	if d.Obj == nil {
		return nil
	}
	var errs []error
	if o, ok := d.Obj.(metav1.Object); ok {
		nameFn := apivalidation.NameIsDNSSubdomain
		if d.GVK.Kind == "Namespace" || d.GVK.Kind == "Service" {
			nameFn = apivalidation.NameIsDNSLabel
		}
		if fe := apivalidation.ValidateObjectMetaAccessor(o, !ClusterScoped(d.GVK), nameFn, field.NewPath("metadata")); len(fe) > 0 {
			errs = append(errs, fe.ToAggregate())
		}
	}
	if err := c.validateKind(d); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", d, err)
	}
	return nil
}

func (c *Cluster) validateKind(d *Doc) error {
	switch o := d.Obj.(type) {
	case *servingv1.Service:
		return c.ValidateKnativeService(o)
	case *eventingv1.Broker:
		return c.ValidateEventing(o.DeepCopy())
	case *eventingv1.Trigger:
		return c.ValidateEventing(o.DeepCopy())
	case *sourcesv1.PingSource:
		return c.ValidateEventing(o.DeepCopy())
	case *sourcesv1.SinkBinding:
		return c.ValidateEventing(o.DeepCopy())
	case *cnpgv1.Cluster:
		return ValidateCluster(o)
	case *cnpgv1.Pooler:
		return ValidatePooler(o)
	case *appsv1.Deployment:
		return checkWorkload(o.Spec.Selector, o.Spec.Template)
	case *appsv1.StatefulSet:
		return checkWorkload(o.Spec.Selector, o.Spec.Template)
	case *appsv1.DaemonSet:
		return checkWorkload(o.Spec.Selector, o.Spec.Template)
	case *batchv1.Job:
		return checkPodSpec(o.Spec.Template.Spec)
	case *policyv1.PodDisruptionBudget:
		return checkPDB(o)
	case *corev1.Service:
		if len(o.Spec.Ports) == 0 {
			return errors.New("spec.ports: required")
		}
		return nil
	case *networkingv1.NetworkPolicy:
		return errors.Join(checkSelector("spec.podSelector", &o.Spec.PodSelector, true), ValidateNetworkPolicy(o))
	case *autoscalingv2.HorizontalPodAutoscaler:
		if o.Spec.MinReplicas != nil && *o.Spec.MinReplicas > o.Spec.MaxReplicas {
			return errors.New("spec.minReplicas above spec.maxReplicas")
		}
		return nil
	case *monitoringv1.PodMonitor:
		if err := checkSelector("spec.selector", &o.Spec.Selector, false); err != nil {
			return err
		}
		for i, ep := range o.Spec.PodMetricsEndpoints {
			if ep.Port == nil || *ep.Port == "" {
				return fmt.Errorf("spec.podMetricsEndpoints[%d].port: required", i)
			}
		}
		return nil
	case *IngressRoute:
		return o.Check()
	case *Middleware:
		return o.Check()
	case *corev1.LimitRange:
		for _, l := range o.Spec.Limits {
			for name, def := range l.Default {
				if req, ok := l.DefaultRequest[name]; ok && req.Cmp(def) > 0 {
					return fmt.Errorf("defaultRequest %s above default", name)
				}
			}
		}
		return nil
	}
	return nil
}

func checkSelector(path string, s *metav1.LabelSelector, allowEmpty bool) error {
	if s == nil || (len(s.MatchLabels) == 0 && len(s.MatchExpressions) == 0) {
		if allowEmpty {
			return nil
		}
		return fmt.Errorf("%s: empty selector would select every pod", path)
	}
	if fe := metavalidation.ValidateLabelSelector(s, metavalidation.LabelSelectorValidationOptions{}, field.NewPath(path)); len(fe) > 0 {
		return fe.ToAggregate()
	}
	return nil
}

func checkWorkload(sel *metav1.LabelSelector, tmpl corev1.PodTemplateSpec) error {
	if err := checkSelector("spec.selector", sel, false); err != nil {
		return err
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return err
	}
	if !s.Matches(labelSet(tmpl.Labels)) {
		return errors.New("spec.selector does not match spec.template.metadata.labels")
	}
	return checkPodSpec(tmpl.Spec)
}

func checkPodSpec(spec corev1.PodSpec) error {
	var errs []error
	if len(spec.Containers) == 0 {
		errs = append(errs, errors.New("no containers"))
	}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range all {
		if c.Image == "" {
			errs = append(errs, fmt.Errorf("container %s: no image", c.Name))
		} else if err := checkImage(c.Image); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", c.Name, err))
		}
		if err := checkResources(c.Resources); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", c.Name, err))
		}
	}
	return errors.Join(errs...)
}

// checkImage wants a pinned version: a digest, or a tag other than latest.
func checkImage(image string) error {
	if strings.Contains(image, "@sha256:") {
		return nil
	}
	slash := strings.LastIndex(image, "/")
	tag := ""
	if i := strings.LastIndex(image[slash+1:], ":"); i >= 0 {
		tag = image[slash+1+i+1:]
	}
	if tag == "" || tag == "latest" {
		return fmt.Errorf("image %q: pin a tag or digest", image)
	}
	return nil
}

// checkResources wants cpu and memory requests and limits, requests not above limits.
func checkResources(r corev1.ResourceRequirements) error {
	var errs []error
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := r.Requests[name]
		lim, okLim := r.Limits[name]
		if !okReq || !okLim {
			errs = append(errs, fmt.Errorf("%s request and limit required", name))
			continue
		}
		if req.Cmp(lim) > 0 {
			errs = append(errs, fmt.Errorf("%s request %s above limit %s", name, req.String(), lim.String()))
		}
	}
	return errors.Join(errs...)
}

func checkPDB(p *policyv1.PodDisruptionBudget) error {
	if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
		return errors.New("set exactly one of spec.minAvailable and spec.maxUnavailable")
	}
	// A percentage minAvailable rounds up: 80% of anything below five pods is all of them,
	// and such a PDB blocks every node drain.
	if m := p.Spec.MinAvailable; m != nil && m.Type == intstr.String {
		return fmt.Errorf("spec.minAvailable %s: a percentage blocks drains of small deployments; use maxUnavailable", m.StrVal)
	}
	return checkSelector("spec.selector", p.Spec.Selector, false)
}

func labelSet(l map[string]string) labels.Set { return labels.Set(l) }

// podSpecOf returns the pod spec of a workload or a Knative Service.
func podSpecOf(d *Doc) (corev1.PodSpec, bool) {
	switch o := d.Obj.(type) {
	case *servingv1.Service:
		return o.Spec.Template.Spec.PodSpec, true
	case *appsv1.Deployment:
		return o.Spec.Template.Spec, true
	case *appsv1.StatefulSet:
		return o.Spec.Template.Spec, true
	case *appsv1.DaemonSet:
		return o.Spec.Template.Spec, true
	case *batchv1.Job:
		return o.Spec.Template.Spec, true
	}
	return corev1.PodSpec{}, false
}

// CheckTrigger pins the delivery of audit events: our type prefix, to the events-writer,
// with retries that outlast a cold start (>= MinRetryBudget) and a dead-letter sink.
func CheckTrigger(tr *eventingv1.Trigger) error {
	var errs []error
	want := eventingv1.SubscriptionsAPIFilter{Prefix: map[string]string{"type": EventTypePrefix}}
	if len(tr.Spec.Filters) != 1 || !reflect.DeepEqual(tr.Spec.Filters[0], want) || tr.Spec.Filter != nil {
		errs = append(errs, fmt.Errorf("filters: want exactly one, prefix type=%s", EventTypePrefix))
	}
	if r := tr.Spec.Subscriber.Ref; r == nil || r.Kind != "Service" || r.APIVersion != "serving.knative.dev/v1" || r.Name != "events-writer" {
		errs = append(errs, errors.New("subscriber: want the events-writer Knative Service"))
	}
	d := tr.Spec.Delivery
	if d == nil || d.DeadLetterSink == nil {
		return errors.Join(append(errs, errors.New("delivery: want retries and a deadLetterSink"))...)
	}
	if d.BackoffPolicy == nil || *d.BackoffPolicy != eventingduckv1.BackoffPolicyExponential {
		errs = append(errs, errors.New("delivery.backoffPolicy: want exponential"))
	}
	total, err := RetryBudget(d)
	switch {
	case err != nil:
		errs = append(errs, err)
	case total < MinRetryBudget:
		errs = append(errs, fmt.Errorf("delivery: retries give up after %s, want at least %s to outlast a cold start", total, MinRetryBudget))
	}
	return errors.Join(errs...)
}

// EventTypePrefix is the reverse-DNS prefix of the project's CloudEvent types.
const EventTypePrefix = "dev.urlshort."

// MinRetryBudget is how long a scaled-to-zero events-writer may take to come back (pod
// scheduling, image pull on a new node, PgBouncer connect) plus margin.
const MinRetryBudget = 60 * time.Second
