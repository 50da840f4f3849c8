package check

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"knative.dev/eventing/pkg/kncloudevents"
	duckv1 "knative.dev/pkg/apis/duck/v1"
	"knative.dev/serving/pkg/apis/serving"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// pod is what a workload will run: its namespace, labels and the Secrets it reads.
type pod struct {
	owner      string
	namespace  string
	labels     map[string]string
	secrets    []string
	configMaps []string // name/key of each configMapKeyRef
}

// pods lists the pods the objects will create, including those an operator makes (the
// labels CloudNativePG and Knative put on theirs).
func pods(docs []*Doc) []pod {
	var out []pod
	add := func(d *Doc, l map[string]string, spec *corev1.PodSpec) {
		p := pod{owner: d.String(), namespace: d.Namespace(), labels: l}
		if spec != nil {
			p.secrets = podSecrets(*spec)
			p.configMaps = podConfigMapKeys(*spec)
		}
		out = append(out, p)
	}
	for _, d := range docs {
		switch o := d.Obj.(type) {
		case *appsv1.Deployment:
			add(d, o.Spec.Template.Labels, &o.Spec.Template.Spec)
		case *appsv1.StatefulSet:
			add(d, o.Spec.Template.Labels, &o.Spec.Template.Spec)
		case *appsv1.DaemonSet:
			add(d, o.Spec.Template.Labels, &o.Spec.Template.Spec)
		case *servingv1.Service:
			l := map[string]string{serving.ServiceLabelKey: o.Name}
			for k, v := range o.Spec.Template.Labels {
				l[k] = v
			}
			add(d, l, &o.Spec.Template.Spec.PodSpec)
		case *cnpgv1.Cluster:
			add(d, map[string]string{"cnpg.io/cluster": o.Name, "cnpg.io/podRole": "instance"}, nil)
		case *cnpgv1.Pooler:
			l := map[string]string{"cnpg.io/poolerName": o.Name, "cnpg.io/cluster": o.Spec.Cluster.Name}
			if o.Spec.Template != nil {
				for k, v := range o.Spec.Template.ObjectMeta.Labels {
					l[k] = v
				}
			}
			add(d, l, nil)
		}
	}
	return out
}

func podSecrets(spec corev1.PodSpec) []string {
	var s []string
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				s = append(s, e.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				s = append(s, e.SecretRef.Name)
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			s = append(s, v.Secret.SecretName)
		}
	}
	return s
}

// podConfigMapKeys lists the name/key of every configMapKeyRef of the pod's containers.
func podConfigMapKeys(spec corev1.PodSpec) []string {
	var s []string
	for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil && (e.ValueFrom.ConfigMapKeyRef.Optional == nil || !*e.ValueFrom.ConfigMapKeyRef.Optional) {
				s = append(s, e.ValueFrom.ConfigMapKeyRef.Name+"/"+e.ValueFrom.ConfigMapKeyRef.Key)
			}
		}
	}
	return s
}

// AppNamespace is the namespace whose Secrets we create (or CloudNativePG does for us).
const AppNamespace = "shortener"

