package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"
)

// inCI reports whether a missing tool or service must fail a test (CI=true) instead of
// skipping it.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

// missing stops a test that cannot run here: a failure in CI, a loud skip elsewhere.
// Skips show with `go test -v`; nothing that was skipped has been verified.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if inCI() {
		t.Fatalf("MISSING (CI=true, so this fails instead of skipping): %s", msg)
	}
	fmt.Fprintf(os.Stderr, "\n*** %s: SKIPPED, NOT VERIFIED: %s ***\n\n", t.Name(), msg)
	t.Skipf("SKIPPED, NOT VERIFIED: %s", msg)
}

// findTool returns the path of a command, from PATH or else from the paths Debian installs
// it at, or "" when there is none.
func findTool(name string, debianPaths ...string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range debianPaths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// requireTool is findTool that stops the test (see missing) when the command is absent.
func requireTool(t *testing.T, name, debianPackage string, debianPaths ...string) string {
	t.Helper()
	p := findTool(name, debianPaths...)
	if p == "" {
		missing(t, "%s not found on PATH or at %v; install the Debian package %s (apt-get install -y %s)",
			name, debianPaths, debianPackage, debianPackage)
	}
	return p
}

// promtool finds Debian's promtool (package prometheus).
func promtool(t *testing.T) string {
	t.Helper()
	return requireTool(t, "promtool", "prometheus", "/usr/bin/promtool")
}

// run runs a command in dir and returns its combined output, failing the test when it
// exits non-zero.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ruleFile is the part of a Prometheus rule file the tests read.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

const rulesPath = "rules/shortener.rules.yml"

func loadRules(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	readYAML(t, rulesPath, &rf)
	if len(rf.Groups) == 0 {
		t.Fatalf("%s: no rule groups", rulesPath)
	}
	return rf
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// alertNames lists the distinct alert names of the rule file, sorted.
func alertNames(rf ruleFile) []string {
	seen := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				seen[r.Alert] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// query is one PromQL expression found in a rule or a dashboard, with where it came from.
type query struct {
	where string
	expr  string
}

func ruleQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, g := range loadRules(t).Groups {
		for i, r := range g.Rules {
			qs = append(qs, query{fmt.Sprintf("%s: group %s rule %d (%s%s)", rulesPath, g.Name, i, r.Alert, r.Record), r.Expr})
		}
	}
	return qs
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	path       string
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *datasourceRef  `json:"datasource"`
	GridPos    *map[string]int `json:"gridPos"`
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

const dashboardGlob = "grafana/dashboards/*.json"

func loadDashboards(t *testing.T) []dashboard {
	t.Helper()
	paths, err := filepath.Glob(dashboardGlob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no dashboards at %s (%v)", dashboardGlob, err)
	}
	var ds []dashboard
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		d := dashboard{path: p}
		dec := json.NewDecoder(bytes.NewReader(b))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("%s: not valid JSON: %v", p, err)
		}
		if dec.More() {
			t.Fatalf("%s: trailing data after the dashboard object", p)
		}
		ds = append(ds, d)
	}
	return ds
}

// allPanels flattens rows (whose collapsed panels nest) into one list.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// isLoki reports whether a panel target queries Loki rather than Prometheus.
func isLoki(p panel, targetDS *datasourceRef) bool {
	ds := targetDS
	if ds == nil {
		ds = p.Datasource
	}
	return ds != nil && ds.Type == "loki"
}

// dashboardQueries lists every PromQL query of the dashboards: panel targets and the
// label_values() queries of template variables (as a selector query).
func dashboardQueries(t *testing.T) []query {
	t.Helper()
	var qs []query
	for _, d := range loadDashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				if isLoki(p, tg.Datasource) || tg.Expr == "" {
					continue
				}
				qs = append(qs, query{fmt.Sprintf("%s: panel %d %q target %s", d.path, p.ID, p.Title, tg.RefID), tg.Expr})
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q := variableQuery(v.Query)
			if sel, ok := labelValuesSelector(q); ok {
				qs = append(qs, query{fmt.Sprintf("%s: variable %s", d.path, v.Name), sel})
			}
		}
	}
	return qs
}

// variableQuery returns the query string of a template variable, which Grafana stores
// either as a string or as {"query": "..."}.
func variableQuery(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.Query
}

var labelValuesRe = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// labelValuesSelector turns Grafana's label_values(selector, label) into the selector.
func labelValuesSelector(q string) (string, bool) {
	m := labelValuesRe.FindStringSubmatch(q)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// grafanaVars replaces the Grafana variables our dashboards use with values that make a
// valid PromQL query (and a meaningful one against the live Prometheus).
var grafanaVars = strings.NewReplacer(
	"${datasource}", "prometheus",
	"$__rate_interval", "1m",
	"$__interval", "15s",
	"$__range", "1h",
	"$namespace", "shortener",
	"${namespace}", "shortener",
	"$function", ".*",
	"${function}", ".*",
)

var promqlParser = parser.NewParser(parser.Options{})

// parsePromQL parses an expression after substituting Grafana variables.
func parsePromQL(expr string) (parser.Expr, error) {
	return promqlParser.ParseExpr(grafanaVars.Replace(expr))
}

// metricNames returns the metric names an expression selects, by the __name__ equality
// matcher of each vector and matrix selector; a selector without one is an error, since
// nothing could then check that the metric exists.
func metricNames(expr string) ([]string, error) {
	e, err := parsePromQL(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var inspectErr error
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			inspectErr = fmt.Errorf("selector %s names no metric", vs.String())
			return nil
		}
		names = append(names, name)
		return nil
	})
	return names, inspectErr
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
