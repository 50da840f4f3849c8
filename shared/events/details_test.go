package events

import (
	"encoding/json"
	"testing"

	"github.com/urlshort/shortener/shared/domain"
)

// TestAppendDetailsMatchesEncodingJSON: the hand-written fast path writes exactly what
// encoding/json writes, and the fallback takes whatever it cannot.
func TestAppendDetailsMatchesEncodingJSON(t *testing.T) {
	for _, cl := range []domain.Click{
		{ShortCode: "abc123"},
		{ShortCode: "abc123", Referrer: "https://ref.example/a?b=c", UserAgent: "curl/8.5.0"},
		{ShortCode: "abc123", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"},
		{ShortCode: "abc123", Referrer: "https://x.example/?q=<script>&a=1"},
		{ShortCode: "abc123", UserAgent: `quote " and \ backslash`},
		{ShortCode: "abc123", UserAgent: "tab\there, é, \u2028"},
		{ShortCode: "abc123", Referrer: "\xff invalid utf-8"},
		{ShortCode: "abc123", UserAgent: "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
		{ShortCode: "abc123", UserAgent: "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"},
		{ShortCode: "abc123", UserAgent: "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"},
		{ShortCode: "abc123", UserAgent: "Googlebot/2.1 \"quoted\""},
	} {
		want, err := json.Marshal(domain.ClickDetails{ShortCode: cl.ShortCode, Referrer: cl.Referrer, UserAgent: cl.UserAgent, Bot: isBot(cl.UserAgent)})
		if err != nil {
			t.Fatal(err)
		}
		got := appendDetails([]byte("prefix"), cl, isBot(cl.UserAgent))
		if string(got) != "prefix"+string(want) {
			t.Errorf("%+v:\n got %s\nwant prefix%s", cl, got, want)
		}
		if !json.Valid(got[len("prefix"):]) {
			t.Errorf("%+v: invalid JSON %s", cl, got)
		}
	}
}

// TestIsBot: crawlers, link-preview fetchers and monitors are bots; browsers are not.
func TestIsBot(t *testing.T) {
	for ua, want := range map[string]bool{
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)":  true,
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)":                true,
		"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)": true,
		"Twitterbot/1.0": true,
		"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)":                                                                       true,
		"Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)":                                                                  true,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36":                         false,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1": false,
		"": false,
	} {
		if got := isBot(ua); got != want {
			t.Errorf("isBot(%q) = %v, want %v", ua, got, want)
		}
	}
}

// BenchmarkAppendDetails is what the click batcher spends on one click's details, the
// bot check included, for a browser and for a bot.
func BenchmarkAppendDetails(b *testing.B) {
	for name, ua := range map[string]string{
		"browser": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"bot":     "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
	} {
		b.Run(name, func(b *testing.B) {
			cl := domain.Click{ShortCode: "abc123", Referrer: "https://news.example.com/", UserAgent: ua}
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				buf = appendDetails(buf[:0], cl, isBot(cl.UserAgent))
			}
		})
	}
}