// CrossCheck checks what no single object can: that selectors select something, references
// resolve and Secrets exist. external lists Secrets made outside these manifests (by an
// operator or install.sh), by namespace/name.
func CrossCheck(docs []*Doc, external map[string]bool) error {
	var errs []error
	all := pods(docs)
	selects := func(ns string, sel *metav1.LabelSelector) bool {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			return false
		}
		for _, p := range all {
			if p.namespace == ns && s.Matches(labels.Set(p.labels)) {
				return true
			}
		}
		return false
	}
	exists := map[string]bool{} // kind/namespace/name
	cmKeys := map[string]bool{} // namespace/name/key of every ConfigMap's data
	for _, d := range docs {
		exists[d.GVK.Kind+"/"+d.Namespace()+"/"+d.Name()] = true
		if cm, ok := d.Obj.(*corev1.ConfigMap); ok {
			for k := range cm.Data {
				cmKeys[d.Namespace()+"/"+d.Name()+"/"+k] = true
			}
		}
	}
	ref := func(d *Doc, what string, r *duckv1.KReference, ns string) {
		if r == nil {
			return
		}
		if r.Namespace != "" {
			ns = r.Namespace
		}
		if !exists[r.Kind+"/"+ns+"/"+r.Name] {
			errs = append(errs, fmt.Errorf("%s: %s %s %s/%s does not exist", d, what, r.Kind, ns, r.Name))
		}
	}
	dest := func(d *Doc, what string, dst *duckv1.Destination) {
		if dst != nil {
			ref(d, what, dst.Ref, d.Namespace())
		}
	}
	for _, d := range docs {
		ns := d.Namespace()
		switch o := d.Obj.(type) {
		case *policyv1.PodDisruptionBudget:
			if !selects(ns, o.Spec.Selector) {
				errs = append(errs, fmt.Errorf("%s: selector matches no pod", d))
			}
		case *networkingv1.NetworkPolicy:
			if !selects(ns, &o.Spec.PodSelector) {
				errs = append(errs, fmt.Errorf("%s: podSelector matches no pod", d))
			}
		case *monitoringv1.PodMonitor:
			if !selects(ns, &o.Spec.Selector) {
				errs = append(errs, fmt.Errorf("%s: selector matches no pod", d))
			}
		case *corev1.Service:
			if len(o.Spec.Selector) > 0 && !selects(ns, &metav1.LabelSelector{MatchLabels: o.Spec.Selector}) {
				errs = append(errs, fmt.Errorf("%s: selector matches no pod", d))
			}
		case *appsv1.StatefulSet:
			if o.Spec.ServiceName != "" && !exists["Service/"+ns+"/"+o.Spec.ServiceName] {
				errs = append(errs, fmt.Errorf("%s: serviceName %s does not exist", d, o.Spec.ServiceName))
			}
		case *cnpgv1.Pooler:
			if !exists["Cluster/"+ns+"/"+o.Spec.Cluster.Name] {
				errs = append(errs, fmt.Errorf("%s: cluster %s does not exist", d, o.Spec.Cluster.Name))
			}
		case *eventingv1.Trigger:
			if !exists["Broker/"+ns+"/"+o.Spec.Broker] {
				errs = append(errs, fmt.Errorf("%s: broker %s does not exist", d, o.Spec.Broker))
			}
			dest(d, "subscriber", &o.Spec.Subscriber)
			if o.Spec.Delivery != nil {
				dest(d, "deadLetterSink", o.Spec.Delivery.DeadLetterSink)
			}
		case *eventingv1.Broker:
			if o.Spec.Delivery != nil {
				dest(d, "deadLetterSink", o.Spec.Delivery.DeadLetterSink)
			}
		case *sourcesv1.PingSource:
			dest(d, "sink", &o.Spec.Sink)
		case *sourcesv1.SinkBinding:
			dest(d, "sink", &o.Spec.Sink)
			if o.Spec.Subject.Selector == nil && o.Spec.Subject.Name == "" {
				errs = append(errs, fmt.Errorf("%s: subject needs a name or a selector", d))
			}
		}
	}
	for _, p := range all {
		if p.namespace != AppNamespace {
			continue // upstream components' controllers create their own Secrets
		}
		for _, s := range p.secrets {
			key := p.namespace + "/" + s
			if !exists["Secret/"+key] && !external[key] {
				errs = append(errs, fmt.Errorf("%s: reads Secret %s, which nothing creates", p.owner, key))
			}
		}
		for _, ref := range p.configMaps {
			// A pod whose configMapKeyRef misses does not start (CreateContainerConfigError).
			if !cmKeys[p.namespace+"/"+ref] {
				errs = append(errs, fmt.Errorf("%s: reads ConfigMap key %s/%s, which no ConfigMap has", p.owner, p.namespace, ref))
			}
		}
	}
	return errors.Join(errs...)
}

