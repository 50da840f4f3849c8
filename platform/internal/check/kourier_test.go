package check

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/urlshort/shortener/shared/routing"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	netcfg "knative.dev/networking/pkg/config"
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
	activatorMetricsPort  = 9090  // the activator's metrics (container port "metrics")
	activatorProfilePort  = 8008  // and its profiling server ("profiling")
	kourierGatewayNS      = "kourier-system"
	kourierControllerNS   = "knative-serving"
	kourierGatewayDeploy  = "3scale-kourier-gateway"
	kourierControllerName = "net-kourier-controller"
	activatorNS           = "knative-serving"
	activatorService      = "activator-service"
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

// activator is what the tests know of Knative's activator pods: their labels from the built
// manifests, and their ports and Service from the built release when install.sh has
// downloaded it, else from the module's own config (the offline stand-in lists neither).
type activator struct {
	labels map[string]string
	http   int32                  // targetPort of activator-service:80, HTTP/1 requests
	h2c    int32                  // targetPort of :81, h2c requests
	tls    int32                  // targetPort of :443, served only with system-internal-tls
	ports  []corev1.ContainerPort // the container's, metrics and profiling among them
}

func knativeActivator(t *testing.T) activator {
	t.Helper()
	docs := builds(t)["platform/knative-serving"]
	d := findDoc(t, docs, "Deployment", "activator").Obj.(*appsv1.Deployment)
	act := activator{labels: d.Spec.Template.Labels}
	for _, c := range d.Spec.Template.Spec.Containers {
		act.ports = append(act.ports, c.Ports...)
	}
	svc := findService(docs, activatorService)
	if len(act.ports) == 0 || svc == nil {
		dir, err := ModuleDir("knative.dev/serving")
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "config", "core", "deployments", "activator.yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		release, err := DecodeAll(path, data)
		if err != nil {
			t.Fatal(err)
		}
		if len(act.ports) == 0 {
			for _, c := range findDoc(t, release, "Deployment", "activator").Obj.(*appsv1.Deployment).Spec.Template.Spec.Containers {
				act.ports = append(act.ports, c.Ports...)
			}
		}
		if svc == nil {
			svc = findService(release, activatorService)
		}
	}
	if svc == nil {
		t.Fatalf("no Service %s in the build nor in knative.dev/serving", activatorService)
	}
	act.http = targetPort(t, svc, 80, act.ports)
	act.h2c = targetPort(t, svc, 81, act.ports)
	act.tls = targetPort(t, svc, 443, act.ports)
	return act
}

func findService(docs []*Doc, name string) *corev1.Service {
	for _, d := range docs {
		if svc, ok := d.Obj.(*corev1.Service); ok && d.Name() == name {
			return svc
		}
	}
	return nil
}

// requestPorts are the activator's ports that take requests to forward. The TLS one counts
// although nothing listens there with system-internal-tls off: a policy opening it is wrong
// the day it is turned on.
func (a activator) requestPorts() []int32 { return []int32{a.http, a.h2c, a.tls} }

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

