package check

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// PublicHost is the placeholder host in platform/traefik; install.sh substitutes $PUBLIC_HOST.
const PublicHost = "shortener.example.com"

// RoutedFunction resolves which function Traefik sends a request for path on PublicHost to:
// the matching route of highest priority, then the Host header its middleware sets, which
// names the Knative Service <function>.<namespace>.<domain>. It fails on a tie.
func RoutedFunction(ir *IngressRoute, middlewares map[string]*Middleware, namespace, domain, path string) (string, error) {
	type hit struct {
		prio int
		fn   string
	}
	var hits []hit
	for i, r := range ir.Spec.Routes {
		rule, err := ParseRule(r.Match)
		if err != nil {
			return "", err
		}
		if !rule.Matches(PublicHost, path) {
			continue
		}
		fn := ""
		for _, ref := range r.Middlewares {
			m, ok := middlewares[ref.Name]
			if !ok {
				return "", fmt.Errorf("route %d: middleware %s does not exist", i, ref.Name)
			}
			if m.Spec.Headers == nil {
				continue
			}
			host, ok := m.Spec.Headers.CustomRequestHeaders["Host"]
			if !ok {
				continue
			}
			suffix := "." + namespace + "." + domain
			if !strings.HasSuffix(host, suffix) {
				return "", fmt.Errorf("middleware %s: Host %q is not <service>%s", ref.Name, host, suffix)
			}
			fn = strings.TrimSuffix(host, suffix)
		}
		if fn == "" {
			return "", fmt.Errorf("route %d (%s) sets no Host header", i, r.Match)
		}
		for _, s := range r.Services {
			if s.Name != "kourier" || s.Port.IntValue() != 80 {
				return "", fmt.Errorf("route %d: forwards to %s:%s, want Kourier's gateway kourier:80", i, s.Name, s.Port.String())
			}
		}
		hits = append(hits, hit{r.Priority, fn})
	}
	if len(hits) == 0 {
		return "", fmt.Errorf("no route matches %s", path)
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].prio > hits[j].prio })
	if len(hits) > 1 && hits[0].prio == hits[1].prio && hits[0].fn != hits[1].fn {
		return "", fmt.Errorf("%s: two routes of priority %d disagree (%s, %s)", path, hits[0].prio, hits[0].fn, hits[1].fn)
	}
	return hits[0].fn, nil
}

// CheckRoutes compares Traefik's decision with want(path) for every path.
func CheckRoutes(ir *IngressRoute, middlewares map[string]*Middleware, namespace, domain string, paths []string, want func(string) string) error {
	var errs []error
	for _, p := range paths {
		got, err := RoutedFunction(ir, middlewares, namespace, domain, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if w := want(p); got != w {
			errs = append(errs, fmt.Errorf("%s: Traefik routes to %s, the routing table says %s", p, got, w))
		}
	}
	return errors.Join(errs...)
}

// ForwardedPath returns the path Traefik forwards a request for path on PublicHost with:
// the highest-priority matching route's path-rewriting middlewares applied in order.
func ForwardedPath(ir *IngressRoute, middlewares map[string]*Middleware, path string) (string, error) {
	best := -1
	for i, r := range ir.Spec.Routes {
		rule, err := ParseRule(r.Match)
		if err != nil {
			return "", err
		}
		if rule.Matches(PublicHost, path) && (best < 0 || r.Priority > ir.Spec.Routes[best].Priority) {
			best = i
		}
	}
	if best < 0 {
		return "", fmt.Errorf("no route matches %s", path)
	}
	for _, ref := range ir.Spec.Routes[best].Middlewares {
		m, ok := middlewares[ref.Name]
		if !ok {
			return "", fmt.Errorf("middleware %s does not exist", ref.Name)
		}
		if m.Spec.ReplacePathRegex != nil {
			var err error
			if path, err = m.Spec.ReplacePathRegex.Rewrite(path); err != nil {
				return "", err
			}
		}
	}
	return path, nil
}
