package monitoring

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	promconfig "github.com/prometheus/prometheus/config"
	_ "github.com/prometheus/prometheus/discovery/kubernetes" // registers kubernetes_sd_configs
	"github.com/prometheus/prometheus/model/relabel"
)

const prometheusConfigPath = "prometheus/prometheus.yml"

// loadPrometheusConfig loads prometheus.yml the way Prometheus (and promtool check
// config) does, laid out as it is deployed: /etc/prometheus/prometheus.yml with the rule
// files in rules/ beside it. Debian's promtool cannot check this file itself: Debian builds
// Prometheus without Kubernetes service discovery.
func loadPrometheusConfig(t *testing.T) *promconfig.Config {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(prometheusConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	rules, _ := os.ReadFile(rulesPath)
	if err := os.WriteFile(filepath.Join(dir, "rules", filepath.Base(rulesPath)), rules, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := promconfig.LoadFile(filepath.Join(dir, "prometheus.yml"), false, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("%s: %v", prometheusConfigPath, err)
	}
	var matched []string
	for _, pattern := range cfg.RuleFiles {
		m, _ := filepath.Glob(pattern)
		matched = append(matched, m...)
	}
	if len(matched) != 1 || filepath.Base(matched[0]) != filepath.Base(rulesPath) {
		t.Errorf("rule_files %v match %v, want the one rule file", cfg.RuleFiles, matched)
	}
	return cfg
}

// TestPrometheusConfigLoads checks the plain Prometheus configuration with Prometheus's
// own loader, Kubernetes service discovery included.
func TestPrometheusConfigLoads(t *testing.T) {
	cfg := loadPrometheusConfig(t)
	scs, err := cfg.GetScrapeConfigs()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scs {
		t.Logf("job %s every %s", sc.JobName, sc.ScrapeInterval)
	}
}

// TestScrapeConfigMatchesPodMonitors checks that the plain configuration scrapes what the
// PodMonitors scrape: for every PodMonitor endpoint, a job of the same name that keeps the
// same container port and sets the same target labels.
func TestScrapeConfigMatchesPodMonitors(t *testing.T) {
	cfg := loadPrometheusConfig(t)
	scs, err := cfg.GetScrapeConfigs()
	if err != nil {
		t.Fatal(err)
	}
	jobs := map[string]*promconfig.ScrapeConfig{}
	for _, sc := range scs {
		jobs[sc.JobName] = sc
	}
	const path = "k8s/podmonitors.yaml"
	seen := map[string]bool{}
	for i := range yamlDocs(t, path) {
		var pm monitoringv1.PodMonitor
		decodeStrict(t, path, i, &pm)
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			job := ""
			var targets []string
			for _, rl := range ep.RelabelConfigs {
				if rl.TargetLabel == "job" && rl.Replacement != nil {
					job = *rl.Replacement
					continue
				}
				targets = append(targets, rl.TargetLabel)
			}
			if job == "" {
				t.Errorf("PodMonitor %s port %s: no relabeling sets job; rules select on it", pm.Name, *ep.Port)
				continue
			}
			seen[job] = true
			sc := jobs[job]
			if sc == nil {
				t.Errorf("PodMonitor %s sets job %q, which %s does not have", pm.Name, job, prometheusConfigPath)
				continue
			}
			keepsPort := false
			var scTargets []string
			for _, rc := range sc.RelabelConfigs {
				if rc.Action == relabel.Keep && slices.Equal(sourceNames(rc), []string{"__meta_kubernetes_pod_container_port_name"}) &&
					rc.Regex.String() == *ep.Port {
					keepsPort = true
				}
				if rc.Action == relabel.Replace {
					scTargets = append(scTargets, rc.TargetLabel)
				}
			}
			if !keepsPort {
				t.Errorf("job %s does not keep container port %q like PodMonitor %s", job, *ep.Port, pm.Name)
			}
			for _, l := range targets {
				if !slices.Contains(scTargets, l) {
					t.Errorf("job %s does not set label %q like PodMonitor %s", job, l, pm.Name)
				}
			}
			// The operator adds namespace, pod and container; the plain config must too.
			for _, l := range []string{"namespace", "pod", "container"} {
				if !slices.Contains(scTargets, l) {
					t.Errorf("job %s does not set label %q", job, l)
				}
			}
			if got := sc.ScrapeInterval.String(); ep.Interval != "" && got != string(ep.Interval) {
				t.Errorf("job %s scrapes every %s, PodMonitor %s every %s", job, got, pm.Name, ep.Interval)
			}
		}
	}
	for job := range jobs {
		if !seen[job] && job != "kube-state-metrics" {
			t.Errorf("job %s in %s has no PodMonitor", job, prometheusConfigPath)
		}
	}
}

func sourceNames(rc *relabel.Config) []string {
	var s []string
	for _, l := range rc.SourceLabels {
		s = append(s, string(l))
	}
	return s
}

// TestClassicHistogramsKept: the functions' job keeps the classic buckets of histograms
// that are native ones too, in prometheus.yml and in the PodMonitor, so turning on native
// histogram ingestion cannot take away the _bucket series that the latency rules and
// panels read.
func TestClassicHistogramsKept(t *testing.T) {
	cfg := loadPrometheusConfig(t)
	scs, err := cfg.GetScrapeConfigs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sc := range scs {
		if sc.JobName == "shortener-functions" {
			found = true
			if sc.AlwaysScrapeClassicHistograms == nil || !*sc.AlwaysScrapeClassicHistograms {
				t.Errorf("%s: job shortener-functions does not set always_scrape_classic_histograms", prometheusConfigPath)
			}
		}
	}
	if !found {
		t.Errorf("%s: no job shortener-functions", prometheusConfigPath)
	}
	const path = "k8s/podmonitors.yaml"
	for i := range yamlDocs(t, path) {
		var pm monitoringv1.PodMonitor
		decodeStrict(t, path, i, &pm)
		if pm.Name == "shortener-functions" && (pm.Spec.ScrapeClassicHistograms == nil || !*pm.Spec.ScrapeClassicHistograms) {
			t.Errorf("%s: PodMonitor shortener-functions does not set scrapeClassicHistograms: true", path)
		}
	}
}
