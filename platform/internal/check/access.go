package check

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"knative.dev/serving/pkg/networking"
)

// The cluster side of access control (issue 12): what Traefik does to every public request
// before a pod is involved, and who may open a connection to a function's pod at all.

// MinRedirectRate is the sustained rate per client Traefik must allow on redirect routes: a
// page of short links, or a NAT of many people, must never meet the edge limit.
const MinRedirectRate = 50.0

// CheckEdge wants every route of the public IngressRoute to answer with the security
// headers (HSTS too, as TLS ends at Traefik) and to pass a rate limit per connection peer
// first, with the headers middleware outside the rate limit so that a 429 carries them.
func CheckEdge(ir *IngressRoute, mws map[string]*Middleware, redirectRoute func(Route) bool) error {
	var errs []error
	for i, r := range ir.Spec.Routes {
		at := fmt.Sprintf("route %d (%s)", i, r.Match)
		headersAt, limitAt := -1, -1
		for j, ref := range r.Middlewares {
			m, ok := mws[ref.Name]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: middleware %s does not exist", at, ref.Name))
				continue
			}
			if h := m.Spec.Headers; h != nil && h.ContentTypeNosniff {
				if headersAt >= 0 {
					errs = append(errs, fmt.Errorf("%s: two security-headers middlewares", at))
				}
				headersAt = j
				if err := checkSecurityHeaders(h, ir.Spec.TLS != nil); err != nil {
					errs = append(errs, fmt.Errorf("%s: %s: %w", at, ref.Name, err))
				}
			}
			if rl := m.Spec.RateLimit; rl != nil {
				if limitAt >= 0 {
					errs = append(errs, fmt.Errorf("%s: two rate limits", at))
				}
				limitAt = j
				if err := checkEdgeLimit(rl, redirectRoute(r)); err != nil {
					errs = append(errs, fmt.Errorf("%s: %s: %w", at, ref.Name, err))
				}
			}
		}
		switch {
		case headersAt < 0:
			errs = append(errs, fmt.Errorf("%s: no security headers (X-Content-Type-Options and the rest)", at))
		case limitAt < 0:
			errs = append(errs, fmt.Errorf("%s: no rate limit", at))
		case headersAt > limitAt:
			errs = append(errs, fmt.Errorf("%s: the rate limit runs before the security headers, so its 429 has none", at))
		}
	}
	return errors.Join(errs...)
}

func checkSecurityHeaders(h *Headers, tls bool) error {
	got := h.ResponseHeaders()
	var errs []error
	want := func(name, value string) {
		if got[name] != value {
			errs = append(errs, fmt.Errorf("%s %q, want %q", name, got[name], value))
		}
	}
	want("X-Content-Type-Options", "nosniff")
	want("X-Frame-Options", "DENY")
	if got["Referrer-Policy"] == "" {
		errs = append(errs, errors.New("no Referrer-Policy"))
	}
	csp := map[string]string{}
	for _, d := range strings.Split(got["Content-Security-Policy"], ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		csp[name] = strings.TrimSpace(value)
	}
	if csp["default-src"] != "'none'" || csp["frame-ancestors"] != "'none'" {
		errs = append(errs, fmt.Errorf("Content-Security-Policy %q: an API wants default-src 'none'; frame-ancestors 'none'", got["Content-Security-Policy"]))
	}
	if tls && h.STSSeconds < 31536000 {
		errs = append(errs, fmt.Errorf("stsSeconds %d: TLS ends at Traefik, want HSTS of at least a year", h.STSSeconds))
	}
	return errors.Join(errs...)
}

func checkEdgeLimit(rl *RateLimit, redirect bool) error {
	if !rl.ByPeer() {
		return errors.New("sourceCriterion reads X-Forwarded-For or a header, which clients reaching Traefik directly can forge; use the connection's peer")
	}
	rate, err := rl.PerSecond()
	if err != nil {
		return err
	}
	if redirect && rate < MinRedirectRate {
		return fmt.Errorf("%g requests/s per client on a redirect route, want at least %g", rate, MinRedirectRate)
	}
	if rl.Burst == nil || float64(*rl.Burst) < rate {
		return fmt.Errorf("burst %v below one second of the average rate %g", rl.Burst, rate)
	}
	return nil
}

