package domain

import (
	"slices"
	"strings"
	"testing"
)

// FuzzNormalizeTags: whatever the tags, NormalizeTags either refuses them or returns at
// most 20 distinct lower-case tags of the allowed shape, and normalising those again
// changes nothing.
func FuzzNormalizeTags(f *testing.F) {
	for _, s := range []string{"News,go,news", "a.b-c_d", "", ",", "UPPER,upper", "é", "has space", strings.Repeat("x", 51),
		strings.Repeat("t,", 21), "\x00", "İ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, joined string) {
		tags := strings.Split(joined, ",")
		out, msg := NormalizeTags(tags)
		if msg != "" {
			if out != nil {
				t.Fatalf("refused %q with %q but returned %q", tags, msg, out)
			}
			return
		}
		if len(out) > MaxTags {
			t.Fatalf("%d tags kept", len(out))
		}
		seen := map[string]bool{}
		for _, tag := range out {
			if tag != strings.ToLower(tag) || !tagRe.MatchString(tag) || seen[tag] {
				t.Fatalf("kept %q from %q", tag, tags)
			}
			seen[tag] = true
		}
		again, msg := NormalizeTags(out)
		if msg != "" || !slices.Equal(again, out) {
			t.Fatalf("normalising %q again gave %q, %q", out, again, msg)
		}
	})
}
