package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fakeKubectl records its arguments and answers like a healthy 3-node K3s cluster would, so
// install.sh's order, waits and secret handling can be checked without a cluster.
const fakeKubectl = `#!/bin/sh
echo "$*" >> "$FAKE_LOG"
case "$*" in
  version*) echo '{"clientVersion": {"minor": "34"}, "serverVersion": {"minor": "'"${FAKE_MINOR:-34}"'"}}' ;;
  "get nodes"*) i=0; while [ $i -lt "${FAKE_NODES:-3}" ]; do echo "node$i Ready control-plane 1d v1.34"; i=$((i+1)); done ;;
  "get storageclass"*) echo true ;;
  "get crd podmonitors.monitoring.coreos.com") exit 1 ;;
  "get crd"*) ;;
  *"get secret valkey-auth") [ -n "$FAKE_VALKEY_EXISTS" ] || exit 1 ;;
  *"get secret shortener-admin-api-key") [ -n "$FAKE_ADMIN_KEY_EXISTS" ] || exit 1 ;;
  *"=/dev/stdin"*) printf 'stdin: %s\n' "$(cat)" >> "$FAKE_LOG" ;;
  *"jsonpath={.data.username}") printf c2hvcnRlbmVy ;;
  *"jsonpath={.data.password}") printf 'cGEkJHcvcmQ=' ;;
  *"jsonpath={.data.dbname}") printf c2hvcnRlbmVy ;;
  kustomize*) echo "kind: Fake" ;;
  *"--dry-run=client -o yaml"*) echo "kind: Secret" ;;
  *"-f -"*) cat >/dev/null ;;
esac
exit 0
`