// Queue-proxy and function ports of every Knative pod, from Serving's own constants, so a
// Knative upgrade that moved one fails here rather than in the cluster. (8112, queue-proxy's
// TLS port, is used only with system-internal-tls, which this platform does not turn on.)
const (
	QueueHTTPPort        = networking.BackendHTTPPort             // 8012: requests, HTTP/1
	QueueH2CPort         = networking.BackendHTTP2Port            // 8013: requests, h2c
	QueueAutoscalerPort  = networking.AutoscalingQueueMetricsPort // 9090: scraped by the autoscaler
	QueueUserMetricsPort = networking.UserQueueMetricsPort        // 9091: scraped by Prometheus
	UserPort             = servingv1.DefaultUserPort              // 8080: the function (func-go), /metrics
)

// Reach is one expectation: whether From may open a TCP connection to Port of a function.
type Reach struct {
	From  string
	Port  int32
	Allow bool
}

// Sources are the clients the expectations name, with the labels their pods carry.
var Sources = map[string]Source{
	"kourier-gateway":    {Namespace: "kourier-system", Labels: map[string]string{"app": "3scale-kourier-gateway"}},
	"activator":          {Namespace: "knative-serving", Labels: map[string]string{"app": "activator"}},
	"autoscaler":         {Namespace: "knative-serving", Labels: map[string]string{"app": "autoscaler"}},
	"broker-filter":      {Namespace: "knative-eventing", Labels: map[string]string{"eventing.knative.dev/brokerRole": "filter"}},
	"pingsource-adapter": {Namespace: "knative-eventing", Labels: map[string]string{"eventing.knative.dev/source": "ping-source-controller"}},
	"prometheus":         {Namespace: "monitoring", Labels: map[string]string{"app.kubernetes.io/name": "prometheus"}},
	"traefik":            {Namespace: "kube-system", Labels: map[string]string{"app.kubernetes.io/name": "traefik"}},
	"stranger":           {Namespace: "default", Labels: map[string]string{"app": "curl"}},
	"neighbour":          {Namespace: AppNamespace, Labels: map[string]string{"app.kubernetes.io/name": "valkey"}},
}

// FunctionReach is who may reach a function's pod, and who may not. The Broker's and the
// PingSource's deliveries to the events-writer arrive through Kourier's cluster-local
// listener (its Knative URL is an ExternalName for kourier-internal), so at the pod they
// come from the gateway, never from knative-eventing's own pods.
func FunctionReach() []Reach {
	var r []Reach
	for _, p := range []int32{QueueHTTPPort, QueueH2CPort} {
		r = append(r, Reach{"kourier-gateway", p, true}, Reach{"activator", p, true})
	}
	r = append(r,
		Reach{"autoscaler", QueueAutoscalerPort, true},
		Reach{"prometheus", UserPort, true},
		Reach{"prometheus", QueueUserMetricsPort, true},
		// Nothing skips queue-proxy: not Kourier, not the activator.
		Reach{"kourier-gateway", UserPort, false},
		Reach{"activator", UserPort, false},
		Reach{"kourier-gateway", QueueAutoscalerPort, false},
		Reach{"prometheus", QueueHTTPPort, false},
	)
	for _, from := range []string{"broker-filter", "pingsource-adapter", "traefik", "stranger", "neighbour"} {
		for _, p := range []int32{QueueHTTPPort, UserPort, QueueAutoscalerPort} {
			r = append(r, Reach{from, p, false})
		}
	}
	return r
}

// CheckFunctionReachability evaluates the policies for every function's pod (labels as
// Knative sets them) against FunctionReach, and wants every function isolated: a pod no
// policy selects would take connections from anyone.
func CheckFunctionReachability(policies []*networkingv1.NetworkPolicy, functions map[string]map[string]string) error {
	var errs []error
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, fn := range names {
		pod := functions[fn]
		for _, want := range FunctionReach() {
			src, ok := Sources[want.From]
			if !ok {
				return fmt.Errorf("no source %q", want.From)
			}
			got, err := IngressAllowed(policies, src, AppNamespace, pod, corev1.ProtocolTCP, want.Port)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if got != want.Allow {
				verb := "cannot"
				if got {
					verb = "can"
				}
				errs = append(errs, fmt.Errorf("%s: %s (%s) %s reach port %d", fn, want.From, src.Namespace, verb, want.Port))
			}
		}
	}
	return errors.Join(errs...)
}
