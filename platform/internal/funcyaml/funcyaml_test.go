package funcyaml

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
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
		"AuthOff":               {"    value: keys\n", "    value: \"\"\n"},
		"AdminKeyLiteral":       {"'{{ secret:shortener-admin-api-key:key }}'", "shk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		"AdminKeyOtherSecret":   {"'{{ secret:shortener-admin-api-key:key }}'", "'{{ secret:valkey-auth:password }}'"},
		"NoAdminKey":            {"  - name: ADMIN_API_KEY\n    value: '{{ secret:shortener-admin-api-key:key }}'\n", ""},
		"TrustedProxiesLiteral": {"'{{ configMap:shortener-access:trusted-proxies }}'", "10.42.0.0/16"},
		"NoTrustedProxies":      {"  - name: TRUSTED_PROXIES\n", "  - name: TRUSTED_PROXY\n"},
		"BadWriteRate":          {"    value: 120/m\n", "    value: 120 per minute\n"},
		"ZeroWriteRate":         {"    value: 120/m\n", "    value: 0/m\n"},
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

// TestAccessControlSettings pins issue 12's cluster side on the Services func deploy makes:
// every public function runs with API keys, the admin key from the Secret install.sh
// generates and the trusted proxies from the shared ConfigMap; write limits where writes
// are; the events-writer carries none of it.
func TestAccessControlSettings(t *testing.T) {
	writers := map[string]bool{"users": true, "urls": true, "events": true}
	seen := 0
	for _, dir := range functionDirs(t) {
		f, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := f.Service("registry.example.com/shortener:1")
		if err != nil {
			t.Fatal(err)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range svc.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e
		}
		if f.Name == EventsWriter {
			for _, k := range accessEnvs {
				if _, ok := env[k]; ok {
					t.Errorf("%s: %s set on the events-writer", f.Name, k)
				}
			}
			continue
		}
		seen++
		if e := env["AUTH_MODE"]; e.Value != "keys" || e.ValueFrom != nil {
			t.Errorf("%s: AUTH_MODE %+v, want keys", f.Name, e)
		}
		if e := env["ADMIN_API_KEY"]; e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
			e.ValueFrom.SecretKeyRef.Name != AdminKeySecret || e.ValueFrom.SecretKeyRef.Key != AdminKeySecretKey {
			t.Errorf("%s: ADMIN_API_KEY %+v, want secretKeyRef %s/%s and no literal", f.Name, e, AdminKeySecret, AdminKeySecretKey)
		}
		if e := env["TRUSTED_PROXIES"]; e.Value != "" || e.ValueFrom == nil || e.ValueFrom.ConfigMapKeyRef == nil ||
			e.ValueFrom.ConfigMapKeyRef.Name != AccessConfigMap || e.ValueFrom.ConfigMapKeyRef.Key != TrustedProxiesKey {
			t.Errorf("%s: TRUSTED_PROXIES %+v, want configMapKeyRef %s/%s", f.Name, e, AccessConfigMap, TrustedProxiesKey)
		}
		if _, ok := env["RATE_LIMIT_WRITES"]; ok != writers[f.Name] {
			t.Errorf("%s: RATE_LIMIT_WRITES set %v, want %v", f.Name, ok, writers[f.Name])
		}
		if e, ok := env["RATE_LIMIT_REDIRECTS"]; ok {
			t.Errorf("%s: RATE_LIMIT_REDIRECTS=%q: left to Traefik's ratelimit-redirect for now", f.Name, e.Value)
		}
	}
	if seen != 5 {
		t.Errorf("%d public functions checked, want 5", seen)
	}
}

// TestEventsWriterRefusesAccessControl: the admin key on the events-writer must fail.
func TestEventsWriterRefusesAccessControl(t *testing.T) {
	dir := filepath.Join(root(t), "functions", EventsWriter)
	orig, err := os.ReadFile(filepath.Join(dir, "func.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	anchor := "  - name: LOG_LEVEL\n"
	broken := strings.Replace(string(orig), anchor, "  - name: ADMIN_API_KEY\n    value: '{{ secret:shortener-admin-api-key:key }}'\n"+anchor, 1)
	if broken == string(orig) {
		t.Fatalf("func.yaml has no %q", anchor)
	}
	f, err := Parse([]byte(broken))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckPolicy(dir); err == nil {
		t.Error("the events-writer with ADMIN_API_KEY was accepted")
	}
}
