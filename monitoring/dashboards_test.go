package monitoring

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// TestDashboardsValid checks each dashboard: valid JSON, a unique uid and title, unique
// panel ids, a position for every panel, a query for every panel, PromQL that parses and
// datasources that the provisioning files define.
func TestDashboardsValid(t *testing.T) {
	ds := loadDashboards(t)
	if len(ds) < 3 {
		t.Errorf("%d dashboards, want the service overview, redirect/cache and events pipeline", len(ds))
	}
	uids := map[string]string{}
	for _, d := range ds {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: no uid or title", d.path)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %q", d.path, other, d.UID)
		}
		uids[d.UID] = d.path

		vars := map[string]bool{}
		for _, v := range d.Templating.List {
			vars[v.Name] = true
		}
		ids := map[int]string{}
		for _, p := range allPanels(d.Panels) {
			where := fmt.Sprintf("%s: panel %d %q", d.path, p.ID, p.Title)
			if p.ID <= 0 {
				t.Errorf("%s: no id", where)
			}
			if other, dup := ids[p.ID]; dup {
				t.Errorf("%s: id %d already used by %q", where, p.ID, other)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil {
				t.Errorf("%s: no gridPos", where)
			}
			if p.Type == "row" {
				continue
			}
			if p.Title == "" {
				t.Errorf("%s: no title", where)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", where)
			}
			for _, tg := range p.Targets {
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s target %s: empty query", where, tg.RefID)
					continue
				}
				ds := tg.Datasource
				if ds == nil {
					ds = p.Datasource
				}
				switch {
				case ds == nil:
					t.Errorf("%s: no datasource", where)
				case ds.Type == "loki":
					if ds.UID != "loki" {
						t.Errorf("%s: Loki datasource uid %q, provisioning defines loki", where, ds.UID)
					}
					if !strings.HasPrefix(strings.TrimSpace(tg.Expr), "{") {
						t.Errorf("%s: LogQL %q does not start with a stream selector", where, tg.Expr)
					}
				case ds.Type == "prometheus":
					if ds.UID != "${datasource}" || !vars["datasource"] {
						t.Errorf("%s: Prometheus datasource %q, want the ${datasource} variable", where, ds.UID)
					}
					if _, err := parsePromQL(tg.Expr); err != nil {
						t.Errorf("%s target %s: %v\n  %s", where, tg.RefID, err, tg.Expr)
					}
				default:
					t.Errorf("%s: datasource type %q", where, ds.Type)
				}
				for _, v := range []string{"$namespace", "$function"} {
					if strings.Contains(tg.Expr, v) && !vars[strings.TrimPrefix(v, "$")] {
						t.Errorf("%s: uses %s, which the dashboard does not define", where, v)
					}
				}
			}
		}
	}
}

