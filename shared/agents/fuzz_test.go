package agents

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzClassify: whatever referrer and user agent a client sends (raw headers in the
// redirect, or a posted click's details), the statistics' names are UTF-8 text without
// NUL that PostgreSQL stores, a host is at most 253 bytes, and the device is one of the
// five types.
func FuzzClassify(f *testing.F) {
	for _, s := range [][2]string{
		{"https://News.Example.org/x", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"},
		{"http://\xff/", "\xff\xfe"}, {"http://a\x00b/", "a\x00"}, {"http://%zz", ""}, {"//host/x", "curl/8"},
		{"http://[::1%25en0]/", "Googlebot"}, {"http://%C3%28/", ""}, {"http://a%00b/", ""}, {"http://" + strings.Repeat("a", 300) + "/", ""},
	} {
		f.Add(s[0], s[1], false)
	}
	f.Fuzz(func(t *testing.T, referrer, ua string, flagged bool) {
		c := Classify(referrer, ua, flagged)
		for _, name := range []string{c.Referrer, c.Browser, c.OS, c.DeviceType} {
			if name == "" || !utf8.ValidString(name) || strings.IndexByte(name, 0) >= 0 {
				t.Fatalf("Classify(%q, %q) gave the name %q", referrer, ua, name)
			}
		}
		if len(c.Referrer) > maxHost {
			t.Fatalf("host of %d bytes", len(c.Referrer))
		}
		switch c.DeviceType {
		case Desktop, Mobile, Tablet, Bot, Other:
		default:
			t.Fatalf("device %q", c.DeviceType)
		}
		if flagged && !c.Bot {
			t.Fatal("a flagged click is not a bot")
		}
	})
}
