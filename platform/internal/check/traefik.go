package check

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The Traefik CRD types we use (traefik.io/v1alpha1, Traefik v3 as bundled with K3s), with
// only the fields we use: field names are Traefik's own (pkg/provider/kubernetes/crd/
// traefikio/v1alpha1), and strict decoding makes any other field an error.

// IngressRoute is traefik.io/v1alpha1 IngressRoute.
type IngressRoute struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              IngressRouteSpec `json:"spec"`
}

// IngressRouteSpec is the spec of an IngressRoute.
type IngressRouteSpec struct {
	EntryPoints []string `json:"entryPoints,omitempty"`
	Routes      []Route  `json:"routes"`
	TLS         *TLS     `json:"tls,omitempty"`
}

// Route is one routing rule.
type Route struct {
	Match       string          `json:"match"`
	Kind        string          `json:"kind,omitempty"`
	Priority    int             `json:"priority,omitempty"`
	Services    []TraefikTarget `json:"services,omitempty"`
	Middlewares []MiddlewareRef `json:"middlewares,omitempty"`
}

// TraefikTarget is a Kubernetes Service a route forwards to.
type TraefikTarget struct {
	Name           string             `json:"name"`
	Namespace      string             `json:"namespace,omitempty"`
	Port           intstr.IntOrString `json:"port,omitempty"`
	Scheme         string             `json:"scheme,omitempty"`
	PassHostHeader *bool              `json:"passHostHeader,omitempty"`
}

// MiddlewareRef names a Middleware.
type MiddlewareRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// TLS is an IngressRoute's TLS section.
type TLS struct {
	SecretName   string `json:"secretName,omitempty"`
	CertResolver string `json:"certResolver,omitempty"`
}

// Middleware is traefik.io/v1alpha1 Middleware.
type Middleware struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              MiddlewareSpec `json:"spec"`
}

// MiddlewareSpec holds exactly one middleware.
type MiddlewareSpec struct {
	Headers          *Headers          `json:"headers,omitempty"`
	RedirectScheme   *RedirectScheme   `json:"redirectScheme,omitempty"`
	ReplacePathRegex *ReplacePathRegex `json:"replacePathRegex,omitempty"`
	RateLimit        *RateLimit        `json:"rateLimit,omitempty"`
}

// RateLimit is Traefik's rateLimit middleware (v1alpha1 RateLimit): a token bucket per
// source that refills Average tokens per Period and holds Burst.
type RateLimit struct {
	Average         *int64              `json:"average,omitempty"`
	Period          *intstr.IntOrString `json:"period,omitempty"`
	Burst           *int64              `json:"burst,omitempty"`
	SourceCriterion *SourceCriterion    `json:"sourceCriterion,omitempty"`
}

// SourceCriterion is how Traefik groups requests into one bucket (dynamic.SourceCriterion);
// its fields are mutually exclusive, and none set means the connection's peer address.
type SourceCriterion struct {
	IPStrategy        *IPStrategy `json:"ipStrategy,omitempty"`
	RequestHeaderName string      `json:"requestHeaderName,omitempty"`
	RequestHost       bool        `json:"requestHost,omitempty"`
}

// IPStrategy picks the client address (dynamic.IPStrategy): Depth > 0 takes the Depth-th
// address from the right of X-Forwarded-For, ExcludedIPs the first from the right not in
// the list; neither is the connection's peer.
type IPStrategy struct {
	Depth       int      `json:"depth,omitempty"`
	ExcludedIPs []string `json:"excludedIPs,omitempty"`
	IPv6Subnet  *int     `json:"ipv6Subnet,omitempty"`
}

// PeriodDuration is the refill period: an integer is seconds, a string a Go duration; unset is 1s.
func (r *RateLimit) PeriodDuration() (time.Duration, error) {
	if r.Period == nil {
		return time.Second, nil
	}
	if r.Period.Type == intstr.Int {
		return time.Duration(r.Period.IntVal) * time.Second, nil
	}
	return time.ParseDuration(r.Period.StrVal)
}

// PerSecond is the sustained rate the bucket allows.
func (r *RateLimit) PerSecond() (float64, error) {
	p, err := r.PeriodDuration()
	if err != nil || r.Average == nil || p <= 0 {
		return 0, err
	}
	return float64(*r.Average) / p.Seconds(), nil
}

