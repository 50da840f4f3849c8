package funcyaml

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Namespace is where every function runs.
const Namespace = "shortener"

// secretEnvs must come from a Secret, never a literal in git.
var secretEnvs = []string{"DATABASE_URL", "DATABASE_RO_URL", "VALKEY_PASSWORD"}

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
