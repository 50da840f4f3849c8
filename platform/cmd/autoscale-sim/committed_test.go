package main

import (
	"path/filepath"
	"testing"
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
