package check

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/urlshort/shortener/platform/internal/funcyaml"
	"github.com/urlshort/shortener/shared/routing"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
)

// redirectRoute: the routes Traefik sends to the redirect function.
func redirectRoute(mws map[string]*Middleware) func(Route) bool {
	return func(r Route) bool {
		for _, ref := range r.Middlewares {
			if m := mws[ref.Name]; m != nil && m.Spec.Headers != nil &&
				strings.HasPrefix(m.Spec.Headers.CustomRequestHeaders["Host"], routing.Redirect+".") {
				return true
			}
		}
		return false
	}
}

// TestEdgeMiddlewares: every public route answers with the security headers and passes a
// rate limit per client first (issue 12), and the routes still go where the table says.
func TestEdgeMiddlewares(t *testing.T) {
	ir, mws := traefik(t, builds(t)["platform/traefik"], "shortener")
	if ir.Spec.TLS == nil {
		t.Fatal("the public IngressRoute terminates no TLS: HSTS would be wrong")
	}
	if err := CheckEdge(ir, mws, redirectRoute(mws)); err != nil {
		t.Error(err)
	}
	h := mws["security-headers"].Spec.Headers.ResponseHeaders()
	want := map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "no-referrer",
		"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'",
		"Strict-Transport-Security": "max-age=31536000",
	}
	for k, v := range want {
		if h[k] != v {
			t.Errorf("%s: %q, want %q", k, h[k], v)
		}
	}
	// The probe route keeps its rewrite, after the Host rewrite, and its low priority.
	for _, r := range ir.Spec.Routes {
		if strings.Contains(r.Match, "/health/readiness") {
			if last := r.Middlewares[len(r.Middlewares)-1].Name; last != "probes-not-public" || r.Priority != 2 {
				t.Errorf("probe route: last middleware %s, priority %d; want probes-not-public, 2", last, r.Priority)
			}
		}
	}
}

// TestNegativeEdgeMiddlewares: a route without headers or a limit, a limit on a forgeable
// header, a stingy redirect limit, headers inside the limit and weak headers must fail.
func TestNegativeEdgeMiddlewares(t *testing.T) {
	cases := map[string]func(ir *IngressRoute, mws map[string]*Middleware){
		"RouteWithoutHeaders": func(ir *IngressRoute, _ map[string]*Middleware) {
			ir.Spec.Routes[1].Middlewares = ir.Spec.Routes[1].Middlewares[1:]
		},
		"RouteWithoutLimit": func(ir *IngressRoute, _ map[string]*Middleware) {
			r := &ir.Spec.Routes[len(ir.Spec.Routes)-1]
			r.Middlewares = append(r.Middlewares[:1], r.Middlewares[2:]...)
		},
		"LimitBeforeHeaders": func(ir *IngressRoute, _ map[string]*Middleware) {
			m := ir.Spec.Routes[0].Middlewares
			m[0], m[1] = m[1], m[0]
		},
		"LimitByForwardedFor": func(_ *IngressRoute, mws map[string]*Middleware) {
			mws["ratelimit-api"].Spec.RateLimit.SourceCriterion = &SourceCriterion{IPStrategy: &IPStrategy{Depth: 1}}
		},
		"LimitByHeader": func(_ *IngressRoute, mws map[string]*Middleware) {
			mws["ratelimit-redirect"].Spec.RateLimit.SourceCriterion = &SourceCriterion{RequestHeaderName: "X-Api-Key"}
		},
		"StingyRedirectLimit": func(_ *IngressRoute, mws map[string]*Middleware) {
			p := intstr.FromString("1m")
			mws["ratelimit-redirect"].Spec.RateLimit.Period = &p
		},
		"NoBurst": func(_ *IngressRoute, mws map[string]*Middleware) {
			mws["ratelimit-api"].Spec.RateLimit.Burst = nil
		},
		"NoNosniff": func(_ *IngressRoute, mws map[string]*Middleware) {
			mws["security-headers"].Spec.Headers.ContentTypeNosniff = false
		},
		"FramesAllowed": func(_ *IngressRoute, mws map[string]*Middleware) {
			mws["security-headers"].Spec.Headers.FrameDeny = false
		},
		"LaxCSP": func(_ *IngressRoute, mws map[string]*Middleware) {
			mws["security-headers"].Spec.Headers.ContentSecurityPolicy = "default-src 'self'"
		},
		"NoHSTS": func(_ *IngressRoute, mws map[string]*Middleware) {
			mws["security-headers"].Spec.Headers.STSSeconds = 0
		},
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			var docs []*Doc
			for _, d := range builds(t)["platform/traefik"] {
				docs = append(docs, clone(t, d))
			}
			ir, mws := traefik(t, docs, "shortener")
			breakIt(ir, mws)
			if err := CheckEdge(ir, mws, redirectRoute(mws)); err == nil {
				t.Error("the broken edge was accepted")
			} else {
				t.Logf("rejected: %v", firstLine(err))
			}
		})
	}
}

