package web

import (
	"net/http"
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
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" && !strings.ContainsAny(h, "/\\@ ") {
		host = h
	}
	return scheme + "://" + host
}

// firstValue is the first element of a comma-separated header: the client's own hop.
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.ToLower(strings.TrimSpace(first))
}
