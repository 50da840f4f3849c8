package monitoring

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const alloyPath = "alloy/config.alloy"

// No Alloy (or Promtail, or Loki) binary can be installed here: they are in neither Debian
// nor a registry this machine reaches. These tests check the configuration's structure and
// its contract with our logs; the live test checks the same keys against real log lines.

// alloyCode returns the configuration with comments and string contents blanked out, so
// that braces and names in them do not count.
func alloyCode(src string) string {
	var b strings.Builder
	inStr, inComment := false, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case inComment:
			if c == '\n' {
				inComment = false
				b.WriteByte(c)
			}
		case inStr:
			if c == '\\' && i+1 < len(src) {
				i++
				continue
			}
			if c == '"' {
				inStr = false
				b.WriteByte(c)
			}
		case c == '/' && i+1 < len(src) && src[i+1] == '/':
			inComment = true
		case c == '"':
			inStr = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

var (
	componentRe = regexp.MustCompile(`(?m)^([a-z_]+(?:\.[a-z_]+)+)\s+"([a-z0-9_]+)"\s*\{`)
	referenceRe = regexp.MustCompile(`\b((?:discovery|local|loki)\.[a-z_]+(?:\.[a-z_]+)*)\.(targets|output|receiver)\b`)
)

// alloyBlockKeys returns the keys of the object assigned in the first `<block> { ...
// <attr> = { k = "", ... } }` of the configuration.
func alloyBlockKeys(t *testing.T, src, block, attr string) []string {
	t.Helper()
	re := regexp.MustCompile(regexp.QuoteMeta(block) + `\s*\{[^}]*?` + attr + `\s*=\s*\{([^}]*)\}`)
	m := re.FindStringSubmatch(src)
	if m == nil {
		t.Fatalf("%s: no %s { %s = { ... } }", alloyPath, block, attr)
	}
	var keys []string
	for _, km := range regexp.MustCompile(`(?m)^\s*([a-z_]+)\s*=`).FindAllStringSubmatch(m[1], -1) {
		keys = append(keys, km[1])
	}
	sort.Strings(keys)
	return keys
}

// alloyLogKeys returns the JSON keys the pipeline extracts from our log lines.
func alloyLogKeys(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile(alloyPath)
	if err != nil {
		t.Fatal(err)
	}
	return alloyBlockKeys(t, string(src), "stage.json", "expressions")
}

// TestAlloyConfig checks that the configuration is well-formed (balanced blocks, every
// component it references defined) and that it parses our JSON log keys into the right
// places: level as a label, the high-cardinality fields as structured metadata.
func TestAlloyConfig(t *testing.T) {
	raw, err := os.ReadFile(alloyPath)
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	code := alloyCode(src)

	var stack []byte
	pairs := map[byte]byte{'}': '{', ']': '[', ')': '('}
	line := 1
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '\n':
			line++
		case '{', '[', '(':
			stack = append(stack, c)
		case '}', ']', ')':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				t.Fatalf("%s:%d: unbalanced %q", alloyPath, line, c)
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("%s: %d unclosed blocks", alloyPath, len(stack))
	}

	defined := map[string]bool{}
	for _, m := range componentRe.FindAllStringSubmatch(src, -1) {
		defined[m[1]+"."+m[2]] = true
	}
	for _, m := range referenceRe.FindAllStringSubmatch(code, -1) {
		if !defined[m[1]] {
			t.Errorf("%s references %s.%s, but no component %s is defined", alloyPath, m[1], m[2], m[1])
		}
	}
	for _, c := range []string{"discovery.kubernetes.pods", "loki.source.file.knative_pods", "loki.process.shortener", "loki.write.default"} {
		if !defined[c] {
			t.Errorf("%s: no component %s", alloyPath, c)
		}
	}

	extracted := alloyBlockKeys(t, src, "stage.json", "expressions")
	labels := alloyBlockKeys(t, src, "stage.labels", "values")
	metadata := alloyBlockKeys(t, src, "stage.structured_metadata", "values")
	for _, k := range []string{"time", "level", "msg", "request_id", "route", "method", "status", "duration_ms", "event_ids"} {
		if !slices.Contains(extracted, k) {
			t.Errorf("stage.json does not extract %q", k)
		}
	}
	// Labels index streams: only a handful of values each.
	for _, k := range labels {
		if k != "level" {
			t.Errorf("%q is a Loki label; only level (and the Kubernetes labels) should be", k)
		}
	}
	for _, k := range []string{"request_id", "route", "method", "status", "event_ids"} {
		if !slices.Contains(metadata, k) {
			t.Errorf("%q is not structured metadata, so it is not queryable without | json", k)
		}
	}
	for _, k := range append(slices.Clone(labels), metadata...) {
		if !slices.Contains(extracted, k) {
			t.Errorf("%q is used as a label or metadata but stage.json does not extract it", k)
		}
	}
	if !strings.Contains(src, `"__meta_kubernetes_pod_label_serving_knative_dev_service"`) {
		t.Errorf("%s does not label streams with the Knative service", alloyPath)
	}
}