// listener is a port of a pod, with what it serves (for messages).
type listener struct {
	what string
	port int32
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
	listeners := []listener{
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
	srcs := gatewaySources()
	errs := checkReaches(policies, gatewayExpectations(gw), srcs, kourierGatewayNS, gw.labels, "the gateway's %s listener (port %d)")
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

// activatorExpectations: Kourier's gateway (scale from zero, buffering) and the autoscaler
// (its probe before scaling to zero) on the request ports; nobody on the TLS port (unused),
// the metrics or the profiling port; and nobody else anywhere.
func activatorExpectations(act activator) []gatewayReach {
	ports := []listener{
		{"HTTP/1", act.http}, {"h2c", act.h2c}, {"TLS", act.tls},
		{"metrics", activatorMetricsPort}, {"profiling", activatorProfilePort},
	}
	allowed := map[string]map[string]bool{
		"kourier-gateway": {"HTTP/1": true, "h2c": true},
		"autoscaler":      {"HTTP/1": true, "h2c": true},
	}
	var out []gatewayReach
	for _, from := range []string{"kourier-gateway", "autoscaler", "broker-filter", "pingsource-adapter", "traefik", "prometheus", "stranger", "neighbour"} {
		for _, p := range ports {
			out = append(out, gatewayReach{from, p.what, p.port, allowed[from][p.what]})
		}
	}
	return out
}

// checkActivatorReachability evaluates the policies for an activator pod against the
// expectations.
func checkActivatorReachability(policies []*networkingv1.NetworkPolicy, act activator) error {
	return errors.Join(checkReaches(policies, activatorExpectations(act), Sources, activatorNS, act.labels, "the activator's %s port %d")...)
}

// checkReaches evaluates the policies for each expectation's source against pods with
// labels in ns; target names the port for a message ("… %s … %d": its name and number).
func checkReaches(policies []*networkingv1.NetworkPolicy, wants []gatewayReach, srcs map[string]Source, ns string, labels map[string]string, target string) []error {
	var errs []error
	for _, want := range wants {
		src := srcs[want.From]
		got, err := IngressAllowed(policies, src, ns, labels, corev1.ProtocolTCP, want.Port)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if got != want.Allow {
			verb := "cannot"
			if got {
				verb = "can"
			}
			errs = append(errs, fmt.Errorf("%s (%s) %s reach "+target, want.From, src.Namespace, verb, want.What, want.Port))
		}
	}
	return errs
}

// requestPaths lists the ways a source can get a request into a function's queue-proxy:
// "direct"; through the "activator", which forwards to whichever revision the request's
// Knative-Serving-* headers name; or through a gateway listener that routes to the
// function (the cluster-local listener serves every Knative Service, the external and probe
// listeners only public ones) and then the gateway's own connection, to the pod or, while
// the revision is scaled to zero or buffered, to the activator ("kourier cluster-local,
// activator").
func requestPaths(policies []*networkingv1.NetworkPolicy, gw gateway, act activator, src Source, pod map[string]string, public bool) ([]string, error) {
	var errs []error
	open := func(from Source, ns string, labels map[string]string, ports ...int32) bool {
		for _, p := range ports {
			ok, err := IngressAllowed(policies, from, ns, labels, corev1.ProtocolTCP, p)
			if err != nil {
				errs = append(errs, err)
				return false
			}
			if ok {
				return true
			}
		}
		return false
	}
	intoPod := func(from Source) bool { return open(from, AppNamespace, pod, QueueHTTPPort, QueueH2CPort) }
	actSrc := Source{Namespace: activatorNS, Labels: act.labels}
	viaActivator := func(from Source) bool {
		return open(from, activatorNS, act.labels, act.requestPorts()...) && intoPod(actSrc)
	}
	var paths []string
	if intoPod(src) {
		paths = append(paths, "direct")
	}
	if viaActivator(src) {
		paths = append(paths, "activator")
	}
	listeners := []listener{{"cluster-local", gw.internal}}
	if public {
		listeners = append(listeners, listener{"external", gw.external}, listener{"probe", gatewayProbePort})
	}
	gwSrc := Source{Namespace: kourierGatewayNS, Labels: gw.labels}
	for _, l := range listeners {
		if !open(src, kourierGatewayNS, gw.labels, l.port) {
			continue
		}
		if intoPod(gwSrc) {
			paths = append(paths, "kourier "+l.what)
		}
		if viaActivator(gwSrc) {
			paths = append(paths, "kourier "+l.what+", activator")
		}
	}
	return paths, errors.Join(errs...)
}

// checkRequestPaths: Knative Serving's own namespaces (the gateway's, and knative-serving's,
// which every function admits) reach every function, the gateway through the activator too,
// as scaling from zero needs; knative-eventing (the Broker, the PingSource) only through
// the cluster-local listener, then to the pod or the activator; Traefik a public function
// only through the external listener, likewise; everyone else, the shortener namespace and
// Prometheus included, by no path at all.
func checkRequestPaths(policies []*networkingv1.NetworkPolicy, gw gateway, act activator, fns map[string]map[string]string) error {
	var errs []error
	srcs := gatewaySources()
	names := slices.Sorted(maps.Keys(srcs))
	for _, fn := range slices.Sorted(maps.Keys(fns)) {
		pod := fns[fn]
		public := slices.Contains(routing.Public, fn)
		for _, name := range names {
			src := srcs[name]
			got, err := requestPaths(policies, gw, act, src, pod, public)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			var want []string
			switch {
			case src.Namespace == kourierGatewayNS || src.Namespace == activatorNS:
				if len(got) == 0 {
					errs = append(errs, fmt.Errorf("%s (%s) cannot get a request to %s", name, src.Namespace, fn))
				} else if src.Namespace == kourierGatewayNS && !slices.Contains(got, "activator") {
					errs = append(errs, fmt.Errorf("%s (%s) gets a request to %s only by %q, not through the activator", name, src.Namespace, fn, got))
				}
				continue
			case src.Namespace == "knative-eventing":
				want = []string{"kourier cluster-local", "kourier cluster-local, activator"}
			case name == "traefik" && public:
				want = []string{"kourier external", "kourier external, activator"}
			}
			if !slices.Equal(got, want) {
				errs = append(errs, fmt.Errorf("%s (%s) gets a request to %s by %q, want %q", name, src.Namespace, fn, got, want))
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
	if err := checkRequestPaths(policies, gw, knativeActivator(t), functionPods(t)); err != nil {
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
	gw, act, fns := kourierGateway(t), knativeActivator(t), functionPods(t)
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			nps := breakIt(t, allNetworkPolicies(t))
			err := errors.Join(checkGatewayReachability(nps, gw, fns), checkRequestPaths(nps, gw, act, fns))
			if err == nil {
				t.Fatal("the broken policies were accepted")
			}
			t.Logf("rejected: %v", firstLine(err))
		})
	}
}

// TestActivatorNetworkPolicies: the activator, which forwards a request to any revision its
// headers name, takes requests only from Kourier's gateway and knative-serving
// (platform/knative-serving/networkpolicies.yaml), so that no other pod reaches a function
// through it; and the request paths still hold with it in them.
func TestActivatorNetworkPolicies(t *testing.T) {
	act := knativeActivator(t)
	policies := allNetworkPolicies(t)
	selected := slices.ContainsFunc(policies, func(np *networkingv1.NetworkPolicy) bool {
		sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
		return err == nil && np.Namespace == activatorNS && appliesToIngress(np) && sel.Matches(labels.Set(act.labels))
	})
	if !selected {
		t.Fatal("no NetworkPolicy selects the activator: any pod reaches any function through it")
	}
	if err := checkActivatorReachability(policies, act); err != nil {
		t.Error(err)
	}
	if err := checkRequestPaths(policies, kourierGateway(t), act, functionPods(t)); err != nil {
		t.Error(err)
	}
	// A port a release adds is closed by the policy; it must have a decision.
	known := map[int32]bool{}
	for _, r := range activatorExpectations(act) {
		known[r.Port] = true
	}
	for _, p := range act.ports {
		if !known[p.ContainerPort] {
			t.Errorf("activator port %s (%d) has no expectation in activatorExpectations", p.Name, p.ContainerPort)
		}
	}
	// The TLS port stays closed only while nothing sends requests there.
	cm := findDoc(t, builds(t)["platform/knative-serving"], "ConfigMap", "config-network").Obj.(*corev1.ConfigMap)
	netConfig, err := netcfg.NewConfigFromConfigMap(cm)
	if err != nil {
		t.Fatal(err)
	}
	if netConfig.SystemInternalTLSEnabled() {
		t.Errorf("config-network turns on system-internal-tls: Kourier then sends to the activator's %d and queue-proxy's 8112, which the policies close", act.tls)
	}
}

// TestNegativeActivatorNetworkPolicies: an activator left open, open to the wrong
// namespace, opened on the Service's port or the wrong pods, or closed to the gateway, the
// autoscaler or (in the functions' policies) to its own forwarding must fail.
func TestNegativeActivatorNetworkPolicies(t *testing.T) {
	const name = "activator-from-kourier-and-knative-serving"
	type edit func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy
	fromNS := func(r networkingv1.NetworkPolicyIngressRule, ns string) bool {
		return len(r.From) > 0 && r.From[0].NamespaceSelector != nil && r.From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] == ns
	}
	rule := func(t *testing.T, nps []*networkingv1.NetworkPolicy, from string) *networkingv1.NetworkPolicyIngressRule {
		t.Helper()
		np := byName(t, nps, name)
		for i := range np.Spec.Ingress {
			if fromNS(np.Spec.Ingress[i], from) {
				return &np.Spec.Ingress[i]
			}
		}
		t.Fatalf("%s has no rule from %s", name, from)
		return nil
	}
	dropRule := func(t *testing.T, nps []*networkingv1.NetworkPolicy, from string) []*networkingv1.NetworkPolicy {
		rule(t, nps, from) // it must be there to be dropped
		np := byName(t, nps, name)
		np.Spec.Ingress = slices.DeleteFunc(np.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool { return fromNS(r, from) })
		return nps
	}
	peer := func(ns string) networkingv1.NetworkPolicyPeer {
		return networkingv1.NetworkPolicyPeer{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}}
	}
	tcp := func(port int32) networkingv1.NetworkPolicyPort {
		return networkingv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(port))}
	}
	cases := map[string]edit{
		"NoActivatorPolicy": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return without(nps, name)
		},
		"FromEveryNamespace": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			rule(t, nps, kourierGatewayNS).From[0].NamespaceSelector = &metav1.LabelSelector{}
			return nps
		},
		"FromAnyone": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			rule(t, nps, activatorNS).From = nil
			return nps
		},
		"FromShortener": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			r := rule(t, nps, kourierGatewayNS)
			r.From = append(r.From, peer(AppNamespace))
			return nps
		},
		"FromDefault": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			r := rule(t, nps, activatorNS)
			r.From = append(r.From, peer("default"))
			return nps
		},
		// The Broker would then reach the events-writer past Kourier's cluster-local listener.
		"FromKnativeEventing": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			r := rule(t, nps, kourierGatewayNS)
			r.From = append(r.From, peer("knative-eventing"))
			return nps
		},
		"ServicePortNotPodPort": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			rule(t, nps, kourierGatewayNS).Ports[0].Port = ptr(intstr.FromInt32(80))
			return nps
		},
		"WrongActivatorLabel": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			byName(t, nps, name).Spec.PodSelector.MatchLabels = map[string]string{"app": "knative-activator"}
			return nps
		},
		"WrongNamespace": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			byName(t, nps, name).Namespace = kourierGatewayNS
			return nps
		},
		"GatewayShutOut": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return dropRule(t, nps, kourierGatewayNS)
		},
		"AutoscalerShutOut": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return dropRule(t, nps, activatorNS)
		},
		// Pinned shut while system-internal-tls is off (TestActivatorNetworkPolicies).
		"TLSOpen": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			r := rule(t, nps, kourierGatewayNS)
			r.Ports = append(r.Ports, tcp(8112))
			return nps
		},
		"ProfilingOpen": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			np := byName(t, nps, name)
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{
				From: []networkingv1.NetworkPolicyPeer{peer("monitoring")}, Ports: []networkingv1.NetworkPolicyPort{tcp(activatorProfilePort)}})
			return nps
		},
		// The activator reaches the functions through the shortener namespace's policy.
		"ActivatorCannotForward": func(t *testing.T, nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return without(nps, "functions-from-knative-serving")
		},
	}
	gw, act, fns := kourierGateway(t), knativeActivator(t), functionPods(t)
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			nps := breakIt(t, allNetworkPolicies(t))
			err := errors.Join(checkActivatorReachability(nps, act), checkRequestPaths(nps, gw, act, fns))
			if err == nil {
				t.Fatal("the broken policies were accepted")
			}
			t.Logf("rejected: %v", firstLine(err))
		})
	}
}
