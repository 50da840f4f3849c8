package agents

import "testing"

// TestParse: the statistics' names for the usual agents, bots flagged as bot devices,
// and the empty agent as unknown.
func TestParse(t *testing.T) {
	for _, c := range []struct {
		ua   string
		want Agent
	}{
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
			Agent{Browser: "Chrome", OS: "Windows", Device: Desktop}},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
			Agent{Browser: "Safari", OS: "iOS", Device: Mobile}},
		{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", Agent{Bot: true, Device: Bot}},
		{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", Agent{Bot: true, Device: Bot}},
		{"", Agent{Browser: Unknown, OS: Unknown, Device: Other}},
	} {
		got := Parse(c.ua)
		if got.Bot != c.want.Bot || got.Device != c.want.Device || (!c.want.Bot && (got.Browser != c.want.Browser || got.OS != c.want.OS)) {
			t.Errorf("Parse(%.40q) = %+v, want %+v", c.ua, got, c.want)
		}
		if IsBot(c.ua) != c.want.Bot {
			t.Errorf("IsBot(%.40q) = %v", c.ua, !c.want.Bot)
		}
	}
}

// TestReferrerHost: the host in lower case, "direct" for none, "other" for what names none.
func TestReferrerHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://News.Example.org/item?id=1": "news.example.org",
		"http://[::1]:8080/x":                "::1",
		"":                                   Direct,
		"not a url":                          Other,
		"/relative/path":                     Other,
		"https://%zz":                        Other,
		"android-app://com.slack":            "com.slack",
	} {
		if got := ReferrerHost(in); got != want {
			t.Errorf("ReferrerHost(%q) = %q, want %q", in, got, want)
		}
	}
}
