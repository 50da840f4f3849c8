package check

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// HelmChartConfig is K3s's override of a bundled chart's values, with the fields of
// k3s-io/helm-controller's pkg/apis/helm.cattle.io/v1 (a module too heavy to import for two
// strings). Only the tests decode manifests, so the kind is registered here.
type HelmChartConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              HelmChartConfigSpec `json:"spec,omitempty"`
}

// HelmChartConfigSpec holds the values merged into the chart's, as YAML text.
type HelmChartConfigSpec struct {
	ValuesContent string `json:"valuesContent,omitempty"`
	FailurePolicy string `json:"failurePolicy,omitempty"`
}

func init() {
	kinds[gvk("helm.cattle.io", "v1", "HelmChartConfig")] = func() any { return &HelmChartConfig{} }
}

// CheckTraefikService wants the HelmChartConfig K3s merges into its Traefik chart (it must
// be kube-system/traefik, the HelmChart's own name) to give Traefik's Service
// externalTrafficPolicy Local, so that Traefik sees clients' addresses. The chart copies
// service.spec into the Service's spec, so that part is decoded strictly as a ServiceSpec.
func CheckTraefikService(hc *HelmChartConfig) error {
	if hc.Namespace != "kube-system" || hc.Name != "traefik" {
		return fmt.Errorf("HelmChartConfig %s/%s: K3s merges only kube-system/traefik into its Traefik chart", hc.Namespace, hc.Name)
	}
	var values struct {
		Service struct {
			Spec map[string]any `json:"spec"`
		} `json:"service"`
	}
	if err := yaml.Unmarshal([]byte(hc.Spec.ValuesContent), &values); err != nil {
		return fmt.Errorf("valuesContent: %w", err)
	}
	raw, err := yaml.Marshal(values.Service.Spec)
	if err != nil {
		return err
	}
	var spec corev1.ServiceSpec
	if err := yaml.UnmarshalStrict(raw, &spec); err != nil {
		return fmt.Errorf("valuesContent service.spec: %w", err)
	}
	if spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		return fmt.Errorf("service.spec.externalTrafficPolicy %q: want Local, or Traefik sees a node's address instead of the client's", spec.ExternalTrafficPolicy)
	}
	return nil
}

func traefikConfig(t *testing.T) *HelmChartConfig {
	t.Helper()
	return findDoc(t, builds(t)["platform/traefik"], "HelmChartConfig", "traefik").Obj.(*HelmChartConfig)
}

// TestTraefikKeepsClientAddress: the per-client rate limits need Traefik's Service to keep
// the source address (platform/traefik/helmchartconfig.yaml), and the routes stay in
// kourier-system now that the kustomization sets no namespace.
func TestTraefikKeepsClientAddress(t *testing.T) {
	if err := CheckTraefikService(traefikConfig(t)); err != nil {
		t.Error(err)
	}
	for _, d := range builds(t)["platform/traefik"] {
		if _, ok := d.Obj.(*HelmChartConfig); !ok && d.Namespace() != "kourier-system" {
			t.Errorf("%s: want namespace kourier-system, beside the kourier Service it routes to", d)
		}
	}
}

// TestNegativeTraefikKeepsClientAddress: the default policy, a missing or misspelt key, and
// a HelmChartConfig K3s would not merge must fail.
func TestNegativeTraefikKeepsClientAddress(t *testing.T) {
	values := func(s string) func(*HelmChartConfig) {
		return func(hc *HelmChartConfig) { hc.Spec.ValuesContent = s }
	}
	cases := map[string]func(*HelmChartConfig){
		"Cluster":        values("service:\n  spec:\n    externalTrafficPolicy: Cluster\n"),
		"NoValues":       values(""),
		"OtherValues":    values("ports:\n  websecure:\n    tls:\n      enabled: true\n"),
		"MisspeltKey":    values("service:\n  spec:\n    externalTraficPolicy: Local\n"),
		"TopLevelKey":    values("externalTrafficPolicy: Local\n"),
		"NotYAML":        values("service: [spec\n"),
		"WrongNamespace": func(hc *HelmChartConfig) { hc.Namespace = "kourier-system" },
		"WrongName":      func(hc *HelmChartConfig) { hc.Name = "traefik-config" },
	}
	for name, breakIt := range cases {
		t.Run(name, func(t *testing.T) {
			hc := traefikConfig(t)
			breakIt(hc)
			err := CheckTraefikService(hc)
			if err == nil {
				t.Fatal("the broken HelmChartConfig was accepted")
			}
			t.Logf("rejected: %v", firstLine(err))
		})
	}
	// A typo in the object itself fails the strict decode every manifest gets.
	typo := "apiVersion: helm.cattle.io/v1\nkind: HelmChartConfig\nmetadata: {name: traefik, namespace: kube-system}\nspec: {valueContent: x}\n"
	if _, err := Decode("typo", []byte(typo)); err == nil {
		t.Error("spec.valueContent (a typo) was decoded")
	}
}