// SinkBindingSubjects returns the names of the Knative Services a SinkBinding selects.
func SinkBindingSubjects(sb *sourcesv1.SinkBinding, docs []*Doc) ([]string, error) {
	if sb.Spec.Subject.Selector == nil {
		return []string{sb.Spec.Subject.Name}, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(sb.Spec.Subject.Selector)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range docs {
		if s, ok := d.Obj.(*servingv1.Service); ok && d.Namespace() == sb.Namespace &&
			sb.Spec.Subject.Kind == "Service" && sb.Spec.Subject.APIVersion == "serving.knative.dev/v1" &&
			sel.Matches(labels.Set(s.Labels)) {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// RetryBudget is how long Knative's dispatcher keeps retrying a delivery before it gives up
// (and dead-letters the event), computed with the dispatcher's own backoff function.
func RetryBudget(spec *eventingduckv1.DeliverySpec) (time.Duration, error) {
	if spec == nil || spec.Retry == nil {
		return 0, nil
	}
	rc, err := kncloudevents.RetryConfigFromDeliverySpec(*spec)
	if err != nil {
		return 0, err
	}
	if rc.Backoff == nil {
		return 0, errors.New("no backoff policy")
	}
	var total time.Duration
	// go-retryablehttp numbers the waits 0..RetryMax-1.
	for i := 0; i < rc.RetryMax; i++ {
		total += rc.Backoff(i, nil)
	}
	return total, nil
}

// Budget is the connection arithmetic of README "Connections".
type Budget struct {
	ClientConnsRW, ClientConnsRO int // sum over functions of max-scale x DB_MAX_CONNS
	PoolerClientCapRW            int // rw pooler instances x max_client_conn
	PoolerClientCapRO            int
	ServerConnsPrimary           int // rw pooler instances x (default_pool_size + reserve_pool_size)
	ServerConnsPerReplica        int // ro pooler: instances x (pool + reserve), worst case on one replica
	MaxConnections               int
}

// Headroom is what max_connections keeps beyond the poolers' server connections: superuser
// reserve, CloudNativePG's own and monitoring connections, a psql session or two.
const Headroom = 20

// Check reports a budget that does not fit.
func (b Budget) Check() error {
	var errs []error
	if b.ClientConnsRW > b.PoolerClientCapRW {
		errs = append(errs, fmt.Errorf("rw: functions may open %d connections, the rw pooler accepts %d", b.ClientConnsRW, b.PoolerClientCapRW))
	}
	if b.ClientConnsRO > b.PoolerClientCapRO {
		errs = append(errs, fmt.Errorf("ro: functions may open %d connections, the ro pooler accepts %d", b.ClientConnsRO, b.PoolerClientCapRO))
	}
	if b.ServerConnsPrimary+Headroom > b.MaxConnections {
		errs = append(errs, fmt.Errorf("primary: poolers open up to %d server connections, max_connections %d leaves less than %d spare", b.ServerConnsPrimary, b.MaxConnections, Headroom))
	}
	if b.ServerConnsPerReplica+Headroom > b.MaxConnections {
		errs = append(errs, fmt.Errorf("replica: the ro pooler may open %d server connections on one replica, max_connections %d", b.ServerConnsPerReplica, b.MaxConnections))
	}
	return errors.Join(errs...)
}

// PoolerCapacity returns instances x max_client_conn and instances x (pool + reserve).
func PoolerCapacity(p *cnpgv1.Pooler) (clients, servers int, err error) {
	n := 1
	if p.Spec.Instances != nil {
		n = int(*p.Spec.Instances)
	}
	get := func(k string, def int) (int, error) {
		v, ok := p.Spec.PgBouncer.Parameters[k]
		if !ok {
			return def, nil
		}
		return strconv.Atoi(v)
	}
	// PgBouncer's defaults: max_client_conn 100, default_pool_size 20, reserve_pool_size 0.
	maxClient, err1 := get("max_client_conn", 100)
	pool, err2 := get("default_pool_size", 20)
	reserve, err3 := get("reserve_pool_size", 0)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, 0, err
	}
	return n * maxClient, n * (pool + reserve), nil
}

// MaxConnections reads max_connections from a Cluster (PostgreSQL's default is 100).
func MaxConnections(c *cnpgv1.Cluster) (int, error) {
	v, ok := c.Spec.PostgresConfiguration.Parameters["max_connections"]
	if !ok {
		return 100, nil
	}
	return strconv.Atoi(strings.TrimSpace(v))
}