// TestNegativeMiddlewareValues: values Traefik would refuse or misread.
func TestNegativeMiddlewareValues(t *testing.T) {
	c := cluster(t)
	cases := map[string]func(m *Middleware){
		"ZeroAverage": func(m *Middleware) { m.Spec.RateLimit.Average = ptr(int64(0)) },
		"BadPeriod":   func(m *Middleware) { p := intstr.FromString("a second"); m.Spec.RateLimit.Period = &p },
		"NegativeDepth": func(m *Middleware) {
			m.Spec.RateLimit.SourceCriterion = &SourceCriterion{IPStrategy: &IPStrategy{Depth: -1}}
		},
		"BadExcludedIP": func(m *Middleware) {
			m.Spec.RateLimit.SourceCriterion = &SourceCriterion{IPStrategy: &IPStrategy{ExcludedIPs: []string{"10.42/16"}}}
		},
		"TwoCriteria": func(m *Middleware) {
			m.Spec.RateLimit.SourceCriterion = &SourceCriterion{RequestHost: true, IPStrategy: &IPStrategy{}}
		},
		"HeadersAndLimit": func(m *Middleware) { m.Spec.Headers = &Headers{ContentTypeNosniff: true} },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			d := findDoc(t, builds(t)["platform/traefik"], "Middleware", "ratelimit-api")
			breakIt(d.Obj.(*Middleware))
			if err := c.Validate(d); err == nil {
				t.Error("the broken middleware was accepted")
			} else {
				t.Logf("rejected: %v", firstLine(err))
			}
		})
	}
	for name, breakIt := range map[string]func(h *Headers){
		"BadReferrerPolicy": func(h *Headers) { h.ReferrerPolicy = "never" },
		"TwoFrameOptions":   func(h *Headers) { h.CustomFrameOptionsValue = "SAMEORIGIN" },
		"NegativeSTS":       func(h *Headers) { h.STSSeconds = -1 },
		"BadCSPDirective":   func(h *Headers) { h.ContentSecurityPolicy = "Default-Src 'none'" },
	} {
		t.Run(name, func(t *testing.T) {
			d := findDoc(t, builds(t)["platform/traefik"], "Middleware", "security-headers")
			breakIt(d.Obj.(*Middleware).Spec.Headers)
			if err := c.Validate(d); err == nil {
				t.Error("the broken headers were accepted")
			} else {
				t.Logf("rejected: %v", firstLine(err))
			}
		})
	}
}

// networkPolicies returns the NetworkPolicies of the shortener namespace as built.
func networkPolicies(t *testing.T) []*networkingv1.NetworkPolicy {
	t.Helper()
	var out []*networkingv1.NetworkPolicy
	for _, d := range builds(t)["platform/shortener"] {
		if _, ok := d.Obj.(*networkingv1.NetworkPolicy); ok {
			out = append(out, clone(t, d).Obj.(*networkingv1.NetworkPolicy))
		}
	}
	if len(out) < 5 {
		t.Fatalf("%d NetworkPolicies in platform/shortener, want the Valkey one and four for the functions", len(out))
	}
	return out
}

