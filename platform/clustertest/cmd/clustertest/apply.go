package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// fieldManager is install.sh's.
const fieldManager = "shortener-platform"

// object is one document to apply, with where it came from.
type object struct {
	source string
	u      *unstructured.Unstructured
}

func (o object) String() string {
	ns := o.u.GetNamespace()
	if ns != "" {
		ns += "/"
	}
	return fmt.Sprintf("%s %s%s (%s)", o.u.GetKind(), ns, o.u.GetName(), o.source)
}

// decode splits a YAML stream into objects, dropping empty documents.
func decode(source string, data []byte) ([]object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []object
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if len(m) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		if u.GetKind() == "List" {
			items, _ := m["items"].([]any)
			for _, it := range items {
				if im, ok := it.(map[string]any); ok {
					out = append(out, object{source, &unstructured.Unstructured{Object: im}})
				}
			}
			continue
		}
		out = append(out, object{source, u})
	}
}

// kustomize builds dir the way `kubectl kustomize` does (krusty, default options).
func kustomize(dir string) ([]byte, error) {
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return rm.AsYaml()
}

// applier server-side applies objects with install.sh's field manager.
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

func newApplier(cp *controlPlane) (*applier, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cp.config)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cp.config)
	if err != nil {
		return nil, err
	}
	return &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

func (a *applier) resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := u.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		a.mapper.Reset()
		if m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return nil, err
		}
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := u.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		return a.dyn.Resource(m.Resource).Namespace(ns), nil
	}
	return a.dyn.Resource(m.Resource), nil
}

// get reads one object of a kind.
func (a *applier) get(ctx context.Context, apiVersion, kind, ns, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(ns)
	r, err := a.resource(u)
	if err != nil {
		return nil, err
	}
	return r.Get(ctx, name, metav1.GetOptions{})
}

// apply server-side applies one object (as `kubectl apply --server-side --force-conflicts`).
func (a *applier) apply(ctx context.Context, o object, dryRun bool) error {
	r, err := a.resource(o.u)
	if err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = r.Apply(ctx, o.u.GetName(), o.u, opts)
	return err
}

// applyAll applies objects in order and returns every rejection, each with the API server's
// own message. A webhook that has just started may not serve yet: such errors are retried.
func (a *applier) applyAll(ctx context.Context, objs []object, dryRun bool) []error {
	var errs []error
	for _, o := range objs {
		var err error
		for try := 0; ; try++ {
			err = a.apply(ctx, o, dryRun)
			if err == nil || try >= 40 || !transient(err) {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o, err))
		}
	}
	return errs
}

// transient reports errors that say a webhook or a just-created CRD is not serving yet,
// rather than that the object is wrong.
func transient(err error) bool {
	if apierrors.IsInternalError(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || meta.IsNoMatchError(err) {
		return true
	}
	s := err.Error()
	for _, t := range []string{"failed calling webhook", "connection refused", "no endpoints available", "the server could not find the requested resource", "x509:", "context deadline exceeded"} {
		if strings.Contains(s, t) {
			return true
		}
	}
	return false
}

// splitCRDs separates CustomResourceDefinitions (and Namespaces) from everything else.
func splitCRDs(objs []object) (crds, namespaces, rest []object) {
	for _, o := range objs {
		switch o.u.GetKind() {
		case "CustomResourceDefinition":
			crds = append(crds, o)
		case "Namespace":
			namespaces = append(namespaces, o)
			rest = append(rest, o)
		default:
			rest = append(rest, o)
		}
	}
	return
}

// dedupe keeps the first of objects with the same kind, namespace and name (the release
// files repeat their CRDs; install.sh applies them more than once).
func dedupe(objs []object) []object {
	seen := map[string]bool{}
	var out []object
	for _, o := range objs {
		k := o.u.GroupVersionKind().GroupKind().String() + "/" + o.u.GetNamespace() + "/" + o.u.GetName()
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, o)
	}
	return out
}

// waitEstablished waits until every CRD applied reports Established.
func (a *applier) waitEstablished(ctx context.Context, crds []object) error {
	return poll(ctx, 60*time.Second, "CRDs Established", func() (bool, error) {
		for _, c := range crds {
			u, err := a.get(ctx, "apiextensions.k8s.io/v1", "CustomResourceDefinition", "", c.u.GetName())
			if err != nil || !condTrue(u, "Established") {
				return false, nil
			}
		}
		a.mapper.Reset()
		return true, nil
	})
}

// condTrue reports whether status.conditions has type t with status True.
func condTrue(u *unstructured.Unstructured, t string) bool {
	c := cond(u, t)
	return c != nil && c["status"] == "True"
}

func cond(u *unstructured.Unstructured, t string) map[string]any {
	cs, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok && m["type"] == t {
			return m
		}
	}
	return nil
}

// condSummary is a short account of an object's conditions, for failure messages.
func condSummary(u *unstructured.Unstructured) string {
	cs, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var parts []string
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok {
			s := fmt.Sprintf("%v=%v", m["type"], m["status"])
			if m["status"] != "True" && m["message"] != nil {
				s += fmt.Sprintf(" (%v: %v)", m["reason"], m["message"])
			}
			parts = append(parts, s)
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "no conditions"
	}
	return strings.Join(parts, ", ")
}