// TestProvisioning checks the Grafana provisioning files: the Loki datasource uid the
// dashboards use, and the Prometheus uid their datasource variable defaults to.
func TestProvisioning(t *testing.T) {
	type dsFile struct {
		Datasources []struct {
			Name string `yaml:"name"`
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	uids := map[string]string{}
	for _, p := range []string{"grafana/provisioning/datasources/prometheus.yaml", "grafana/provisioning/datasources/loki.yaml"} {
		var f dsFile
		readYAML(t, p, &f)
		for _, d := range f.Datasources {
			if d.URL == "" {
				t.Errorf("%s: datasource %s has no url", p, d.Name)
			}
			uids[d.UID] = d.Type
		}
	}
	if uids["prometheus"] != "prometheus" || uids["loki"] != "loki" {
		t.Errorf("provisioned datasources %v, want uid prometheus (prometheus) and uid loki (loki)", uids)
	}
	var prov struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "grafana/provisioning/dashboards/shortener.yaml", &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options.Path == "" {
		t.Errorf("dashboard provisioning: want one file provider with a path, got %+v", prov.Providers)
	}
	for _, d := range loadDashboards(t) {
		b, _ := os.ReadFile(d.path)
		if !strings.Contains(string(b), `"value": "prometheus"`) {
			t.Errorf("%s: the datasource variable should default to uid prometheus", d.path)
		}
	}
}

// usedMetricNames maps every metric name that a rule or dashboard query selects to the
// places that use it.
func usedMetricNames(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, q := range append(ruleQueries(t), dashboardQueries(t)...) {
		names, err := metricNames(q.expr)
		if err != nil {
			t.Errorf("%s: %v\n  %s", q.where, err, q.expr)
			continue
		}
		for _, n := range names {
			used[n] = append(used[n], q.where)
		}
	}
	return used
}

// TestMetricNamesKnown checks that every metric a rule or dashboard uses is either one our
// functions expose (OwnMetrics) or on the documented allow-list of metrics other software
// produces (ExternalMetrics), and that the allow-list holds nothing unused.
func TestMetricNamesKnown(t *testing.T) {
	used := usedMetricNames(t)
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		_, own := OwnFamily(n)
		_, ext := ExternalMetrics[n]
		switch {
		case own && ext:
			t.Errorf("%s is both ours and on the external allow-list", n)
		case !own && !ext:
			t.Errorf("%s is neither exposed by our functions nor on the external allow-list; used by:\n  %s",
				n, strings.Join(used[n], "\n  "))
		}
	}
	for n := range ExternalMetrics {
		if _, ok := used[n]; !ok {
			t.Errorf("ExternalMetrics lists %s, which no rule or dashboard uses; remove it", n)
		}
	}
	var own []string
	for n := range used {
		if f, ok := OwnFamily(n); ok && !slices.Contains(own, f) {
			own = append(own, f)
		}
	}
	sort.Strings(own)
	t.Logf("%d metric names used; ours: %s", len(names), strings.Join(own, ", "))
}

// TestDurationBucketsNamed checks every le that a rule or dashboard query matches, and
// every le of the request duration series in the promtool tests, against the buckets
// the functions have (DurationBuckets): a query of a bound that no scrape has would read
// nothing, and a promtool test of such buckets would prove a quantile no Prometheus
// computes. A query must spell the bound as the exposition format writes it (Go's
// shortest 'g' form: "0.001", "2.5e-05"), since PromQL matches le as a string.
func TestDurationBucketsNamed(t *testing.T) {
	known := map[string]bool{"+Inf": true}
	for _, b := range DurationBuckets {
		known[strconv.FormatFloat(b, 'g', -1, 64)] = true
	}
	isBound := func(v string) bool {
		f, err := strconv.ParseFloat(v, 64)
		return err == nil && (math.IsInf(f, 1) || slices.Contains(DurationBuckets, f))
	}
	queries := 0
	for _, q := range append(ruleQueries(t), dashboardQueries(t)...) {
		e, err := parsePromQL(q.expr)
		if err != nil {
			continue // TestDashboardsValid and promtool report it
		}
		parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
			vs, ok := node.(*parser.VectorSelector)
			if !ok || !strings.HasPrefix(vs.Name, "shortener_http_request_duration_seconds") {
				return nil
			}
			for _, m := range vs.LabelMatchers {
				if m.Name != "le" {
					continue
				}
				queries++
				if m.Type != labels.MatchEqual || !known[m.Value] {
					t.Errorf("%s: le%s%q is not a bucket the functions expose (%v)", q.where, m.Type, m.Value, DurationBuckets)
				}
			}
			return nil
		})
	}
	paths, _ := filepath.Glob("rules/*_test.yml")
	series := 0
	for _, p := range paths {
		var f struct {
			Tests []struct {
				Name        string `yaml:"name"`
				InputSeries []struct {
					Series string `yaml:"series"`
				} `yaml:"input_series"`
			} `yaml:"tests"`
		}
		readYAML(t, p, &f)
		for _, tc := range f.Tests {
			for _, in := range tc.InputSeries {
				ms, err := promqlParser.ParseMetricSelector(in.Series)
				if err != nil {
					t.Errorf("%s: test %q: series %s: %v", p, tc.Name, in.Series, err)
					continue
				}
				name, le := "", ""
				for _, m := range ms {
					switch m.Name {
					case model.MetricNameLabel:
						name = m.Value
					case "le":
						le = m.Value
					}
				}
				if name != "shortener_http_request_duration_seconds_bucket" {
					continue
				}
				series++
				if !isBound(le) {
					t.Errorf("%s: test %q: le=%q is not a bucket the functions expose", p, tc.Name, le)
				}
			}
		}
	}
	if series == 0 {
		t.Error("no promtool test has request duration buckets; HighLatency is untested")
	}
	t.Logf("%d le matchers in queries and %d bucket series in promtool tests, all among %d bounds", queries, series, len(DurationBuckets))
}
