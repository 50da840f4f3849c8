package check

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"testing"

	"github.com/urlshort/shortener/shared/routing"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Ports of Kourier's gateway that no Service names, from the pinned net-kourier release:
// pkg/reconciler/ingress/config (HTTPPortProb, HTTPSPortLocal) and the stats listener of
// config/200-bootstrap.yaml. The Services' ports are read from the built manifests.
const (
	gatewayProbePort      = 8090  // the net-kourier prober's copy of the external listener
	gatewayLocalTLSPort   = 8444  // cluster-local HTTPS, only with TLS for cluster-local
	gatewayProbeTLSPort   = 9443  // the prober's TLS listener, likewise
	gatewayStatsPort      = 9000  // Envoy's stats, and POST /drain_listeners
	kourierControllerXDS  = 18000 // the net-kourier controller's xDS port, which the gateway dials
	kourierGatewayNS      = "kourier-system"
	kourierControllerNS   = "knative-serving"
	kourierGatewayDeploy  = "3scale-kourier-gateway"
	kourierControllerName = "net-kourier-controller"
)

// gatewaySources are the clients the Kourier expectations name: the function tests' and
// the net-kourier controller, which probes every gateway pod.
func gatewaySources() map[string]Source {
	out := map[string]Source{
		"net-kourier-controller": {Namespace: kourierControllerNS, Labels: map[string]string{"app": kourierControllerName}},
	}
	maps.Copy(out, Sources)
	return out
}

// gateway is what the tests know of Kourier's gateway pods, read from the built manifests.
type gateway struct {
	labels   map[string]string
	external int32                  // targetPort of kourier:80, where Traefik sends
	tls      int32                  // targetPort of kourier:443, unused: TLS ends at Traefik
	internal int32                  // targetPort of kourier-internal:80, the cluster-local listener
	ports    []corev1.ContainerPort // as the release lists them (the offline stand-in lists none)
}

func kourierGateway(t *testing.T) gateway {
	t.Helper()
	docs := builds(t)["platform/kourier"]
	d := findDoc(t, docs, "Deployment", kourierGatewayDeploy)
	tmpl := d.Obj.(*appsv1.Deployment).Spec.Template
	gw := gateway{labels: tmpl.Labels}
	for _, c := range tmpl.Spec.Containers {
		gw.ports = append(gw.ports, c.Ports...)
	}
	kourier := findDoc(t, docs, "Service", "kourier").Obj.(*corev1.Service)
	gw.external = targetPort(t, kourier, 80, gw.ports)
	gw.tls = targetPort(t, kourier, 443, gw.ports)
	gw.internal = targetPort(t, findDoc(t, docs, "Service", "kourier-internal").Obj.(*corev1.Service), 80, gw.ports)
	return gw
}

// targetPort is the pod port a Service's port leads to: what kube-router's rules see.
func targetPort(t *testing.T, svc *corev1.Service, port int32, pod []corev1.ContainerPort) int32 {
	t.Helper()
	for _, p := range svc.Spec.Ports {
		if p.Port != port {
			continue
		}
		switch {
		case p.TargetPort.Type == intstr.String:
			for _, cp := range pod {
				if cp.Name == p.TargetPort.StrVal {
					return cp.ContainerPort
				}
			}
			t.Fatalf("Service %s: targetPort %s names no container port", svc.Name, p.TargetPort.StrVal)
		case p.TargetPort.IntVal == 0:
			return p.Port
		default:
			return p.TargetPort.IntVal
		}
	}
	t.Fatalf("Service %s has no port %d", svc.Name, port)
	return 0
}

// allNetworkPolicies returns every NetworkPolicy the platform builds, in every namespace.
func allNetworkPolicies(t *testing.T) []*networkingv1.NetworkPolicy {
	t.Helper()
	var out []*networkingv1.NetworkPolicy
	dirs := make([]string, 0, len(builds(t)))
	for dir := range builds(t) {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		for _, d := range builds(t)[dir] {
			if _, ok := d.Obj.(*networkingv1.NetworkPolicy); ok {
				out = append(out, clone(t, d).Obj.(*networkingv1.NetworkPolicy))
			}
		}
	}
	return out
}

// gatewayReach is one expectation: whether From may open a TCP connection to Port of a
// gateway pod (What names the listener, for the message).
type gatewayReach struct {
	From  string
	What  string
	Port  int32
	Allow bool
}

