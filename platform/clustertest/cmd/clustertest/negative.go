package main

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// negative is a one-line mistake in a copy of a real manifest that the stage must reject,
// through the API server's validation, a CRD schema, or an upstream admission webhook.
type negative struct {
	name       string
	kind, obj  string // which applied object to copy (Kind, name)
	mutate     func(u *unstructured.Unstructured) error
	wantInText string // a piece of the API server's own message
}

func set(path string, v any) func(u *unstructured.Unstructured) error {
	return func(u *unstructured.Unstructured) error { return setPath(u.Object, splitPath(path), v) }
}

// splitPath splits a dotted path; a dot written as \. stays inside its key.
func splitPath(path string) []string {
	parts := strings.Split(strings.ReplaceAll(path, `\.`, "\x00"), ".")
	for i := range parts {
		parts[i] = strings.ReplaceAll(parts[i], "\x00", ".")
	}
	return parts
}

// setPath sets a field below m, where a numeric element indexes a list that must exist.
func setPath(m any, path []string, v any) error {
	for i, p := range path {
		last := i == len(path)-1
		switch c := m.(type) {
		case map[string]any:
			if last {
				c[p] = v
				return nil
			}
			next, ok := c[p]
			if !ok {
				next = map[string]any{}
				c[p] = next
			}
			m = next
		case []any:
			var n int
			if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n >= len(c) {
				return fmt.Errorf("no element %s", p)
			}
			if last {
				c[n] = v
				return nil
			}
			m = c[n]
		default:
			return fmt.Errorf("cannot descend into %T at %s", m, p)
		}
	}
	return nil
}

var negatives_ = []negative{
	{"NetworkPolicy port protocol in lower case", "NetworkPolicy", "valkey-same-namespace",
		set("spec.ingress.0.ports.0.protocol", "tcp"), `Unsupported value: "tcp"`},
	{"container port name over 15 characters", "StatefulSet", "valkey",
		set("spec.template.spec.containers.0.ports.0.name", "valkey-primary-port"), "must be no more than 15 characters"},
	{"volume mount of a volume that does not exist", "StatefulSet", "valkey",
		func(u *unstructured.Unstructured) error {
			c, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			if len(c) == 0 {
				return fmt.Errorf("no containers")
			}
			m := c[0].(map[string]any)
			mounts, _ := m["volumeMounts"].([]any)
			m["volumeMounts"] = append(mounts, map[string]any{"name": "nowhere", "mountPath": "/nowhere"})
			return unstructured.SetNestedSlice(u.Object, c, "spec", "template", "spec", "containers")
		}, "Not found"},
	{"invalid label value", "StatefulSet", "valkey-sentinel",
		set("metadata.labels.app\\.kubernetes\\.io/part-of", "shortener!"), "a valid label must be"},
	{"LimitRange default above its max", "LimitRange", "defaults",
		set("spec.limits.0.max", map[string]any{"memory": "128Mi"}), "is greater than max value"},
	{"PodDisruptionBudget at 150%", "PodDisruptionBudget", "valkey",
		set("spec.maxUnavailable", "150%"), "must not be greater than 100%"},
	{"PodMonitor scheme outside its enum", "PodMonitor", "shortener-db",
		set("spec.podMetricsEndpoints.0.scheme", "ftp"), `Unsupported value: "ftp"`},
	{"Knative Service min-scale above max-scale (Serving's webhook)", "Service", "redirect",
		set("spec.template.metadata.annotations.autoscaling\\.knative\\.dev/min-scale", "20"), "min-scale"},
	{"Trigger without a subscriber (Eventing's webhook)", "Trigger", "events-writer",
		func(u *unstructured.Unstructured) error {
			unstructured.RemoveNestedField(u.Object, "spec", "subscriber")
			return nil
		}, "subscriber"},
	{"CNPG Cluster setting a parameter the operator fixes (CloudNativePG's webhook)", "Cluster", "shortener-db",
		set("spec.postgresql.parameters.listen_addresses", "*"), "listen_addresses"},
}

// negatives server-side dry-runs each broken copy and passes only if the API server refuses
// it; its message is printed, so a reader sees what the real cluster would have said.
func negatives(ctx context.Context, a *applier, all []object, rep *report) {
	for _, n := range negatives_ {
		var src *unstructured.Unstructured
		for _, o := range all {
			if o.u.GetKind() == n.kind && o.u.GetName() == n.obj {
				src = o.u
			}
		}
		rep.check("negative: "+n.name+" is rejected", func() error {
			if src == nil {
				return fmt.Errorf("no %s %s to copy", n.kind, n.obj)
			}
			u := src.DeepCopy()
			if err := n.mutate(u); err != nil {
				return fmt.Errorf("could not break the copy: %w", err)
			}
			err := a.apply(ctx, object{"broken copy", u}, true)
			if err == nil {
				return fmt.Errorf("the broken %s %s was accepted", n.kind, n.obj)
			}
			if !strings.Contains(err.Error(), n.wantInText) {
				return fmt.Errorf("rejected, but not for the mistake (want %q): %v", n.wantInText, err)
			}
			logf("     the API server said: %v", err)
			return nil
		}())
	}
}