// functionPods returns each function's pod labels, as Knative sets them on the pods of the
// rendered Services.
func functionPods(t *testing.T) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, p := range pods(rendered(t)) {
		out[p.labels["serving.knative.dev/service"]] = p.labels
	}
	if len(out) != len(routing.All) {
		t.Fatalf("%d function pods, want %d", len(out), len(routing.All))
	}
	return out
}

// TestNetworkPolicies: each policy of the platform (Kourier's too) is what the API server
// accepts, uses numeric ports with an explicit protocol (named ports would resolve
// differently on queue-proxy and the function), and together the shortener namespace's let
// exactly Kourier, Knative Serving and Prometheus into the functions.
func TestNetworkPolicies(t *testing.T) {
	policies := networkPolicies(t)
	for _, np := range allNetworkPolicies(t) {
		if err := ValidateNetworkPolicy(np); err != nil {
			t.Errorf("%s: %v", np.Name, err)
		}
		for _, r := range np.Spec.Ingress {
			if len(r.From) == 0 || len(r.Ports) == 0 {
				t.Errorf("%s: a rule without peers or ports admits every source or port", np.Name)
			}
			for _, p := range r.Ports {
				if p.Protocol == nil || p.Port == nil || p.Port.Type != intstr.Int {
					t.Errorf("%s: port %v: want a number and an explicit protocol", np.Name, p.Port)
				}
			}
		}
		if len(np.Spec.Egress) > 0 || len(np.Spec.PolicyTypes) != 1 || np.Spec.PolicyTypes[0] != networkingv1.PolicyTypeIngress {
			t.Errorf("%s: policyTypes %v: egress stays open (platform/README.md)", np.Name, np.Spec.PolicyTypes)
		}
	}
	fns := functionPods(t)
	if err := CheckFunctionReachability(policies, fns); err != nil {
		t.Error(err)
	}
	// Valkey is still reachable from the functions (its own policy), and from nowhere else.
	valkey := map[string]string{"app.kubernetes.io/name": "valkey"}
	if ok, _ := IngressAllowed(policies, Source{Namespace: AppNamespace, Labels: fns[routing.Redirect]}, AppNamespace, valkey, corev1.ProtocolTCP, 6379); !ok {
		t.Error("the functions cannot reach Valkey")
	}
	if ok, _ := IngressAllowed(policies, Sources["stranger"], AppNamespace, valkey, corev1.ProtocolTCP, 6379); ok {
		t.Error("another namespace can reach Valkey")
	}
}

