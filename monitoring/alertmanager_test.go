package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1alpha1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1alpha1"
	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

const alertmanagerPath = "alertmanager/alertmanager.yml"

// minAlertmanager is the oldest Alertmanager that accepts the configuration: 0.28 added
// webhook_url_file to discord_configs.
var minAlertmanager = [2]int{0, 28}

var versionRe = regexp.MustCompile(`version (\d+)\.(\d+)\.`)

// amtoolVersionOK reports whether an amtool is at least minAlertmanager.
func amtoolVersionOK(path string) (string, bool) {
	out, _ := exec.Command(path, "--version").CombinedOutput()
	m := versionRe.FindStringSubmatch(string(out))
	if m == nil {
		return strings.TrimSpace(string(out)), false
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	v := m[1] + "." + m[2]
	return v, major > minAlertmanager[0] || (major == minAlertmanager[0] && minor >= minAlertmanager[1])
}

// amtool returns an amtool that understands the configuration: the one on PATH (or
// Debian's) when it is new enough, otherwise the version pinned in tools/go.mod, built
// from the Go module proxy. Debian 12 ships amtool 0.25, which rejects webhook_url_file.
func amtool(t *testing.T) string {
	t.Helper()
	if p := findTool("amtool", "/usr/bin/amtool"); p != "" {
		v, ok := amtoolVersionOK(p)
		if ok {
			return p
		}
		t.Logf("%s is version %s, older than %d.%d (no webhook_url_file for Discord); building the pinned amtool from tools/go.mod",
			p, v, minAlertmanager[0], minAlertmanager[1])
	}
	goBin := findTool("go", "/usr/local/go/bin/go")
	if goBin == "" {
		missing(t, "no amtool >= %d.%d and no go command to build one", minAlertmanager[0], minAlertmanager[1])
	}
	bin := filepath.Join(t.TempDir(), "amtool")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/prometheus/alertmanager/cmd/amtool")
	cmd.Dir = "tools"
	if out, err := cmd.CombinedOutput(); err != nil {
		missing(t, "amtool >= %d.%d not installed and building it from tools/go.mod failed: %v\n%s",
			minAlertmanager[0], minAlertmanager[1], err, out)
	}
	return bin
}

// TestAlertmanagerConfig runs amtool check-config and checks the routing: critical alerts
// reach the critical Discord receiver, everything else the default one.
func TestAlertmanagerConfig(t *testing.T) {
	am := amtool(t)
	t.Log(run(t, ".", am, "check-config", alertmanagerPath))

	cases := []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=DatabaseDown", "severity=critical", "namespace=shortener"}, "discord-critical"},
		{[]string{"alertname=ServiceDown", "severity=critical", "namespace=shortener", "function=redirect"}, "discord-critical"},
		{[]string{"alertname=HighLatency", "severity=warning", "namespace=shortener", "function=urls"}, "discord"},
		{[]string{"alertname=SomethingElse", "namespace=shortener"}, "discord"},
	}
	for _, c := range cases {
		args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerPath}, c.labels...)
		got := strings.TrimSpace(run(t, ".", am, args...))
		if got != c.want {
			t.Errorf("alert %v routes to %q, want %q", c.labels, got, c.want)
		}
	}
}