// gatewayExpectations: Traefik on the external listener only; knative-eventing (the Broker
// filter, the PingSource adapter) on the cluster-local listener only; the net-kourier
// controller on the listeners it probes; nobody on the TLS listeners (unused) or Envoy's stats;
// and another namespace, the functions' own and Prometheus nowhere.
func gatewayExpectations(gw gateway) []gatewayReach {
	listeners := []struct {
		what string
		port int32
	}{
		{"external", gw.external}, {"external TLS", gw.tls}, {"cluster-local", gw.internal}, {"probe", gatewayProbePort},
		{"cluster-local TLS", gatewayLocalTLSPort}, {"probe TLS", gatewayProbeTLSPort}, {"stats", gatewayStatsPort},
	}
	allowed := map[string]map[string]bool{
		"traefik":                {"external": true},
		"broker-filter":          {"cluster-local": true},
		"pingsource-adapter":     {"cluster-local": true},
		"net-kourier-controller": {"cluster-local": true, "probe": true},
	}
	var out []gatewayReach
	for _, from := range []string{"traefik", "broker-filter", "pingsource-adapter", "net-kourier-controller", "stranger", "neighbour", "prometheus"} {
		for _, l := range listeners {
			out = append(out, gatewayReach{from, l.what, l.port, allowed[from][l.what]})
		}
	}
	return out
}

// checkGatewayReachability evaluates the policies for a gateway pod against the
// expectations, and wants the gateway still able to reach the net-kourier controller's xDS
// port (its routes come from there) and the functions' queue-proxy (it forwards there).
func checkGatewayReachability(policies []*networkingv1.NetworkPolicy, gw gateway, fns map[string]map[string]string) error {
	var errs []error
	srcs := gatewaySources()
	for _, want := range gatewayExpectations(gw) {
		src := srcs[want.From]
		got, err := IngressAllowed(policies, src, kourierGatewayNS, gw.labels, corev1.ProtocolTCP, want.Port)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got != want.Allow {
			verb := "cannot"
			if got {
				verb = "can"
			}
			errs = append(errs, fmt.Errorf("%s (%s) %s reach the gateway's %s listener (port %d)", want.From, src.Namespace, verb, want.What, want.Port))
		}
	}
	gwSrc := Source{Namespace: kourierGatewayNS, Labels: gw.labels}
	ctrl := srcs["net-kourier-controller"].Labels
	if ok, err := IngressAllowed(policies, gwSrc, kourierControllerNS, ctrl, corev1.ProtocolTCP, kourierControllerXDS); err != nil || !ok {
		errs = append(errs, fmt.Errorf("the gateway cannot reach the net-kourier controller's xDS port %d (%v)", kourierControllerXDS, err))
	}
	for fn, pod := range fns {
		if ok, err := IngressAllowed(policies, gwSrc, AppNamespace, pod, corev1.ProtocolTCP, QueueHTTPPort); err != nil || !ok {
			errs = append(errs, fmt.Errorf("the gateway cannot reach %s's queue-proxy (%v)", fn, err))
		}
	}
	return errors.Join(errs...)
}

// requestPaths decides whether a source can get a request into a function's queue-proxy:
// directly, or through a gateway listener that routes to it (the cluster-local listener
// serves every Knative Service, the external and probe listeners only public ones) and then
// the gateway's own connection. The activator's path is not modelled: see platform/README.md.
func requestPaths(policies []*networkingv1.NetworkPolicy, gw gateway, src Source, pod map[string]string, public bool) (bool, error) {
	allowed := func(ns string, labels map[string]string, from Source, port int32) (bool, error) {
		return IngressAllowed(policies, from, ns, labels, corev1.ProtocolTCP, port)
	}
	for _, p := range []int32{QueueHTTPPort, QueueH2CPort} {
		if ok, err := allowed(AppNamespace, pod, src, p); err != nil || ok {
			return ok, err
		}
	}
	listeners := []int32{gw.internal}
	if public {
		listeners = append(listeners, gw.external, gatewayProbePort)
	}
	gwSrc := Source{Namespace: kourierGatewayNS, Labels: gw.labels}
	for _, l := range listeners {
		in, err := allowed(kourierGatewayNS, gw.labels, src, l)
		if err != nil {
			return false, err
		}
		out, err := allowed(AppNamespace, pod, gwSrc, QueueHTTPPort)
		if err != nil {
			return false, err
		}
		if in && out {
			return true, nil
		}
	}
	return false, nil
}

// checkRequestPaths: only Knative's own namespaces get a request into the events-writer
// (its Broker and PingSource through kourier-internal, Serving's prober and activator), and
// into a public function only those and Traefik. Everyone else, the shortener namespace
// included, is refused on every path.
func checkRequestPaths(policies []*networkingv1.NetworkPolicy, gw gateway, fns map[string]map[string]string) error {
	knative := map[string]bool{kourierGatewayNS: true, "knative-serving": true, "knative-eventing": true}
	var errs []error
	srcs := gatewaySources()
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for fn, pod := range fns {
		public := slices.Contains(routing.Public, fn)
		for _, name := range names {
			src := srcs[name]
			got, err := requestPaths(policies, gw, src, pod, public)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			want := knative[src.Namespace] || (public && name == "traefik")
			if got != want {
				verb := "cannot"
				if got {
					verb = "can"
				}
				errs = append(errs, fmt.Errorf("%s (%s) %s get a request to %s", name, src.Namespace, verb, fn))
			}
		}
	}
	return errors.Join(errs...)
}

