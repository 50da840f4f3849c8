// Package check is the offline proof of the cluster manifests: it decodes every document
// strictly into the real Go types of the software that will read it (Kubernetes, Knative
// Serving and Eventing v0.50.0, CloudNativePG v1.30.0) and runs the validation those
// projects' webhooks run, plus the project's own rules where a webhook cannot be imported.
package check

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	cnpgv1 "github.com/cloudnative-pg/cloudnative-pg/api/v1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// Object is a decoded manifest with the metadata every kind has.
type Object interface {
	GetName() string
	GetNamespace() string
	GetLabels() map[string]string
	GetAnnotations() map[string]string
}

// Doc is one YAML document of a file, decoded.
type Doc struct {
	Source string // file (and document index) or kustomization it came from
	GVK    schema.GroupVersionKind
	Obj    any // pointer to the typed object
}

// Name is the object's name, or "" for a Kustomization.
func (d *Doc) Name() string {
	if o, ok := d.Obj.(Object); ok {
		return o.GetName()
	}
	return ""
}

// Namespace is the object's namespace.
func (d *Doc) Namespace() string {
	if o, ok := d.Obj.(Object); ok {
		return o.GetNamespace()
	}
	return ""
}

func (d *Doc) String() string {
	return fmt.Sprintf("%s %s/%s (%s)", d.GVK.Kind, d.Namespace(), d.Name(), d.Source)
}

// kinds maps every kind this project ships to the Go type that the reader of that kind uses.
// A kind missing here is an error: add its real type rather than skipping it.
var kinds = map[schema.GroupVersionKind]func() any{
	gvk("", "v1", "Namespace"):                                                  func() any { return &corev1.Namespace{} },
	gvk("", "v1", "ConfigMap"):                                                  func() any { return &corev1.ConfigMap{} },
	gvk("", "v1", "Secret"):                                                     func() any { return &corev1.Secret{} },
	gvk("", "v1", "Service"):                                                    func() any { return &corev1.Service{} },
	gvk("", "v1", "ServiceAccount"):                                             func() any { return &corev1.ServiceAccount{} },
	gvk("", "v1", "LimitRange"):                                                 func() any { return &corev1.LimitRange{} },
	gvk("apps", "v1", "Deployment"):                                             func() any { return &appsv1.Deployment{} },
	gvk("apps", "v1", "StatefulSet"):                                            func() any { return &appsv1.StatefulSet{} },
	gvk("apps", "v1", "DaemonSet"):                                              func() any { return &appsv1.DaemonSet{} },
	gvk("batch", "v1", "Job"):                                                   func() any { return &batchv1.Job{} },
	gvk("policy", "v1", "PodDisruptionBudget"):                                  func() any { return &policyv1.PodDisruptionBudget{} },
	gvk("autoscaling", "v2", "HorizontalPodAutoscaler"):                         func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	gvk("networking.k8s.io", "v1", "NetworkPolicy"):                             func() any { return &networkingv1.NetworkPolicy{} },
	gvk("rbac.authorization.k8s.io", "v1", "Role"):                              func() any { return &rbacv1.Role{} },
	gvk("rbac.authorization.k8s.io", "v1", "RoleBinding"):                       func() any { return &rbacv1.RoleBinding{} },
	gvk("rbac.authorization.k8s.io", "v1", "ClusterRole"):                       func() any { return &rbacv1.ClusterRole{} },
	gvk("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"):                func() any { return &rbacv1.ClusterRoleBinding{} },
	gvk("serving.knative.dev", "v1", "Service"):                                 func() any { return &servingv1.Service{} },
	gvk("eventing.knative.dev", "v1", "Broker"):                                 func() any { return &eventingv1.Broker{} },
	gvk("eventing.knative.dev", "v1", "Trigger"):                                func() any { return &eventingv1.Trigger{} },
	gvk("sources.knative.dev", "v1", "PingSource"):                              func() any { return &sourcesv1.PingSource{} },
	gvk("sources.knative.dev", "v1", "SinkBinding"):                             func() any { return &sourcesv1.SinkBinding{} },
	gvk("postgresql.cnpg.io", "v1", "Cluster"):                                  func() any { return &cnpgv1.Cluster{} },
	gvk("postgresql.cnpg.io", "v1", "Pooler"):                                   func() any { return &cnpgv1.Pooler{} },
	gvk("monitoring.coreos.com", "v1", "PodMonitor"):                            func() any { return &monitoringv1.PodMonitor{} },
	gvk("traefik.io", "v1alpha1", "IngressRoute"):                               func() any { return &IngressRoute{} },
	gvk("traefik.io", "v1alpha1", "Middleware"):                                 func() any { return &Middleware{} },
	gvk("kustomize.config.k8s.io", "v1beta1", "Kustomization"):                  func() any { return &kustypes.Kustomization{} },
	gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"):               nil, // upstream only: not decoded
	gvk("admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration"): nil,
	gvk("admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration"):   nil,
	gvk("networking.internal.knative.dev", "v1alpha1", "Certificate"):           nil,
	gvk("caching.internal.knative.dev", "v1alpha1", "Image"):                    nil,
}

func gvk(group, version, kind string) schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: group, Version: version, Kind: kind}
}

// ClusterScoped reports whether objects of this kind have no namespace.
func ClusterScoped(k schema.GroupVersionKind) bool {
	switch k.Kind {
	case "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
		"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "Kustomization":
		return true
	}
	return false
}

// SplitYAML splits a multi-document YAML stream, dropping empty documents.
func SplitYAML(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		docs = append(docs, doc)
	}
}

func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// Decode decodes one document strictly into the Go type registered for its kind: unknown
// fields, duplicate fields and wrong types are errors.
func Decode(source string, raw []byte) (*Doc, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(raw, &tm); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	k := schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
	if tm.Kind == "" || tm.APIVersion == "" {
		return nil, fmt.Errorf("%s: no apiVersion/kind", source)
	}
	newObj, known := kinds[k]
	if !known {
		return nil, fmt.Errorf("%s: kind %s is not registered in platform/internal/check", source, k)
	}
	if newObj == nil {
		return &Doc{Source: source, GVK: k}, nil
	}
	obj := newObj()
	if err := yaml.UnmarshalStrict(raw, obj); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", source, k.Kind, err)
	}
	return &Doc{Source: source, GVK: k, Obj: obj}, nil
}

// DecodeAll decodes every document of a YAML stream.
func DecodeAll(source string, data []byte) ([]*Doc, error) {
	raws, err := SplitYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var docs []*Doc
	var errs []error
	for i, raw := range raws {
		d, err := Decode(fmt.Sprintf("%s#%d", source, i), raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		docs = append(docs, d)
	}
	return docs, errors.Join(errs...)
}

// YAMLFiles lists the .yaml/.yml files under root that this project owns: it skips
// downloaded upstream releases, test data and func.yaml (checked by package funcyaml).
func YAMLFiles(roots ...string) ([]string, error) {
	var files []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				switch d.Name() {
				case "upstream", "testdata", ".git":
					return filepath.SkipDir
				}
				return nil
			}
			if (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) && d.Name() != "func.yaml" {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return files, nil
}
