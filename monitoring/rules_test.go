package monitoring

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate k8s/prometheusrule.yaml from rules/shortener.rules.yml")

// TestPromtoolCheckRules validates the rule file with Debian's promtool.
func TestPromtoolCheckRules(t *testing.T) {
	out := run(t, ".", promtool(t), "check", "rules", rulesPath)
	t.Log(out)
}

// TestPromtoolTestRules runs the promtool unit tests in rules/*_test.yml, which fire and
// silence every alert on synthetic series.
func TestPromtoolTestRules(t *testing.T) {
	pt := promtool(t)
	tests, err := filepath.Glob("rules/*_test.yml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool unit tests in rules/*_test.yml (%v)", err)
	}
	out := run(t, ".", pt, append([]string{"test", "rules"}, tests...)...)
	t.Log(out)
}

// promtoolTests is the part of a promtool unit test file this test reads.
type promtoolTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertFiresAndStaysSilentInUnitTests checks the unit tests themselves: each
// alert has a case where it fires and a case where it must not, and each firing alert
// carries the labels Alertmanager routes on (namespace, severity).
func TestEveryAlertFiresAndStaysSilentInUnitTests(t *testing.T) {
	fires := map[string]bool{}
	silent := map[string]bool{}
	paths, _ := filepath.Glob("rules/*_test.yml")
	for _, p := range paths {
		var pt promtoolTests
		readYAML(t, p, &pt)
		for _, tc := range pt.Tests {
			for _, at := range tc.AlertRuleTest {
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname] = true
				}
				for _, ea := range at.ExpAlerts {
					fires[at.Alertname] = true
					for _, l := range []string{"namespace", "severity"} {
						if ea.ExpLabels[l] == "" {
							t.Errorf("%s: test %q expects %s without a %s label; Alertmanager routes on it",
								p, tc.Name, at.Alertname, l)
						}
					}
				}
			}
		}
	}
	for _, a := range alertNames(loadRules(t)) {
		if !fires[a] {
			t.Errorf("alert %s has no promtool unit test in which it fires", a)
		}
		if !silent[a] {
			t.Errorf("alert %s has no promtool unit test in which it must stay silent", a)
		}
	}
}

// TestAlertConventions checks what operators rely on: a severity Alertmanager routes, a
// summary and description, and a runbook link to a section of README.md that exists.
func TestAlertConventions(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(readme))
	for _, g := range loadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			_, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
			if anchor != strings.ToLower(r.Alert) {
				t.Errorf("%s: runbook_url %q should end in #%s", r.Alert, r.Annotations["runbook_url"], strings.ToLower(r.Alert))
			}
			if !anchors[anchor] {
				t.Errorf("%s: README.md has no heading for anchor #%s", r.Alert, anchor)
			}
		}
	}
}

var headingRe = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)

// markdownAnchors returns the GitHub anchors of a Markdown document's headings.
func markdownAnchors(md string) map[string]bool {
	anchors := map[string]bool{}
	for _, m := range headingRe.FindAllStringSubmatch(md, -1) {
		h := strings.ToLower(m[1])
		h = regexp.MustCompile(`[^a-z0-9 _-]`).ReplaceAllString(h, "")
		anchors[strings.ReplaceAll(h, " ", "-")] = true
	}
	return anchors
}

const prometheusRulePath = "k8s/prometheusrule.yaml"

const prometheusRuleHeader = `# GENERATED from rules/shortener.rules.yml by
#   go test -run TestPrometheusRuleInSync -update
# Do not edit: change the rules file, regenerate, and run the tests.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: shortener
  namespace: shortener
  labels:
    app.kubernetes.io/part-of: shortener
spec:
`

// prometheusRule wraps the groups of the rule file, comments included, in a
// PrometheusRule.
func prometheusRule(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	start := slices.Index(lines, "groups:")
	if start < 0 {
		t.Fatalf("%s: no top-level groups: line", rulesPath)
	}
	var sb strings.Builder
	sb.WriteString(prometheusRuleHeader)
	for _, l := range lines[start:] {
		if l == "" {
			sb.WriteString("\n")
			continue
		}
		sb.WriteString("  " + l + "\n")
	}
	return sb.String()
}

// TestPrometheusRuleInSync checks that the PrometheusRule on the cluster holds exactly the
// rules that promtool checks and tests.
func TestPrometheusRuleInSync(t *testing.T) {
	want := prometheusRule(t)
	if *update {
		if err := os.WriteFile(prometheusRulePath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(prometheusRulePath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from %s; regenerate with: go test -run TestPrometheusRuleInSync -update",
			prometheusRulePath, rulesPath)
	}
}
