package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"knative.dev/serving/pkg/apis/autoscaling"

	"github.com/urlshort/shortener/platform/internal/funcyaml"
	"github.com/urlshort/shortener/shared/routing"
)

// The real files, as make autoscale-sim reads them from platform/.
const (
	realPlatform  = "../.."
	realFunctions = "../../../functions"
)

// TestReadsTheRealFiles: every function's knobs come from its committed func.yaml and
// the cluster's from the committed config-autoscaler.yaml, read independently here.
func TestReadsTheRealFiles(t *testing.T) {
	ks, err := LoadKnobs(realPlatform, realFunctions, routing.All, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := readConfigMapData(filepath.Join(realPlatform, "knative-serving", "config-autoscaler.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sw, err := time.ParseDuration(data["stable-window"])
	if err != nil {
		t.Fatal(err)
	}
	if ks.Autoscaler.StableWindow != sw {
		t.Errorf("stable window %v, the file says %v", ks.Autoscaler.StableWindow, sw)
	}
	for _, fn := range routing.All {
		fk := ks.Functions[fn]
		f, err := funcyaml.Load(filepath.Join(realFunctions, fn))
		if err != nil {
			t.Fatal(err)
		}
		s := f.Deploy.Options.Scale
		min, max := fk.PA.ScaleBounds(ks.Autoscaler)
		if int64(min) != *s.Min || int64(max) != *s.Max {
			t.Errorf("%s: scale bounds %d..%d, func.yaml says %d..%d", fn, min, max, *s.Min, *s.Max)
		}
		spec := fk.Decider.Spec
		if spec.ScalingMetric != *s.Metric {
			t.Errorf("%s: metric %s, func.yaml says %s", fn, spec.ScalingMetric, *s.Metric)
		}
		if want := *s.Target * *s.Utilization / 100; math.Abs(spec.TargetValue-want) > 1e-9 {
			t.Errorf("%s: decider target %v, func.yaml says %v × %v %%", fn, spec.TargetValue, *s.Target, *s.Utilization)
		}
		if spec.StableWindow != sw || fk.Metric.Spec.StableWindow != sw {
			t.Errorf("%s: stable window %v / %v, want %v", fn, spec.StableWindow, fk.Metric.Spec.StableWindow, sw)
		}
		if spec.PanicThreshold != ks.Autoscaler.PanicThresholdPercentage/100 {
			t.Errorf("%s: panic threshold %v", fn, spec.PanicThreshold)
		}
		if fk.CPU <= 0 || fk.CPU > 1 {
			t.Errorf("%s: CPU limit %v cores", fn, fk.CPU)
		}
	}
}

// TestRecommendedOverlay: the committed alternative loads, changes only what it names,
// and names only knobs that exist.
func TestRecommendedOverlay(t *testing.T) {
	ov, err := LoadOverlay(filepath.Join(realPlatform, "autoscaling", "recommended.knobs"))
	if err != nil {
		t.Fatal(err)
	}
	today, err := LoadKnobs(realPlatform, realFunctions, routing.All, nil)
	if err != nil {
		t.Fatal(err)
	}
	alt, err := LoadKnobs(realPlatform, realFunctions, routing.All, ov)
	if err != nil {
		t.Fatal(err)
	}
	if len(alt.Changes) == 0 {
		t.Fatal("the alternative changes nothing")
	}
	for fn, fk := range alt.Functions {
		if _, named := ov.Functions[fn]; named || len(ov.ConfigAutoscaler) > 0 {
			continue
		}
		if fk.Decider.Spec != today.Functions[fn].Decider.Spec {
			t.Errorf("%s changed though the overlay does not name it", fn)
		}
	}
	for fn, o := range ov.Functions {
		if o.Target != nil && alt.Functions[fn].PA.Annotations[autoscaling.TargetAnnotationKey] == today.Functions[fn].PA.Annotations[autoscaling.TargetAnnotationKey] {
			t.Errorf("%s: target unchanged", fn)
		}
	}
}

// TestOverlayRefusesUnknownKeys: a misspelled knob is an error, not a silent no-op.
func TestOverlayRefusesUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"UnknownField":    "name: x\nfunctions:\n  redirect:\n    targt: 5\n",
		"UnknownFunction": "name: x\nfunctions:\n  redirects:\n    target: 5\n",
		"BadConfigValue":  "name: x\nconfig-autoscaler:\n  stable-window: 1 minute\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".yaml")
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			ov, err := LoadOverlay(p)
			if err == nil {
				_, err = LoadKnobs(realPlatform, realFunctions, routing.All, ov)
			}
			if err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestReadLog: both timestamp forms, routing by path, counting per second.
func TestReadLog(t *testing.T) {
	in := `timestamp,path
# a comment
2026-12-01T10:00:00.100Z,/abc123
2026-12-01T10:00:00.900Z,/urls?limit=5
1796119202.5,/users/7
2026-12-01T10:00:02Z,/abc123
`
	s, err := ReadLog("test", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if s.Seconds != 3 {
		t.Fatalf("%d seconds, want 3", s.Seconds)
	}
	if got := s.Rates[routing.Redirect]; got[0] != 1 || got[2] != 1 {
		t.Errorf("redirect %v", got)
	}
	if s.Rates[routing.URLs][0] != 1 || s.Rates[routing.Users][2] != 1 {
		t.Errorf("urls %v, users %v", s.Rates[routing.URLs], s.Rates[routing.Users])
	}
	for _, bad := range []string{"yesterday,/a", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z,abc"} {
		if _, err := ReadLog("bad", strings.NewReader(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestRunWritesOutputs runs the command as make does, on the fixture measurements.
func TestRunWritesOutputs(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	err := run([]string{"-platform", realPlatform, "-functions", realFunctions,
		"-measured", "testdata/measured.json", "-alt", filepath.Join(realPlatform, "autoscaling", "recommended.knobs"),
		"-log", "", "-scenario", "viral-spike", "-study", "",
		"-html", filepath.Join(dir, "a.html"), "-md", filepath.Join(dir, "a.md")}, &out, &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a.html", "a.md"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "viral-spike") || !strings.Contains(string(b), "Assumed") {
			t.Errorf("%s lacks the scenario or the assumptions", f)
		}
	}
	if !strings.Contains(out.String(), "redirect") {
		t.Errorf("no table on stdout:\n%s", out.String())
	}
}
