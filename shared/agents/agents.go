// Package agents classifies a click's user agent and referrer for the audit log's bot flag
// and the statistics. User agents are parsed by medama-io/go-useragent, whose lists of
// browsers, systems and bots (crawlers, link-preview fetchers such as Slackbot and
// facebookexternalhit, monitors, HTTP tools) are kept upstream, not here.
package agents

import (
	"net/url"
	"strings"
	"sync"

	useragent "github.com/medama-io/go-useragent"
	uaagents "github.com/medama-io/go-useragent/agents"
)

// parser is built on first use: a function that never sees a click never pays for its trie.
var parser = sync.OnceValue(useragent.NewParser)

// The device types of the statistics.
const (
	Desktop = "desktop"
	Mobile  = "mobile"
	Tablet  = "tablet"
	Bot     = "bot"
	Other   = "other"
)

// Unknown names a browser or system the parser does not know (or an empty user agent).
const Unknown = "Other"

// Direct is the referrer host of a click that came with no referrer.
const Direct = "direct"

// Agent is what the statistics keep of a user agent.
type Agent struct {
	Bot     bool
	Browser string
	OS      string
	Device  string
}

// IsBot reports whether a user agent is a crawler, a link-preview fetcher or a monitor
// (about 2 µs).
func IsBot(userAgent string) bool {
	return userAgent != "" && parser().Parse(userAgent).IsBot()
}

// Parse classifies a user agent; an empty one is an unknown browser on an unknown device.
func Parse(userAgent string) Agent {
	if userAgent == "" {
		return Agent{Browser: Unknown, OS: Unknown, Device: Other}
	}
	ua := parser().Parse(userAgent)
	a := Agent{Bot: ua.IsBot(), Browser: string(ua.Browser()), OS: string(ua.OS())}
	if a.Browser == "" {
		a.Browser = Unknown
	}
	if a.OS == "" {
		a.OS = Unknown
	}
	switch d := ua.Device(); {
	case a.Bot || d == uaagents.DeviceBot:
		a.Device = Bot
	case d == uaagents.DeviceDesktop:
		a.Device = Desktop
	case d == uaagents.DeviceMobile:
		a.Device = Mobile
	case d == uaagents.DeviceTablet:
		a.Device = Tablet
	default:
		a.Device = Other
	}
	return a
}

// maxHost bounds a referrer host as a statistics name: a DNS name is at most 253.
const maxHost = 253

// ReferrerHost is the host a referrer names, lower-case, "direct" for none, and "other"
// when it names no host (a relative or malformed value a client sent).
func ReferrerHost(referrer string) string {
	if referrer == "" {
		return Direct
	}
	u, err := url.Parse(referrer)
	if err != nil || u.Hostname() == "" || len(u.Hostname()) > maxHost {
		return Other
	}
	return strings.ToLower(u.Hostname())
}
