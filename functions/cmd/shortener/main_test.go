package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		arg    string
		status int
	}{{"-h", 0}, {"--help", 0}, {"-help", 0}, {"-port=9000", 2}, {"serve", 2}} {
		var out bytes.Buffer
		if got := usage(&out, []string{tc.arg}); got != tc.status {
			t.Errorf("usage(%q) = %d, want %d", tc.arg, got, tc.status)
		}
		for _, want := range []string{"Usage: shortener", "DATABASE_URL", "FUNCTION", "README.md"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("usage(%q) does not mention %q:\n%s", tc.arg, want, out.String())
			}
		}
		if named := strings.Contains(out.String(), "takes no arguments, got \""+tc.arg+"\""); named != (tc.status != 0) {
			t.Errorf("usage(%q) names the argument as a mistake: %v, want %v", tc.arg, named, tc.status != 0)
		}
	}
}