func runInstall(t *testing.T, env ...string) (string, []string, error) {
	t.Helper()
	root := repo(t)
	tmp := t.TempDir()
	copyDir(t, filepath.Join(root, "platform"), filepath.Join(tmp, "platform"))
	copyDir(t, filepath.Join(root, "eventing"), filepath.Join(tmp, "eventing"))
	if err := os.Chmod(filepath.Join(tmp, "platform", "install.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"knative-serving/serving-crds.yaml", "knative-serving/serving-core.yaml", "kourier/kourier.yaml",
		"knative-eventing/eventing-crds.yaml", "knative-eventing/eventing-core.yaml", "knative-eventing/in-memory-channel.yaml",
		"knative-eventing/mt-channel-broker.yaml", "cnpg-operator/cnpg.yaml"} {
		p := filepath.Join(tmp, "platform", filepath.Dir(f), "upstream", filepath.Base(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, "# stand-in\n")
	}
	bin := filepath.Join(tmp, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "kubectl"), []byte(fakeKubectl), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(tmp, "kubectl.log")
	cmd := exec.Command("bash", filepath.Join(tmp, "platform", "install.sh"))
	cmd.Env = append(os.Environ(), append([]string{
		"PATH=" + bin + ":" + os.Getenv("PATH"), "FAKE_LOG=" + log, "SKIP_DOWNLOAD=1",
	}, env...)...)
	out, err := cmd.CombinedOutput()
	data, _ := os.ReadFile(log)
	return string(out), strings.Split(strings.TrimSpace(string(data)), "\n"), err
}

// TestInstallOrder runs install.sh against a fake kubectl and checks that each step waits
// for what the next one needs.
func TestInstallOrder(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	out, calls, err := runInstall(t, "PUBLIC_HOST=short.example.org")
	if err != nil {
		t.Fatalf("install.sh failed: %v\n%s", err, out)
	}
	idx := func(substr string) int {
		for i, c := range calls {
			if strings.Contains(c, substr) {
				return i
			}
		}
		t.Fatalf("install.sh never ran kubectl %q; it ran:\n%s", substr, strings.Join(calls, "\n"))
		return -1
	}
	steps := []string{
		"knative-serving/upstream/serving-crds.yaml",
		"wait --for=condition=Established --timeout=600s -f",
		"kustomize", // knative-serving
		"-n knative-serving wait --for=condition=Available",
		"-n kourier-system wait --for=condition=Available",
		"knative-eventing/upstream/eventing-crds.yaml",
		"-n knative-eventing wait --for=condition=Available",
		"-n cnpg-system wait --for=condition=Available",
		"shortener/namespace.yaml",
		"create secret generic valkey-auth",
		"create secret generic shortener-admin-api-key",
		"cluster.postgresql.cnpg.io/shortener-db",
		"rollout status deployment/shortener-db-pooler-rw",
		"rollout status statefulset/valkey-sentinel",
		"create secret generic shortener-db-pooler",
		"wait --for=condition=Ready broker/default",
	}
	last := -1
	for _, s := range steps {
		i := idx(s)
		if i < last {
			t.Errorf("%q runs before an earlier step", s)
		}
		last = i
	}
	if k := idx("kustomize"); !strings.HasSuffix(calls[k], "platform/knative-serving") {
		t.Errorf("first kustomization applied is %q, want knative-serving", calls[k])
	}
	kustomizeOrder := []string{"knative-serving", "kourier", "knative-eventing", "cnpg-operator", "shortener", "eventing", "traefik"}
	var got []string
	for _, c := range calls {
		if strings.HasPrefix(c, "kustomize ") {
			got = append(got, filepath.Base(c))
		}
	}
	if strings.Join(got, " ") != strings.Join(kustomizeOrder, " ") {
		t.Errorf("kustomizations applied in order %v, want %v (podmonitors skipped without Prometheus Operator)", got, kustomizeOrder)
	}
	pooler := calls[idx("create secret generic shortener-db-pooler")]
	for _, want := range []string{
		"uri=postgresql://shortener:pa%24%24w%2Frd@shortener-db-pooler-rw.shortener:5432/shortener",
		"ro-uri=postgresql://shortener:pa%24%24w%2Frd@shortener-db-pooler-ro.shortener:5432/shortener",
	} {
		if !strings.Contains(pooler, want) {
			t.Errorf("pooler secret: want %s in %q", want, pooler)
		}
	}
	// The admin key: shaped like the API's own keys (shared/access: shk_ and 24 random bytes
	// in base64url), given on stdin, never on a command line.
	stdin := calls[idx("stdin: ")]
	key := strings.TrimPrefix(stdin, "stdin: ")
	if !regexp.MustCompile(`^shk_[A-Za-z0-9_-]{32}$`).MatchString(key) {
		t.Errorf("admin key %q: want shk_ and 32 base64url characters", key)
	}
	for _, c := range calls {
		if c != stdin && strings.Contains(c, key) {
			t.Errorf("the admin key shows in a command line: %q", c)
		}
	}
	for _, c := range calls {
		if strings.HasPrefix(c, "apply") && !strings.Contains(c, "--server-side") && !strings.Contains(c, "-f -") {
			t.Errorf("client-side apply of a file: %q", c)
		}
	}
}

// TestInstallIdempotentSecrets: a second run keeps the Valkey password and the admin key;
// an install from before access control keeps its password and gets an admin key.
func TestInstallIdempotentSecrets(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	for name, tc := range map[string]struct {
		env     []string
		created map[string]bool
	}{
		"SecondRun":    {[]string{"FAKE_VALKEY_EXISTS=1", "FAKE_ADMIN_KEY_EXISTS=1"}, map[string]bool{"valkey-auth": false, "shortener-admin-api-key": false}},
		"BeforeKeys":   {[]string{"FAKE_VALKEY_EXISTS=1"}, map[string]bool{"valkey-auth": false, "shortener-admin-api-key": true}},
		"FreshInstall": {nil, map[string]bool{"valkey-auth": true, "shortener-admin-api-key": true}},
	} {
		t.Run(name, func(t *testing.T) {
			out, calls, err := runInstall(t, append([]string{"PUBLIC_HOST=short.example.org"}, tc.env...)...)
			if err != nil {
				t.Fatalf("install.sh failed: %v\n%s", err, out)
			}
			for secret, want := range tc.created {
				got := false
				for _, c := range calls {
					if strings.Contains(c, "create secret generic "+secret+" ") {
						got = true
					}
				}
				if got != want {
					t.Errorf("%s created: %v, want %v", secret, got, want)
				}
			}
		})
	}
}

// TestInstallPreflight: install.sh stops before touching the cluster when it should.
func TestInstallPreflight(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	for name, env := range map[string][]string{
		"NoPublicHost":  {"PUBLIC_HOST="},
		"TwoNodes":      {"PUBLIC_HOST=short.example.org", "FAKE_NODES=2"},
		"OldKubernetes": {"PUBLIC_HOST=short.example.org", "FAKE_MINOR=31"},
	} {
		t.Run(name, func(t *testing.T) {
			out, calls, err := runInstall(t, env...)
			if err == nil {
				t.Fatalf("install.sh went ahead:\n%s", out)
			}
			for _, c := range calls {
				if strings.HasPrefix(c, "apply") || strings.HasPrefix(c, "kustomize") {
					t.Errorf("install.sh changed the cluster before failing: %q", c)
				}
			}
		})
	}
}