// TestKourierNetworkPolicies: the gateway's policies are what the API server accepts, use
// numeric pod ports with a protocol, and together with the shortener namespace's let in
// exactly the callers each listener serves (platform/kourier/networkpolicies.yaml).
func TestKourierNetworkPolicies(t *testing.T) {
	gw := kourierGateway(t)
	policies := allNetworkPolicies(t)
	n := 0
	for _, np := range policies {
		if np.Namespace == kourierGatewayNS {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no NetworkPolicy in kourier-system: any pod reaches kourier-internal, and through it the events-writer")
	}
	if err := checkGatewayReachability(policies, gw, functionPods(t)); err != nil {
		t.Error(err)
	}
	if err := checkRequestPaths(policies, gw, functionPods(t)); err != nil {
		t.Error(err)
	}
	// A listener a release adds is closed by these policies; its port must have a decision.
	known := map[int32]bool{}
	for _, r := range gatewayExpectations(gw) {
		known[r.Port] = true
	}
	for _, p := range gw.ports {
		if !known[p.ContainerPort] {
			t.Errorf("gateway port %s (%d) has no expectation in gatewayExpectations", p.Name, p.ContainerPort)
		}
	}
}

// TestNegativeKourierNetworkPolicies: policies that open the cluster-local listener, let the
// wrong namespace in, name the Service's port instead of the pod's, or shut out Traefik,
// Knative's prober or the xDS connection must fail.
func TestNegativeKourierNetworkPolicies(t *testing.T) {
	type edit func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy
	internal := func(t *testing.T, nps []*networkingv1.NetworkPolicy) *networkingv1.NetworkPolicy {
		return byName(t, nps, "gateway-internal-from-knative-eventing")
	}
	cases := map[string]edit{
		"NoGatewayPolicies": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			var out []*networkingv1.NetworkPolicy
			for _, np := range nps {
				if np.Namespace != kourierGatewayNS {
					out = append(out, np)
				}
			}
			return out
		},
		"InternalFromEveryNamespace": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			internal(t, nps).Spec.Ingress[0].From[0].NamespaceSelector = &metav1.LabelSelector{}
			return nps
		},
		"InternalFromAnyone": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			internal(t, nps).Spec.Ingress[0].From = nil
			return nps
		},
		"InternalFromShortener": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			np := internal(t, nps)
			np.Spec.Ingress[0].From = append(np.Spec.Ingress[0].From, networkingv1.NetworkPolicyPeer{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": AppNamespace}}})
			return nps
		},
		"ServicePortNotPodPort": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			internal(t, nps).Spec.Ingress[0].Ports[0].Port = ptr(intstr.FromInt32(80))
			return nps
		},
		"WrongGatewayLabel": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			internal(t, nps).Spec.PodSelector.MatchLabels = map[string]string{"app": "kourier-gateway"}
			return nps
		},
		"TraefikShutOut": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return without(nps, "gateway-external-from-traefik")
		},
		"ExternalFromAnyone": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			byName(t, nps, "gateway-external-from-traefik").Spec.Ingress[0].From = nil
			return nps
		},
		"TraefikOnInternal": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			np := byName(t, nps, "gateway-external-from-traefik")
			np.Spec.Ingress[0].Ports = append(np.Spec.Ingress[0].Ports, networkingv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(8081))})
			return nps
		},
		"StatsOpen": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			np := byName(t, nps, "gateway-probes-from-knative-serving")
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(gatewayStatsPort))}}})
			return nps
		},
		"ProberShutOut": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return without(nps, "gateway-probes-from-knative-serving")
		},
		"BrokerShutOut": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return without(nps, "gateway-internal-from-knative-eventing")
		},
		"ControllerIsolated": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return append(nps, &networkingv1.NetworkPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: "deny-all", Namespace: kourierControllerNS},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				},
			})
		},
		"EventsWriterFromAnyone": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			byName(t, nps, "events-writer-from-kourier-internal").Spec.Ingress[0].From = nil
			return nps
		},
	}
	gw, fns := kourierGateway(t), functionPods(t)
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			nps := breakIt(t, allNetworkPolicies(t))
			err := errors.Join(checkGatewayReachability(nps, gw, fns), checkRequestPaths(nps, gw, fns))
			if err == nil {
				t.Fatal("the broken policies were accepted")
			}
			t.Logf("rejected: %v", firstLine(err))
		})
	}
}
