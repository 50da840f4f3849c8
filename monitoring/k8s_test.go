package monitoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	"gopkg.in/yaml.v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// yamlDocs splits a multi-document YAML file into its documents.
func yamlDocs(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs [][]byte
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out, err := yaml.Marshal(&n)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, out)
	}
	return docs
}

// decodeStrict decodes document i of a YAML file into a Kubernetes API type, failing on
// any field the type does not have (a typo the API server would silently drop).
func decodeStrict(t *testing.T, path string, i int, v any) {
	t.Helper()
	docs := yamlDocs(t, path)
	if i >= len(docs) {
		t.Fatalf("%s: no document %d", path, i)
	}
	j, err := sigsyaml.YAMLToJSON(docs[i])
	if err != nil {
		t.Fatalf("%s doc %d: %v", path, i, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s doc %d: %v", path, i, err)
	}
}

// TestManifestsMatchOperatorTypes decodes every prometheus-operator resource into the
// operator's Go types (pkg/apis/monitoring) with unknown fields rejected.
func TestManifestsMatchOperatorTypes(t *testing.T) {
	paths, _ := filepath.Glob("k8s/*.yaml")
	if len(paths) == 0 {
		t.Fatal("no manifests in k8s/")
	}
	kinds := map[string]int{}
	for _, p := range paths {
		for i, doc := range yamlDocs(t, p) {
			var meta struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
				Metadata   struct {
					Name      string `yaml:"name"`
					Namespace string `yaml:"namespace"`
				} `yaml:"metadata"`
			}
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s doc %d: %v", p, i, err)
			}
			if meta.Metadata.Namespace == "" {
				t.Errorf("%s doc %d (%s %s): no namespace", p, i, meta.Kind, meta.Metadata.Name)
			}
			kinds[meta.Kind]++
			switch meta.APIVersion + "/" + meta.Kind {
			case "monitoring.coreos.com/v1/PodMonitor":
				var pm monitoringv1.PodMonitor
				decodeStrict(t, p, i, &pm)
				for _, ep := range pm.Spec.PodMetricsEndpoints {
					if ep.Port == nil || *ep.Port == "" {
						t.Errorf("%s: PodMonitor %s has an endpoint without a port name", p, pm.Name)
					}
				}
			case "monitoring.coreos.com/v1/PrometheusRule":
				var pr monitoringv1.PrometheusRule
				decodeStrict(t, p, i, &pr)
				for _, g := range pr.Spec.Groups {
					for _, r := range g.Rules {
						if _, err := promqlParser.ParseExpr(r.Expr.String()); err != nil {
							t.Errorf("%s: %s%s: %v", p, r.Alert, r.Record, err)
						}
					}
				}
			case "monitoring.coreos.com/v1alpha1/AlertmanagerConfig":
				var ac monitoringv1alpha1.AlertmanagerConfig
				decodeStrict(t, p, i, &ac)
			default:
				t.Errorf("%s doc %d: unexpected %s %s", p, i, meta.APIVersion, meta.Kind)
			}
		}
	}
	for _, k := range []string{"PodMonitor", "PrometheusRule", "AlertmanagerConfig"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in k8s/", k)
		}
	}
}

// TestKustomizeBuild builds kustomization.yaml with the kustomize library (what
// `kubectl apply -k` runs) and checks what it would install.
func TestKustomizeBuild(t *testing.T) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), ".")
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	got := map[string]bool{}
	for _, r := range resMap.Resources() {
		id := r.GetKind() + " " + r.GetNamespace() + "/" + r.GetName()
		got[id] = true
		if r.GetNamespace() == "" {
			t.Errorf("%s has no namespace", id)
		}
		if r.GetKind() == "ConfigMap" && r.GetName() == "shortener-grafana-dashboards" {
			data := r.GetDataMap()
			paths, _ := filepath.Glob(dashboardGlob)
			for _, p := range paths {
				want, _ := os.ReadFile(p)
				if data[filepath.Base(p)] != string(want) {
					t.Errorf("dashboard ConfigMap: %s missing or different", filepath.Base(p))
				}
			}
			if r.GetLabels()["grafana_dashboard"] != "1" {
				t.Errorf("dashboard ConfigMap lacks label grafana_dashboard=1 for the Grafana sidecar")
			}
		}
	}
	var ids []string
	for id := range got {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	t.Logf("kustomize build yields:\n  %s", strings.Join(ids, "\n  "))
	for _, want := range []string{
		"PodMonitor shortener/shortener-functions",
		"PodMonitor shortener/knative-queue-proxy",
		"PodMonitor shortener/cnpg-shortener-db",
		"PodMonitor shortener/valkey",
		"PrometheusRule shortener/shortener",
		"AlertmanagerConfig shortener/shortener",
		"ConfigMap monitoring/shortener-grafana-dashboards",
		"ConfigMap monitoring/shortener-grafana-datasource-loki",
		"ConfigMap monitoring/alloy-shortener",
	} {
		if !got[want] {
			t.Errorf("kustomize build lacks %s", want)
		}
	}
}