// ByPeer reports whether buckets are per connection peer (no X-Forwarded-For is read).
func (r *RateLimit) ByPeer() bool {
	c := r.SourceCriterion
	if c == nil {
		return true
	}
	return c.RequestHeaderName == "" && !c.RequestHost &&
		(c.IPStrategy == nil || (c.IPStrategy.Depth <= 0 && len(c.IPStrategy.ExcludedIPs) == 0))
}

func (r *RateLimit) check() error {
	var errs []error
	if r.Average == nil || *r.Average <= 0 {
		errs = append(errs, errors.New("rateLimit.average: must be above 0 (0 turns the limit off)"))
	}
	if r.Burst != nil && *r.Burst < 1 {
		errs = append(errs, errors.New("rateLimit.burst: at least 1"))
	}
	if p, err := r.PeriodDuration(); err != nil || p <= 0 {
		errs = append(errs, fmt.Errorf("rateLimit.period %s: want a positive duration", r.Period.String()))
	}
	if c := r.SourceCriterion; c != nil {
		n := 0
		for _, set := range []bool{c.IPStrategy != nil, c.RequestHeaderName != "", c.RequestHost} {
			if set {
				n++
			}
		}
		if n > 1 {
			errs = append(errs, errors.New("rateLimit.sourceCriterion: ipStrategy, requestHeaderName and requestHost are mutually exclusive"))
		}
		if s := c.IPStrategy; s != nil {
			if s.Depth < 0 {
				errs = append(errs, errors.New("rateLimit.sourceCriterion.ipStrategy.depth: must not be negative"))
			}
			for _, ip := range s.ExcludedIPs {
				if _, err := netip.ParsePrefix(ip); err != nil {
					if _, err := netip.ParseAddr(ip); err != nil {
						errs = append(errs, fmt.Errorf("rateLimit.sourceCriterion.ipStrategy.excludedIPs %q: not an address or CIDR", ip))
					}
				}
			}
			if s.IPv6Subnet != nil && (*s.IPv6Subnet < 0 || *s.IPv6Subnet > 128) {
				errs = append(errs, errors.New("rateLimit.sourceCriterion.ipStrategy.ipv6Subnet: 0..128"))
			}
		}
	}
	return errors.Join(errs...)
}

// ReplacePathRegex is Traefik's replacePathRegex middleware: the path is rewritten with Go's
// regexp (Traefik's own), $1 and the like expanding to the groups.
type ReplacePathRegex struct {
	Regex       string `json:"regex"`
	Replacement string `json:"replacement"`
}

// Rewrite returns path as the middleware forwards it.
func (m *ReplacePathRegex) Rewrite(path string) (string, error) {
	re, err := regexp.Compile(m.Regex)
	if err != nil {
		return "", fmt.Errorf("replacePathRegex.regex: %w", err)
	}
	if !re.MatchString(path) {
		return path, nil
	}
	return re.ReplaceAllString(path, m.Replacement), nil
}

// Headers is Traefik's headers middleware (dynamic.Headers, the fields we use): a "Host"
// custom request header sets req.Host; the rest are response headers of the secure part.
type Headers struct {
	CustomRequestHeaders    map[string]string `json:"customRequestHeaders,omitempty"`
	CustomResponseHeaders   map[string]string `json:"customResponseHeaders,omitempty"`
	STSSeconds              int64             `json:"stsSeconds,omitempty"`
	STSIncludeSubdomains    bool              `json:"stsIncludeSubdomains,omitempty"`
	STSPreload              bool              `json:"stsPreload,omitempty"`
	ForceSTSHeader          bool              `json:"forceSTSHeader,omitempty"`
	FrameDeny               bool              `json:"frameDeny,omitempty"`
	CustomFrameOptionsValue string            `json:"customFrameOptionsValue,omitempty"`
	ContentTypeNosniff      bool              `json:"contentTypeNosniff,omitempty"`
	ContentSecurityPolicy   string            `json:"contentSecurityPolicy,omitempty"`
	ReferrerPolicy          string            `json:"referrerPolicy,omitempty"`
	PermissionsPolicy       string            `json:"permissionsPolicy,omitempty"`
}

