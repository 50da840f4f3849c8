package events

import (
	"sync"

	useragent "github.com/medama-io/go-useragent"
)

// agents parses user agents with medama-io/go-useragent, whose bot list (crawlers,
// link-preview fetchers such as Slackbot and facebookexternalhit, monitors, HTTP tools)
// is kept upstream, not here. Its trie is built on first use, so a function that never
// records a click never pays for it.
var agents = sync.OnceValue(useragent.NewParser)

// isBot reports whether a click came from a crawler, a link-preview fetcher or a monitor.
// It runs in the click batcher, off the redirect's response path (about 2 µs a click).
func isBot(userAgent string) bool {
	return userAgent != "" && agents().Parse(userAgent).IsBot()
}
