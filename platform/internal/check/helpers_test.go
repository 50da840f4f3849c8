package check

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/urlshort/shortener/platform/internal/funcyaml"
)

// repo locates the repository root from the test's working directory.
func repo(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "platform", "versions.env")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("repository root not found")
		}
		dir = parent
	}
}

var (
	clusterOnce sync.Once
	clusterVal  *Cluster
	clusterErr  error
)

// cluster is the Knative configuration of our platform, loaded once.
func cluster(t testing.TB) *Cluster {
	t.Helper()
	clusterOnce.Do(func() { clusterVal, clusterErr = LoadCluster(filepath.Join(repo(t), "platform")) })
	if clusterErr != nil {
		t.Fatal(clusterErr)
	}
	return clusterVal
}

// versions reads platform/versions.env (KEY=VALUE lines with ${KEY} and ${KEY:-default}).
func versions(t testing.TB) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join(repo(t), "platform", "versions.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vars := map[string]string{}
	ref := regexp.MustCompile(`\$\{([A-Z_]+)(:-([^}]*))?\}`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("versions.env: bad line %q", line)
		}
		vars[k] = ref.ReplaceAllStringFunc(v, func(m string) string {
			sub := ref.FindStringSubmatch(m)
			if val, ok := vars[sub[1]]; ok && val != "" {
				return val
			}
			return sub[3]
		})
	}
	return vars
}

// upstream supplies upstream/ files: the real downloaded release when install.sh has put it
// next to the kustomization, CloudNativePG's release manifest from its Go module, or else
// the stand-ins in testdata/upstream.
func upstream(t testing.TB) Upstream {
	root := repo(t)
	v := versions(t)
	return func(component, file string) ([]byte, error) {
		if data, err := os.ReadFile(filepath.Join(root, "platform", component, "upstream", file)); err == nil {
			return data, nil
		}
		if component == "cnpg-operator" && file == "cnpg.yaml" {
			dir, err := ModuleDir("github.com/cloudnative-pg/cloudnative-pg")
			if err != nil {
				return nil, err
			}
			return os.ReadFile(filepath.Join(dir, "releases", "cnpg-"+v["CNPG_VERSION"]+".yaml"))
		}
		data, err := os.ReadFile(filepath.Join("testdata", "upstream", component, file))
		if err != nil {
			return nil, fmt.Errorf("no upstream %s/%s: %w", component, file, err)
		}
		return data, nil
	}
}

// built caches every kustomization's build output.
var (
	builtOnce sync.Once
	builtDocs map[string][]*Doc
	builtErr  error
)

func builds(t testing.TB) map[string][]*Doc {
	t.Helper()
	root := repo(t)
	up := upstream(t)
	builtOnce.Do(func() {
		builtDocs = map[string][]*Doc{}
		dirs, err := Kustomizations(filepath.Join(root, "platform"), filepath.Join(root, "eventing"))
		if err != nil {
			builtErr = err
			return
		}
		for _, d := range dirs {
			_, docs, err := Build(d, up)
			if err != nil {
				builtErr = err
				return
			}
			rel, _ := filepath.Rel(root, d)
			builtDocs[rel] = docs
		}
	})
	if builtErr != nil {
		t.Fatal(builtErr)
	}
	return builtDocs
}

// rendered returns the Knative Service of every function, decoded from its rendered YAML.
func rendered(t testing.TB) []*Doc {
	t.Helper()
	root := repo(t)
	dirs, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var docs []*Doc
	for _, p := range dirs {
		f, err := funcyaml.Load(filepath.Dir(p))
		if err != nil {
			t.Fatal(err)
		}
		svc, err := f.Service("registry.example.com/shortener@sha256:" + strings.Repeat("ab", 32))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		y, err := funcyaml.ServiceYAML(svc)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Decode("rendered "+p, y)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

// everything is every object the platform creates, functions included.
func everything(t testing.TB) []*Doc {
	var all []*Doc
	for _, docs := range builds(t) {
		all = append(all, docs...)
	}
	return append(all, rendered(t)...)
}
