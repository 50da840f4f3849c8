package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Modules whose YAML is read but whose code is not built: versions pinned here, fetched from
// the Go module proxy once (then from the module cache).
const (
	traefikModule    = "github.com/traefik/traefik/v3@v3.6.12"
	promOperatorMod  = "github.com/prometheus-operator/prometheus-operator@v0.92.0"
	helmCtrlModule   = "github.com/k3s-io/helm-controller@v0.17.9" // K3s's HelmChart controller
	traefikCRDFile   = "docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"
	promOperatorCRDs = "example/prometheus-operator-crd"
	helmCtrlCRDs     = "pkg/crds/yaml/generated"
)

var koRef = regexp.MustCompile(`ko://[A-Za-z0-9._/-]+`)

// digestFor turns a ko:// import path into an image reference by digest, as a release has:
// a tag would make Knative resolve it against a registry, which nothing here can reach.
func digestFor(ko []byte) []byte {
	sum := sha256.Sum256(ko)
	return []byte(fmt.Sprintf("registry.invalid/%s@sha256:%x", strings.TrimPrefix(string(ko), "ko://"), sum))
}

// yamlFiles concatenates every YAML file below dir (or the file itself), in path order as
// `ko resolve -f` walks them, skipping stray editor or merge copies.
func yamlFiles(paths ...string) ([]byte, error) {
	var files []string
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if strings.Contains(d.Name(), "~") || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				return nil
			}
			files = append(files, path)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(koRef.ReplaceAllFunc(data, digestFor))
		out.WriteString("\n")
	}
	return out.Bytes(), nil
}

// tree copies platform/ and eventing/ (their YAML) from the repository to dir and writes each
// */upstream/ file install.sh would download, assembled from the Go modules' config/ folders:
// the release YAML itself is not on the module proxy. Kourier is not either (nor is its
// controller), so its file is the offline tests' stand-in.
func tree(repo, dir string) error {
	for _, sub := range []string{"platform", "eventing"} {
		src := filepath.Join(repo, sub)
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(repo, path)
			if d.IsDir() {
				switch d.Name() {
				case "upstream", "clustertest", "cmd", "internal", ".git":
					return filepath.SkipDir
				}
				return os.MkdirAll(filepath.Join(dir, rel), 0o755)
			}
			if !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, rel), data, 0o644)
		})
		if err != nil {
			return err
		}
	}
	mods := map[string]string{}
	for _, m := range []string{"knative.dev/serving", "knative.dev/networking", "knative.dev/caching", "knative.dev/eventing", "github.com/cloudnative-pg/cloudnative-pg"} {
		d, err := moduleDir(m)
		if err != nil {
			return err
		}
		mods[m] = d
	}
	sv, nw, ca, ev := mods["knative.dev/serving"], mods["knative.dev/networking"], mods["knative.dev/caching"], mods["knative.dev/eventing"]
	// In the serving repository these networking and caching files are symlinks, which module
	// zips leave out.
	servingCRDs := []string{
		filepath.Join(sv, "config/core/300-resources"), filepath.Join(ca, "config/image.yaml"),
		filepath.Join(nw, "config/certificate.yaml"), filepath.Join(nw, "config/domain-claim.yaml"),
		filepath.Join(nw, "config/ingress.yaml"), filepath.Join(nw, "config/serverlessservice.yaml"),
	}
	files := []struct {
		dest  string
		paths []string
	}{
		{"platform/knative-serving/upstream/serving-crds.yaml", servingCRDs},
		// config/core holds 300-resources itself.
		{"platform/knative-serving/upstream/serving-core.yaml", append(append([]string{}, servingCRDs[1:]...),
			filepath.Join(sv, "config/core"), filepath.Join(nw, "config/config-network.yaml"))},
		{"platform/knative-eventing/upstream/eventing-crds.yaml", []string{filepath.Join(ev, "config/core/resources")}},
		{"platform/knative-eventing/upstream/eventing-core.yaml", []string{filepath.Join(ev, "config/core")}},
		{"platform/knative-eventing/upstream/in-memory-channel.yaml", []string{filepath.Join(ev, "config/channels/in-memory-channel")}},
		{"platform/knative-eventing/upstream/mt-channel-broker.yaml", []string{filepath.Join(ev, "config/brokers/mt-channel-broker")}},
		{"platform/cnpg-operator/upstream/cnpg.yaml", []string{filepath.Join(mods["github.com/cloudnative-pg/cloudnative-pg"], "releases/cnpg-1.30.0.yaml")}},
		{"platform/kourier/upstream/kourier.yaml", []string{filepath.Join(repo, "platform/internal/check/testdata/upstream/kourier/kourier.yaml")}},
	}
	for _, f := range files {
		data, err := yamlFiles(f.paths...)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f.dest)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, f.dest), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// extraCRDs are the CRDs of what K3s and the monitoring stack bring: Traefik's (install.sh's
// preflight requires them), K3s's HelmChart and HelmChartConfig (traefik/ configures K3s's
// Traefik chart with one) and Prometheus Operator's (so podmonitors/ is applied).
func extraCRDs() ([]byte, error) {
	td, err := moduleDir(traefikModule)
	if err != nil {
		return nil, err
	}
	hd, err := moduleDir(helmCtrlModule)
	if err != nil {
		return nil, err
	}
	pd, err := moduleDir(promOperatorMod)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(filepath.Join(pd, promOperatorCRDs))
	if err != nil {
		return nil, err
	}
	paths := []string{filepath.Join(td, traefikCRDFile), filepath.Join(hd, helmCtrlCRDs)}
	for _, e := range entries {
		paths = append(paths, filepath.Join(pd, promOperatorCRDs, e.Name()))
	}
	sort.Strings(paths[2:])
	return yamlFiles(paths...)
}