// TestNegativeNetworkPolicies: values the API server rejects, and policies that let the
// wrong clients in or keep the right ones out, must fail.
func TestNegativeNetworkPolicies(t *testing.T) {
	lower := corev1.Protocol("tcp")
	invalid := map[string]func(np *networkingv1.NetworkPolicy){
		"LowerCaseProtocol": func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].Ports[0].Protocol = &lower },
		"PortZero":          func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].Ports[0].Port = ptr(intstr.FromInt32(0)) },
		"PortTooHigh":       func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].Ports[0].Port = ptr(intstr.FromInt32(70000)) },
		"EndPortBelowPort":  func(np *networkingv1.NetworkPolicy) { np.Spec.Ingress[0].Ports[0].EndPort = ptr(int32(80)) },
		"BadPortName": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].Ports[0].Port = ptr(intstr.FromString("Queue_Port"))
		},
		"LowerCasePolicyType": func(np *networkingv1.NetworkPolicy) {
			np.Spec.PolicyTypes = []networkingv1.PolicyType{"ingress"}
		},
		"EmptyPeer": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{}}
		},
		"IPBlockWithSelector": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[0].IPBlock = &networkingv1.IPBlock{CIDR: "10.42.0.0/16"}
		},
		"ExceptOutsideCIDR": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.42.0.0/16", Except: []string{"10.43.0.0/24"}}}}
		},
		"BadNamespaceSelector": func(np *networkingv1.NetworkPolicy) {
			np.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] = "kourier system"
		},
	}
	c := cluster(t)
	for name, breakIt := range invalid {
		t.Run(name, func(t *testing.T) {
			d := findDoc(t, builds(t)["platform/shortener"], "NetworkPolicy", "public-functions-from-kourier")
			breakIt(d.Obj.(*networkingv1.NetworkPolicy))
			if err := c.Validate(d); err == nil {
				t.Error("the broken NetworkPolicy was accepted")
			} else {
				t.Logf("rejected: %v", firstLine(err))
			}
		})
	}
	wrong := map[string]func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy{
		"PublicFunctionLeftOut": func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			byName(t, nps, "public-functions-from-kourier").Spec.PodSelector.MatchExpressions[0].Values = []string{"health", "users", "urls", "events"}
			return nps
		},
		"KourierToFunctionPort": func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			np := byName(t, nps, "public-functions-from-kourier")
			np.Spec.Ingress[0].Ports = append(np.Spec.Ingress[0].Ports, networkingv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(UserPort))})
			return nps
		},
		"AnyNamespace": func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			byName(t, nps, "functions-from-knative-serving").Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels = nil
			return nps
		},
		"NoActivator": func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return without(nps, "functions-from-knative-serving")
		},
		"NoEventsWriterPolicy": func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return without(nps, "events-writer-from-kourier-internal")
		},
		"NoMetrics": func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			return without(nps, "functions-metrics-from-monitoring")
		},
		"UDPInsteadOfTCP": func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			np := byName(t, nps, "public-functions-from-kourier")
			for i := range np.Spec.Ingress[0].Ports {
				np.Spec.Ingress[0].Ports[i].Protocol = ptr(corev1.ProtocolUDP)
			}
			return nps
		},
		"WholeNamespaceIn": func(nps []*networkingv1.NetworkPolicy) []*networkingv1.NetworkPolicy {
			np := byName(t, nps, "functions-metrics-from-monitoring")
			np.Spec.Ingress = append(np.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{})
			return nps
		},
	}
	fns := functionPods(t)
	for name, breakIt := range wrong {
		t.Run(name, func(t *testing.T) {
			if err := CheckFunctionReachability(breakIt(networkPolicies(t)), fns); err == nil {
				t.Error("the broken policies were accepted")
			} else {
				t.Logf("rejected: %v", firstLine(err))
			}
		})
	}
}

func byName(t *testing.T, nps []*networkingv1.NetworkPolicy, name string) *networkingv1.NetworkPolicy {
	t.Helper()
	for _, np := range nps {
		if np.Name == name {
			return np
		}
	}
	t.Fatalf("no NetworkPolicy %s", name)
	return nil
}

func without(nps []*networkingv1.NetworkPolicy, name string) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, np := range nps {
		if np.Name != name {
			out = append(out, np)
		}
	}
	return out
}

// TestTrustedProxies: the one list of proxies the functions believe parses as addresses and
// CIDRs (as shared/access reads it), covers the hops a request takes in the cluster
// (queue-proxy over loopback; Traefik, Kourier and the activator from the pod network), and
// trusts nothing beyond the pod network.
func TestTrustedProxies(t *testing.T) {
	var cm *corev1.ConfigMap
	for _, d := range builds(t)["platform/shortener"] {
		if c, ok := d.Obj.(*corev1.ConfigMap); ok && c.Name == funcyaml.AccessConfigMap {
			cm = c
		}
	}
	if cm == nil {
		t.Fatalf("platform/shortener builds no ConfigMap %s", funcyaml.AccessConfigMap)
	}
	var prefixes []netip.Prefix
	for _, s := range strings.Split(cm.Data[funcyaml.TrustedProxiesKey], ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			t.Fatalf("%s %q: %v", funcyaml.TrustedProxiesKey, s, err)
		}
		prefixes = append(prefixes, p)
	}
	trusted := func(a string) bool {
		for _, p := range prefixes {
			if p.Contains(netip.MustParseAddr(a)) {
				return true
			}
		}
		return false
	}
	for _, a := range []string{"127.0.0.1", "::1", "10.42.0.7", "10.42.255.254"} {
		if !trusted(a) {
			t.Errorf("%s is a hop inside the cluster and is not trusted", a)
		}
	}
	for _, a := range []string{"10.43.0.10", "192.168.1.20", "203.0.113.9", "2001:db8::1"} {
		if trusted(a) {
			t.Errorf("%s is trusted: a client there could choose its own address", a)
		}
	}
}

