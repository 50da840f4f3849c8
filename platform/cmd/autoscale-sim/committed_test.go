package main

import (
	"path/filepath"
	"testing"

	"github.com/urlshort/shortener/shared/routing"
)

// TestCommittedInputs: the measured file and the sample log make autoscale-sim reads are
// there and hold what the scenarios need.
func TestCommittedInputs(t *testing.T) {
	m, err := LoadMeasured(filepath.Join(realPlatform, "autoscaling", "measured.json"))
	if err != nil {
		t.Fatal(err)
	}
	log, err := ReadLogFile(filepath.Join(realPlatform, "autoscaling", "sample-requests.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range append(Scenarios(), log) {
		for fn := range sc.Rates {
			if _, err := m.Model(fn, Assumptions{}); err != nil {
				t.Errorf("%s: %v", sc.Name, err)
			}
		}
	}
}

// TestCommittedOverlays: every one-knob overlay loads against the real files and changes
// something.
func TestCommittedOverlays(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(realPlatform, "autoscaling", "knobs", "*.knobs"))
	if err != nil || len(files) < 8 {
		t.Fatalf("%d overlays (%v), want one per knob", len(files), err)
	}
	for _, f := range files {
		ov, err := LoadOverlay(f)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := LoadKnobs(realPlatform, realFunctions, routing.All, ov)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(ks.Changes) == 0 {
			t.Errorf("%s changes nothing", f)
		}
	}
}
