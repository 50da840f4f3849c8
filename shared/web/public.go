package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
)

// PublicBase is the origin short links are built on: configured (PUBLIC_BASE_URL) when
// set, else the request's own scheme and host as the client reached them, honouring
// X-Forwarded-Proto and X-Forwarded-Host, which Traefik sets. Only the caller sees what
// it builds (their own link), so a forged header misleads no one else.
func PublicBase(r *http.Request, configured string) string {
	if configured != "" {
		return strings.TrimRight(configured, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); hostRe.MatchString(h) {
		host = h
	}
	return scheme + "://" + host
}

// hostRe is what a forwarded host may be: a name or address, an optional port.
var hostRe = regexp.MustCompile(`^([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[0-9]{1,5})?$`)

// firstValue is the first element of a comma-separated header: the client's own hop.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.ToLower(strings.TrimSpace(first))
}

// relativeLink is how a short_url is written before the origin is known: cached bodies
// are every client's, so they hold "/code" and each answer puts its own origin in front.
var relativeLink = []byte(`"short_url":"/`)

// RelativeLink is what a URL's ShortURL holds in a cached body.
func RelativeLink(code string) string { return "/" + code }

// AbsoluteLinks makes the relative short links of a JSON body of URLs absolute on base.
// The byte sequence cannot occur inside another string value: JSON escapes the quotes.
func AbsoluteLinks(body []byte, base string) []byte {
	quoted, _ := json.Marshal(base) // base comes from request headers: escape it as JSON
	prefix := append(append([]byte(`"short_url":"`), quoted[1:len(quoted)-1]...), '/')
	return bytes.ReplaceAll(body, relativeLink, prefix)
}
