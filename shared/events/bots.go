package events

import "github.com/urlshort/shortener/shared/agents"

// isBot reports whether a click came from a crawler, a link-preview fetcher or a monitor.
// It runs in the click batcher, off the redirect's response path.
func isBot(userAgent string) bool { return agents.IsBot(userAgent) }
