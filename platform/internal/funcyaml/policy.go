package funcyaml

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Namespace is where every function runs.
const Namespace = "shortener"

// secretEnvs must come from a Secret, never a literal in git.
var secretEnvs = []string{"DATABASE_URL", "DATABASE_RO_URL", "VALKEY_PASSWORD", "ADMIN_API_KEY"}

// Access control in the cluster (platform/README.md "Access control"): every function with a
// public route runs with API keys on, the admin key from the Secret install.sh generates,
// and the trusted proxies from the one ConfigMap of platform/shortener/access.yaml.
const (
	EventsWriter        = "events-writer" // the one function without a public route
	AdminKeySecret      = "shortener-admin-api-key"
	AdminKeySecretKey   = "key"
	AccessConfigMap     = "shortener-access"
	TrustedProxiesKey   = "trusted-proxies"
	adminKeyRef         = "{{ secret:" + AdminKeySecret + ":" + AdminKeySecretKey + " }}"
	trustedProxiesRef   = "{{ configMap:" + AccessConfigMap + ":" + TrustedProxiesKey + " }}"
	accessControlEnvDoc = "see platform/README.md \"Access control\""
)

// accessEnvs are the settings of access control; the events-writer carries none of them.
var accessEnvs = []string{"AUTH_MODE", "ADMIN_API_KEY", "TRUSTED_PROXIES", "RATE_LIMIT_WRITES", "RATE_LIMIT_REDIRECTS", "CORS_ALLOWED_ORIGINS"}

// ratePattern is what shared/access.ParseRate takes: N/s, N/m, N/h or N/<count><unit>.
var ratePattern = regexp.MustCompile(`^[1-9][0-9]*/([1-9][0-9]*)?[smh]$`)

// CheckPolicy applies this project's rules to functions/<name>/func.yaml on top of Validate:
// the things that would deploy fine but wrong.
func (f *Function) CheckPolicy(dir string) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if want := filepath.Base(dir); f.Name != want {
		add("name %q: must equal its folder %q (it is the Knative Service name)", f.Name, want)
	}
	if f.Runtime != "go" {
		add("runtime %q: want go", f.Runtime)
	}
	if f.Build.Builder != "host" {
		add("build.builder %q: want host", f.Build.Builder)
	}
	if f.Namespace != Namespace {
		add("namespace %q: want %q", f.Namespace, Namespace)
	}

	envs := map[string]string{}
	for _, e := range f.Run.Envs {
		if e.Name != nil && e.Value != nil {
			envs[*e.Name] = *e.Value
		}
	}
	if envs["FUNCTION"] != f.Name {
		add("run.envs FUNCTION=%q: want %q", envs["FUNCTION"], f.Name)
	}
	if _, ok := envs["DATABASE_URL"]; !ok {
		add("run.envs: DATABASE_URL missing")
	}
	for _, name := range secretEnvs {
		if v, ok := envs[name]; ok && !regKeyFromSecret.MatchString(v) {
			add("run.envs %s: must be a {{ secret:NAME:KEY }} reference", name)
		}
	}

	errs = append(errs, checkAccess(f.Name, envs)...)

	// func deploy copies deploy.annotations onto the Service's own metadata as well as the
	// revision template, and Knative's webhook rejects autoscaling keys there
	// (knative/func#307). Per-function autoscaling goes through deploy.options.scale only.
	for k := range f.Deploy.Annotations {
		if strings.HasPrefix(k, "autoscaling.knative.dev/") {
			add("deploy.annotations %s: autoscaling keys would land on the Service metadata, which Knative rejects; use deploy.options.scale or config-autoscaler", k)
		}
	}

	s := f.Deploy.Options.Scale
	switch {
	case s == nil:
		add("deploy.options.scale: required")
	default:
		if s.Min == nil {
			add("deploy.options.scale.min: required")
		}
		if s.Max == nil || *s.Max < 1 {
			add("deploy.options.scale.max: required and at least 1 (0 means unbounded)")
		}
		if s.Metric == nil {
			add("deploy.options.scale.metric: required")
		}
		if s.Target == nil {
			add("deploy.options.scale.target: required")
		}
	}

	r := f.Deploy.Options.Resources
	if r == nil || r.Requests == nil || r.Limits == nil ||
		r.Requests.CPU == nil || r.Requests.Memory == nil || r.Limits.CPU == nil || r.Limits.Memory == nil {
		add("deploy.options.resources: cpu and memory requests and limits are required")
	} else {
		for _, p := range [][2]*string{{r.Requests.CPU, r.Limits.CPU}, {r.Requests.Memory, r.Limits.Memory}} {
			req, err1 := resource.ParseQuantity(*p[0])
			lim, err2 := resource.ParseQuantity(*p[1])
			if err1 == nil && err2 == nil && req.Cmp(lim) > 0 {
				add("deploy.options.resources: request %s above limit %s", *p[0], *p[1])
			}
		}
	}
	return errors.Join(errs...)
}

// checkAccess: public functions have AUTH_MODE=keys, ADMIN_API_KEY from the install's
// Secret (never a literal) and TRUSTED_PROXIES from the shared ConfigMap; rate limits, when
// set, are rates the functions can read. The events-writer gets none of it: it has no
// public route, and a CloudEvents receiver has no use for the admin key.
func checkAccess(name string, envs map[string]string) (errs []error) {
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if name == EventsWriter {
		for _, k := range accessEnvs {
			if _, ok := envs[k]; ok {
				add("run.envs %s: the events-writer has no public route; access control does not apply to it (%s)", k, accessControlEnvDoc)
			}
		}
		return errs
	}
	if v := envs["AUTH_MODE"]; v != "keys" {
		add("run.envs AUTH_MODE=%q: every public function runs with keys (%s)", v, accessControlEnvDoc)
	}
	if v, ok := envs["ADMIN_API_KEY"]; !ok || v != adminKeyRef {
		add("run.envs ADMIN_API_KEY: want '%s', the Secret install.sh generates (%s)", adminKeyRef, accessControlEnvDoc)
	}
	if v := envs["TRUSTED_PROXIES"]; v != trustedProxiesRef {
		add("run.envs TRUSTED_PROXIES=%q: want '%s', the one place the proxies are listed", v, trustedProxiesRef)
	}
	for _, k := range []string{"RATE_LIMIT_WRITES", "RATE_LIMIT_REDIRECTS"} {
		if v, ok := envs[k]; ok && !ratePattern.MatchString(v) {
			add("run.envs %s=%q: want N/s, N/m or N/h (such as 120/m)", k, v)
		}
	}
	return errs
}

// CheckRootPolicy checks the root func.yaml, which only builds the shared image.
func (f *Function) CheckRootPolicy() error {
	var errs []error
	if f.Runtime != "go" {
		errs = append(errs, fmt.Errorf("runtime %q: want go", f.Runtime))
	}
	if f.Build.Builder != "host" {
		errs = append(errs, fmt.Errorf("build.builder %q: want host", f.Build.Builder))
	}
	return errors.Join(errs...)
}