// TestNegativeConfigMapReference: a function reading a ConfigMap key nobody creates fails.
func TestNegativeConfigMapReference(t *testing.T) {
	all := everything(t)
	d := findDoc(t, all, "Service", routing.URLs)
	for i := range d.Obj.(*servingv1.Service).Spec.Template.Spec.Containers[0].Env {
		e := &d.Obj.(*servingv1.Service).Spec.Template.Spec.Containers[0].Env[i]
		if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
			e.ValueFrom.ConfigMapKeyRef.Key = "trusted-proxy"
		}
	}
	if err := CrossCheck(replace(all, d), externalSecrets(t)); err == nil {
		t.Error("a missing ConfigMap key was accepted")
	}
}

// TestInstallCreatesAdminKey reads install.sh: the admin key Secret the functions read is
// made there, once, like valkey-auth.
func TestInstallCreatesAdminKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo(t), "platform", "install.sh"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.Contains(s, "get secret "+funcyaml.AdminKeySecret+" ") ||
		!strings.Contains(s, "create secret generic "+funcyaml.AdminKeySecret+" --from-file="+funcyaml.AdminKeySecretKey+"=/dev/stdin") {
		t.Errorf("install.sh does not create Secret %s (key %s) only when it is missing", funcyaml.AdminKeySecret, funcyaml.AdminKeySecretKey)
	}
}

// TestMonitoringScrapesAllowedPorts: every port the function PodMonitors of
// monitoring/k8s/podmonitors.yaml scrape (by Knative's port names) is one Prometheus's
// namespace may reach, so the NetworkPolicies do not silently turn targets down.
func TestMonitoringScrapesAllowedPorts(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repo(t), "monitoring", "k8s", "podmonitors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := DecodeAll("monitoring/k8s/podmonitors.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	portByName := map[string]int32{
		servingv1.UserPortName:                    UserPort,
		servingv1.UserQueueMetricsPortName:        QueueUserMetricsPort,
		servingv1.AutoscalingQueueMetricsPortName: QueueAutoscalerPort,
	}
	policies, fns := networkPolicies(t), functionPods(t)
	n := 0
	for _, d := range docs {
		pm, ok := d.Obj.(*monitoringv1.PodMonitor)
		if !ok || len(pm.Spec.Selector.MatchExpressions) == 0 || pm.Spec.Selector.MatchExpressions[0].Key != "serving.knative.dev/service" {
			continue
		}
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			port, ok := portByName[*ep.Port]
			if !ok {
				t.Errorf("%s: port %s is not a Knative pod port", pm.Name, *ep.Port)
				continue
			}
			n++
			for fn, pod := range fns {
				if ok, err := IngressAllowed(policies, Sources["prometheus"], AppNamespace, pod, corev1.ProtocolTCP, port); err != nil || !ok {
					t.Errorf("%s scrapes %s:%d (%s), which the NetworkPolicies close to monitoring (%v)", pm.Name, fn, port, *ep.Port, err)
				}
			}
		}
	}
	if n < 2 {
		t.Errorf("%d function scrape endpoints found, want the function's and queue-proxy's", n)
	}
}