// ResponseHeaders returns the response headers the middleware sets on an HTTPS answer, as
// Traefik's secure headers (unrolled/secure) write them.
func (h *Headers) ResponseHeaders() map[string]string {
	out := map[string]string{}
	if h.STSSeconds > 0 {
		v := fmt.Sprintf("max-age=%d", h.STSSeconds)
		if h.STSIncludeSubdomains {
			v += "; includeSubDomains"
		}
		if h.STSPreload {
			v += "; preload"
		}
		out["Strict-Transport-Security"] = v
	}
	switch {
	case h.CustomFrameOptionsValue != "":
		out["X-Frame-Options"] = h.CustomFrameOptionsValue
	case h.FrameDeny:
		out["X-Frame-Options"] = "DENY"
	}
	if h.ContentTypeNosniff {
		out["X-Content-Type-Options"] = "nosniff"
	}
	if h.ContentSecurityPolicy != "" {
		out["Content-Security-Policy"] = h.ContentSecurityPolicy
	}
	if h.ReferrerPolicy != "" {
		out["Referrer-Policy"] = h.ReferrerPolicy
	}
	if h.PermissionsPolicy != "" {
		out["Permissions-Policy"] = h.PermissionsPolicy
	}
	for k, v := range h.CustomResponseHeaders {
		out[http.CanonicalHeaderKey(k)] = v
	}
	return out
}

// referrerPolicies are the values of the Referrer-Policy header (W3C Referrer Policy).
var referrerPolicies = []string{"no-referrer", "no-referrer-when-downgrade", "origin",
	"origin-when-cross-origin", "same-origin", "strict-origin", "strict-origin-when-cross-origin", "unsafe-url"}

func (h *Headers) check() error {
	var errs []error
	if h.STSSeconds < 0 {
		errs = append(errs, errors.New("headers.stsSeconds: must not be negative"))
	}
	if h.FrameDeny && h.CustomFrameOptionsValue != "" {
		errs = append(errs, errors.New("headers: frameDeny and customFrameOptionsValue both set X-Frame-Options"))
	}
	if p := h.ReferrerPolicy; p != "" && !slices.Contains(referrerPolicies, p) {
		errs = append(errs, fmt.Errorf("headers.referrerPolicy %q: not a Referrer-Policy value", p))
	}
	if csp := h.ContentSecurityPolicy; csp != "" {
		for _, d := range strings.Split(csp, ";") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), " ")
			if name == "" || strings.ToLower(name) != name {
				errs = append(errs, fmt.Errorf("headers.contentSecurityPolicy %q: directive %q", csp, d))
			}
		}
	}
	return errors.Join(errs...)
}

// RedirectScheme is Traefik's redirectScheme middleware.
type RedirectScheme struct {
	Scheme    string `json:"scheme,omitempty"`
	Port      string `json:"port,omitempty"`
	Permanent bool   `json:"permanent,omitempty"`
}

// Check validates what Traefik would refuse or ignore.
func (ir *IngressRoute) Check() error {
	var errs []error
	if len(ir.Spec.Routes) == 0 {
		errs = append(errs, errors.New("spec.routes: required"))
	}
	for _, ep := range ir.Spec.EntryPoints {
		if ep != "web" && ep != "websecure" {
			errs = append(errs, fmt.Errorf("entry point %q: K3s's Traefik has web and websecure", ep))
		}
	}
	for i, r := range ir.Spec.Routes {
		if r.Kind != "Rule" {
			errs = append(errs, fmt.Errorf("routes[%d].kind %q: want Rule", i, r.Kind))
		}
		if _, err := ParseRule(r.Match); err != nil {
			errs = append(errs, fmt.Errorf("routes[%d].match: %w", i, err))
		}
		if len(r.Services) == 0 {
			errs = append(errs, fmt.Errorf("routes[%d]: no services", i))
		}
		for _, s := range r.Services {
			if s.Name == "" || (s.Port.IntValue() == 0 && s.Port.StrVal == "") {
				errs = append(errs, fmt.Errorf("routes[%d]: service needs a name and a port", i))
			}
		}
	}
	return errors.Join(errs...)
}

