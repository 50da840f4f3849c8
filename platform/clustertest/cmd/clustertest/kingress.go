package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kingressGVR is Knative's internal Ingress, which the route controller writes and an ingress
// implementation (net-kourier in the platform) fulfils.
var kingressGVR = schema.GroupVersionResource{Group: "networking.internal.knative.dev", Version: "v1alpha1", Resource: "ingresses"}

// kourierStandIn is a STAND-IN for net-kourier's ingress controller, which is not on the Go
// module proxy. It does only the status half of that controller's work: for every KIngress
// of config-network's ingress class it marks the network configured and the load balancer
// ready, pointing (as net-kourier does, config.ServiceHostnames) to the Services kourier
// (public) and kourier-internal (cluster-local) of kourier-system, once those exist. It
// programs no Envoy and probes nothing: no request goes through an ingress in this test, so a
// Ready Route here proves Knative's side of routing (the KIngress it asks for, its visibility,
// its URL), not that traffic arrives.
type kourierStandIn struct {
	cp *controlPlane
	a  *applier

	mu     sync.Mutex
	marked map[string]int64 // namespace/name -> generation marked Ready
}

const kourierNamespace = "kourier-system"

// run reconciles until ctx ends.
func (k *kourierStandIn) run(ctx context.Context) {
	k.marked = map[string]int64{}
	for {
		k.reconcile(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (k *kourierStandIn) reconcile(ctx context.Context) {
	cm, err := k.cp.kube.CoreV1().ConfigMaps("knative-serving").Get(ctx, "config-network", metav1.GetOptions{})
	if err != nil {
		return
	}
	class := cm.Data["ingress-class"]
	for _, svc := range []string{"kourier", "kourier-internal"} {
		if _, err := k.cp.kube.CoreV1().Services(kourierNamespace).Get(ctx, svc, metav1.GetOptions{}); err != nil {
			return
		}
	}
	list, err := k.a.dyn.Resource(kingressGVR).Namespace("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.Items {
		ing := &list.Items[i]
		if ing.GetAnnotations()["networking.knative.dev/ingress.class"] != class || ing.GetDeletionTimestamp() != nil {
			continue
		}
		if observed(ing) && condTrue(ing, "Ready") && k.expectedLoadBalancers(ing) {
			continue
		}
		if err := k.markReady(ctx, ing); err != nil {
			logf("KIngress stand-in: %s/%s: %v", ing.GetNamespace(), ing.GetName(), err)
			continue
		}
		k.mu.Lock()
		first := k.marked[ing.GetNamespace()+"/"+ing.GetName()] == 0
		k.marked[ing.GetNamespace()+"/"+ing.GetName()] = ing.GetGeneration()
		k.mu.Unlock()
		if first {
			logf("KIngress stand-in (not net-kourier): %s/%s marked Ready, load balancers %s / %s (nothing routed)",
				ing.GetNamespace(), ing.GetName(), publicLB, privateLB)
		}
	}
}

// The Services' cluster DNS names, as net-kourier reports them.
var (
	publicLB  = "kourier." + kourierNamespace + ".svc.cluster.local"
	privateLB = "kourier-internal." + kourierNamespace + ".svc.cluster.local"
)

func (k *kourierStandIn) expectedLoadBalancers(ing *unstructured.Unstructured) bool {
	first := func(field string) string {
		l, _, _ := unstructured.NestedSlice(ing.Object, "status", field, "ingress")
		if len(l) == 0 {
			return ""
		}
		m, _ := l[0].(map[string]any)
		s, _ := m["domainInternal"].(string)
		return s
	}
	return first("publicLoadBalancer") == publicLB && first("privateLoadBalancer") == privateLB
}

// markReady writes the status knative.dev/networking's IngressStatus helpers give after
// MarkNetworkConfigured and MarkLoadBalancerReady: both conditions True, hence Ready, at the
// object's generation.
func (k *kourierStandIn) markReady(ctx context.Context, ing *unstructured.Unstructured) error {
	now := time.Now().UTC().Format(time.RFC3339)
	conds := []any{}
	for _, t := range []string{"LoadBalancerReady", "NetworkConfigured", "Ready"} {
		conds = append(conds, map[string]any{"type": t, "status": "True", "lastTransitionTime": now})
	}
	u := ing.DeepCopy()
	status := map[string]any{
		"observedGeneration":  ing.GetGeneration(),
		"conditions":          conds,
		"publicLoadBalancer":  map[string]any{"ingress": []any{map[string]any{"domainInternal": publicLB}}},
		"privateLoadBalancer": map[string]any{"ingress": []any{map[string]any{"domainInternal": privateLB}}},
	}
	if err := unstructured.SetNestedField(u.Object, status, "status"); err != nil {
		return err
	}
	_, err := k.a.dyn.Resource(kingressGVR).Namespace(u.GetNamespace()).UpdateStatus(ctx, u, metav1.UpdateOptions{FieldManager: "clustertest-kingress-stand-in"})
	if err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	return nil
}

// count is how many KIngresses it marked Ready.
func (k *kourierStandIn) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.marked)
}
