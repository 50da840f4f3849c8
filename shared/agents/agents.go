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

	"github.com/urlshort/shortener/shared/domain"
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

// IsBot reports whether a user agent is a crawler, a link-preview fetcher or a monitor.
func IsBot(userAgent string) bool { return Parse(userAgent).Bot }

// Classify is what the statistics keep of a click: flagged says its details call it a bot.
func Classify(referrer, userAgent string, flagged bool) domain.ClickFacts {
	a := Parse(userAgent)
	f := domain.ClickFacts{Bot: flagged || a.Bot, Referrer: ReferrerHost(referrer), Browser: a.Browser, OS: a.OS, DeviceType: a.Device}
	if f.Bot {
		f.DeviceType = Bot
	}
	return f
}

// Clicks come from a few user agents over and over (a link shared in one app, a
// crawler's retries): a parse costs about 2 µs, a look-up here a few tens of ns. The memo
// holds up to memoSize agents of at most memoLen bytes and starts over when full, which
// bounds it without bookkeeping.
const (
	memoSize = 4096
	memoLen  = 512
)

var memo struct {
	sync.RWMutex
	m map[string]Agent
}

// Parse classifies a user agent; an empty one is an unknown browser on an unknown device.
func Parse(userAgent string) Agent {
	if userAgent == "" {
		return Agent{Browser: Unknown, OS: Unknown, Device: Other}
	}
	memo.RLock()
	a, ok := memo.m[userAgent]
	memo.RUnlock()
	if ok {
		return a
	}
	a = parse(userAgent)
	if len(userAgent) <= memoLen {
		memo.Lock()
		if memo.m == nil || len(memo.m) >= memoSize {
			memo.m = make(map[string]Agent, memoSize)
		}
		memo.m[strings.Clone(userAgent)] = a
		memo.Unlock()
	}
	return a
}

func parse(userAgent string) Agent {
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