// Check validates that the Middleware configures exactly one middleware.
func (m *Middleware) Check() error {
	n := 0
	if m.Spec.Headers != nil {
		n++
		if err := m.Spec.Headers.check(); err != nil {
			return err
		}
	}
	if m.Spec.RateLimit != nil {
		n++
		if err := m.Spec.RateLimit.check(); err != nil {
			return err
		}
	}
	if m.Spec.ReplacePathRegex != nil {
		n++
		if _, err := m.Spec.ReplacePathRegex.Rewrite("/"); err != nil {
			return err
		}
	}
	if m.Spec.RedirectScheme != nil {
		n++
		if s := m.Spec.RedirectScheme.Scheme; s != "https" && s != "http" {
			return fmt.Errorf("redirectScheme.scheme %q", s)
		}
	}
	if n != 1 {
		return fmt.Errorf("want exactly one middleware in spec, have %d", n)
	}
	return nil
}

// Rule is a parsed Traefik v3 match expression.
type Rule interface {
	// Matches reports whether a request with this host and path matches.
	Matches(host, path string) bool
}

type and struct{ l, r Rule }
type or struct{ l, r Rule }
type not struct{ r Rule }
type matcher struct {
	fn  string
	arg string
	re  *regexp.Regexp
}

func (a and) Matches(h, p string) bool { return a.l.Matches(h, p) && a.r.Matches(h, p) }
func (o or) Matches(h, p string) bool  { return o.l.Matches(h, p) || o.r.Matches(h, p) }
func (n not) Matches(h, p string) bool { return !n.r.Matches(h, p) }
func (m matcher) Matches(h, p string) bool {
	switch m.fn {
	case "Host":
		return strings.EqualFold(h, m.arg)
	case "Path":
		return p == m.arg
	case "PathPrefix":
		return strings.HasPrefix(p, m.arg)
	case "PathRegexp":
		return m.re.MatchString(p)
	}
	return false
}

// ParseRule parses the subset of Traefik v3's rule syntax this project uses: Host, Path,
// PathPrefix and PathRegexp with one argument, combined with &&, || , ! and parentheses.
// Matching follows Traefik's pkg/muxer/http/matcher.go.
func ParseRule(s string) (Rule, error) {
	p := &ruleParser{s: s}
	r, err := p.expr()
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q at %d", p.s[p.i:], p.i)
	}
	return r, nil
}

type ruleParser struct {
	s string
	i int
}

func (p *ruleParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *ruleParser) eat(tok string) bool {
	p.space()
	if strings.HasPrefix(p.s[p.i:], tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *ruleParser) expr() (Rule, error) {
	l, err := p.term()
	for err == nil && p.eat("||") {
		var r Rule
		if r, err = p.term(); err == nil {
			l = or{l, r}
		}
	}
	return l, err
}

func (p *ruleParser) term() (Rule, error) {
	l, err := p.factor()
	for err == nil && p.eat("&&") {
		var r Rule
		if r, err = p.factor(); err == nil {
			l = and{l, r}
		}
	}
	return l, err
}

func (p *ruleParser) factor() (Rule, error) {
	if p.eat("!") {
		r, err := p.factor()
		return not{r}, err
	}
	if p.eat("(") {
		r, err := p.expr()
		if err != nil {
			return nil, err
		}
		if !p.eat(")") {
			return nil, fmt.Errorf("missing ) at %d", p.i)
		}
		return r, nil
	}
	p.space()
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= 'A' && p.s[p.i] <= 'Z' || p.s[p.i] >= 'a' && p.s[p.i] <= 'z') {
		p.i++
	}
	fn := p.s[start:p.i]
	switch fn {
	case "Host", "Path", "PathPrefix", "PathRegexp":
	default:
		return nil, fmt.Errorf("matcher %q at %d is not supported here", fn, start)
	}
	if !p.eat("(") {
		return nil, fmt.Errorf("%s: missing (", fn)
	}
	p.space()
	if p.i >= len(p.s) || (p.s[p.i] != '`' && p.s[p.i] != '"') {
		return nil, fmt.Errorf("%s: argument must be quoted with ` or \"", fn)
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return nil, fmt.Errorf("%s: unterminated argument", fn)
	}
	arg := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	if !p.eat(")") {
		return nil, fmt.Errorf("%s: takes exactly one argument", fn)
	}
	m := matcher{fn: fn, arg: arg}
	switch fn {
	case "Path", "PathPrefix":
		if !strings.HasPrefix(arg, "/") {
			return nil, fmt.Errorf("%s(%q) does not start with /", fn, arg)
		}
	case "PathRegexp":
		re, err := regexp.Compile(arg)
		if err != nil {
			return nil, fmt.Errorf("PathRegexp: %w", err)
		}
		m.re = re
	}
	return m, nil
}