// TestAlertmanagerTimings checks the timings asked for (group wait 10 s, repeat 1 h) and
// that the webhook URLs come from files, never from the config itself.
func TestAlertmanagerTimings(t *testing.T) {
	raw, err := os.ReadFile(alertmanagerPath)
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?m)^\s*webhook_url:`).Match(raw) || bytes.Contains(raw, []byte("discord.com/api/webhooks")) {
		t.Errorf("%s contains a webhook URL; it must come from webhook_url_file", alertmanagerPath)
	}
	cfg, err := amconfig.LoadFile(alertmanagerPath)
	if err != nil {
		t.Fatal(err)
	}
	r := cfg.Route
	if got := time.Duration(*r.GroupWait); got != 10*time.Second {
		t.Errorf("group_wait %v, want 10s", got)
	}
	if got := time.Duration(*r.RepeatInterval); got != time.Hour {
		t.Errorf("repeat_interval %v, want 1h", got)
	}
	for _, rc := range cfg.Receivers {
		if len(rc.DiscordConfigs) == 0 {
			t.Errorf("receiver %s has no discord_configs", rc.Name)
		}
		for _, dc := range rc.DiscordConfigs {
			if dc.WebhookURLFile == "" {
				t.Errorf("receiver %s: discord config without webhook_url_file", rc.Name)
			}
		}
	}
}

// TestAlertmanagerConfigCRMatchesFile checks that the AlertmanagerConfig installed on the
// cluster routes like alertmanager.yml: same timings, grouping, receivers, matchers,
// inhibitions and message templates.
func TestAlertmanagerConfigCRMatchesFile(t *testing.T) {
	cfg, err := amconfig.LoadFile(alertmanagerPath)
	if err != nil {
		t.Fatal(err)
	}
	var cr monitoringv1alpha1.AlertmanagerConfig
	decodeStrict(t, "k8s/alertmanagerconfig.yaml", 0, &cr)

	r, cr_ := cfg.Route, cr.Spec.Route
	eq := func(what string, got, want any) {
		t.Helper()
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("%s: AlertmanagerConfig has %s, alertmanager.yml has %s", what, gj, wj)
		}
	}
	eq("receiver", cr_.Receiver, r.Receiver)
	eq("groupBy", cr_.GroupBy, r.GroupByStr)
	eq("groupWait", cr_.GroupWait, model.Duration(*r.GroupWait).String())
	eq("groupInterval", cr_.GroupInterval, model.Duration(*r.GroupInterval).String())
	eq("repeatInterval", cr_.RepeatInterval, model.Duration(*r.RepeatInterval).String())

	children, err := cr_.ChildRoutes()
	if err != nil {
		t.Fatal(err)
	}
	if len(children) != len(r.Routes) {
		t.Fatalf("%d child routes, alertmanager.yml has %d", len(children), len(r.Routes))
	}
	for i, c := range children {
		eq("route receiver", c.Receiver, r.Routes[i].Receiver)
		var ms []string
		for _, m := range c.Matchers {
			ms = append(ms, m.Name+string(m.MatchType)+strconv.Quote(m.Value))
		}
		var want []string
		for _, m := range r.Routes[i].Matchers {
			want = append(want, m.Name+m.Type.String()+strconv.Quote(m.Value))
		}
		eq("route matchers", ms, want)
	}

	if len(cr.Spec.InhibitRules) != len(cfg.InhibitRules) {
		t.Fatalf("%d inhibit rules, alertmanager.yml has %d", len(cr.Spec.InhibitRules), len(cfg.InhibitRules))
	}
	for i, ir := range cr.Spec.InhibitRules {
		want := cfg.InhibitRules[i]
		var src, tgt, wsrc, wtgt []string
		for _, m := range ir.SourceMatch {
			src = append(src, m.Name+string(m.MatchType)+strconv.Quote(m.Value))
		}
		for _, m := range ir.TargetMatch {
			tgt = append(tgt, m.Name+string(m.MatchType)+strconv.Quote(m.Value))
		}
		for _, m := range want.SourceMatchers {
			wsrc = append(wsrc, m.Name+m.Type.String()+strconv.Quote(m.Value))
		}
		for _, m := range want.TargetMatchers {
			wtgt = append(wtgt, m.Name+m.Type.String()+strconv.Quote(m.Value))
		}
		eq("inhibit source", src, wsrc)
		eq("inhibit target", tgt, wtgt)
		eq("inhibit equal", ir.Equal, slices.Clone(want.Equal))
	}

	if len(cr.Spec.Receivers) != len(cfg.Receivers) {
		t.Fatalf("%d receivers, alertmanager.yml has %d", len(cr.Spec.Receivers), len(cfg.Receivers))
	}
	for i, rc := range cr.Spec.Receivers {
		want := cfg.Receivers[i]
		eq("receiver name", rc.Name, want.Name)
		if len(rc.DiscordConfigs) != len(want.DiscordConfigs) {
			t.Fatalf("receiver %s: %d discord configs, want %d", rc.Name, len(rc.DiscordConfigs), len(want.DiscordConfigs))
		}
		for j, dc := range rc.DiscordConfigs {
			w := want.DiscordConfigs[j]
			eq(rc.Name+" title", deref(dc.Title), w.Title)
			eq(rc.Name+" message", deref(dc.Message), w.Message)
			eq(rc.Name+" content", deref(dc.Content), w.Content)
			eq(rc.Name+" sendResolved", dc.SendResolved != nil && *dc.SendResolved, w.SendResolved())
			// The file the plain config reads is named after the Secret key the CR reads.
			if filepath.Base(w.WebhookURLFile) != dc.APIURL.Key ||
				filepath.Base(filepath.Dir(w.WebhookURLFile)) != dc.APIURL.Name {
				t.Errorf("receiver %s: CR reads Secret %s key %s, plain config reads %s",
					rc.Name, dc.APIURL.Name, dc.APIURL.Key, w.WebhookURLFile)
			}
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestDiscordTemplatesRender renders the Discord title and message templates the way
// Alertmanager does, for one firing and one resolved notification.
func TestDiscordTemplatesRender(t *testing.T) {
	cfg, err := amconfig.LoadFile(alertmanagerPath)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.FromGlobs(nil)
	if err != nil {
		t.Fatal(err)
	}
	alert := template.Alert{
		Status: "firing",
		Labels: template.KV{"alertname": "HighErrorRate", "severity": "warning", "namespace": "shortener", "function": "urls"},
		Annotations: template.KV{
			"summary":     "urls answers 9.1% of requests with 5xx",
			"description": "More than 5 % of the requests to urls failed.",
			"runbook_url": "https://github.com/urlshort/shortener/blob/main/monitoring/README.md#higherrorrate",
		},
	}
	for _, status := range []string{"firing", "resolved"} {
		a := alert
		a.Status = status
		data := &template.Data{
			Receiver:     "discord",
			Status:       status,
			Alerts:       template.Alerts{a},
			GroupLabels:  template.KV{"alertname": "HighErrorRate", "namespace": "shortener", "function": "urls"},
			CommonLabels: a.Labels,
		}
		for _, rc := range cfg.Receivers {
			for _, dc := range rc.DiscordConfigs {
				title, err := tmpl.ExecuteTextString(dc.Title, data)
				if err != nil {
					t.Fatalf("%s title: %v", rc.Name, err)
				}
				msg, err := tmpl.ExecuteTextString(dc.Message, data)
				if err != nil {
					t.Fatalf("%s message: %v", rc.Name, err)
				}
				t.Logf("%s %s:\n%s\n%s", rc.Name, status, title, msg)
				for _, want := range []string{"HighErrorRate", "urls", strings.ToUpper(status)} {
					if !strings.Contains(title, want) {
						t.Errorf("%s %s title %q lacks %q", rc.Name, status, title, want)
					}
				}
				for _, want := range []string{alert.Annotations["summary"], alert.Annotations["runbook_url"]} {
					if !strings.Contains(msg, want) {
						t.Errorf("%s %s message lacks %q:\n%s", rc.Name, status, want, msg)
					}
				}
				if strings.Contains(title+msg, "<no value>") {
					t.Errorf("%s %s: template printed <no value>:\n%s\n%s", rc.Name, status, title, msg)
				}
			}
		}
	}
}
