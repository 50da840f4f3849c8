package funcyaml

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func root(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
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

func functionDirs(t *testing.T) []string {
	dirs, err := filepath.Glob(filepath.Join(root(t), "functions", "*", "func.yaml"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no func.yaml files: %v", err)
	}
	for i := range dirs {
		dirs[i] = filepath.Dir(dirs[i])
	}
	return dirs
}

func TestFunctionsValid(t *testing.T) {
	for _, dir := range functionDirs(t) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			f, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Validate(); err != nil {
				t.Error(err)
			}
			if err := f.CheckPolicy(dir); err != nil {
				t.Error(err)
			}
			svc, err := f.Service("registry.example.com/shortener:1")
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]bool{}
			for _, e := range svc.Spec.Template.Spec.Containers[0].Env {
				env[e.Name] = true
			}
			if !env["ADDRESS"] || env["BUILT"] {
				t.Errorf("env: want ADDRESS (as func adds it) and no BUILT timestamp, have %v", env)
			}
		})
	}
}

func TestRootFunction(t *testing.T) {
	f, err := Load(root(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Error(err)
	}
	if err := f.CheckRootPolicy(); err != nil {
		t.Error(err)
	}
}

// TestBrokenFuncYAML: each broken copy of a real func.yaml must be refused.
func TestBrokenFuncYAML(t *testing.T) {
	dir := filepath.Join(root(t), "functions", "urls")
	orig, err := os.ReadFile(filepath.Join(dir, "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct{ from, to string }{
		"MinAboveMax":           {"      min: 0", "      min: 9"},
		"NegativeMin":           {"      min: 0", "      min: -1"},
		"UnknownMetric":         {"      metric: concurrency", "      metric: cpu"},
		"ZeroTarget":            {"      target: 20", "      target: 0"},
		"UtilizationAbove100":   {"      utilization: 70", "      utilization: 170"},
		"NoMax":                 {"      max: 5\n", ""},
		"UnknownScaleKey":       {"      min: 0", "      minimum: 0"},
		"UnknownTopLevelKey":    {"runtime: go", "runtime: go\nruntimes: go"},
		"ScaleAsString":         {"      max: 5", "      max: five"},
		"AutoscalingAnnotation": {"deploy:\n", "deploy:\n  annotations:\n    autoscaling.knative.dev/window: 30s\n"},
		"BadCPUQuantity":        {"        cpu: 500m", "        cpu: half"},
		"RequestAboveLimit":     {"        memory: 64Mi", "        memory: 1Gi"},
		"NoResources":           {"    resources:", "    resourcez:"},
		"WrongName":             {"name: urls", "name: url"},
		"WrongNamespace":        {"namespace: shortener", "namespace: default"},
		"WrongBuilder":          {"builder: host", "builder: docker"},
		"FunctionEnvMismatch":   {"    value: urls\n", "    value: users\n"},
		"PlainDatabaseURL":      {"'{{ secret:shortener-db-pooler:uri }}'", "postgresql://shortener:secret@db/shortener"},
		"BadSecretSyntax":       {"'{{ secret:shortener-db-pooler:uri }}'", "'{{ secret:shortener-db-pooler }}'"},
		"BadEnvName":            {"- name: LOG_LEVEL", "- name: LOG LEVEL"},
		"BadLabelValue":         {`value: "shortener"`, `value: "short ener"`},
		"OldSpecVersion":        {"specVersion: 0.36.0", "specVersion: 0.35.0"},
		"NoCreated":             {"created: 2026-11-21T09:00:00Z\n", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(string(orig), tc.from) {
				t.Fatalf("func.yaml has no %q", tc.from)
			}
			tmp := filepath.Join(t.TempDir(), "urls")
			if err := os.MkdirAll(tmp, 0o755); err != nil {
				t.Fatal(err)
			}
			broken := strings.Replace(string(orig), tc.from, tc.to, 1)
			if err := os.WriteFile(filepath.Join(tmp, "func.yaml"), []byte(broken), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := Load(tmp)
			if err == nil {
				err = f.Validate()
			}
			if err == nil {
				err = f.CheckPolicy(tmp)
			}
			if err == nil {
				_, err = f.Service("registry.example.com/shortener:1")
			}
			if err == nil {
				t.Error("the broken func.yaml was accepted")
			}
		})
	}
}
