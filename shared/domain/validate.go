package domain

import (
	"net/url"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the fields, counted in characters (code points).
const (
	MaxUsername    = 255
	MaxEmail       = 254 // RFC 5321's path limit
	MaxOriginalURL = 2048
	MaxTitle       = 255
	MinShortCode   = 4
	MaxShortCode   = 32
)

// ReservedCodes are path words a custom short code may not take: they are routes.
var ReservedCodes = []string{"users", "urls", "events", "health", "ready", "metrics"}

var (
	// An email is local@domain.tld: no spaces, one @, dot-separated non-empty labels.
	emailRe     = regexp.MustCompile(`^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$`)
	shortCodeRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// CheckUsername returns what is wrong with a username, or "".
func CheckUsername(s string) string {
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "must not be empty"
	case n > MaxUsername:
		return "must be at most 255 characters"
	case strings.TrimFunc(s, unicode.IsSpace) == "":
		return "must not be blank"
	}
	return ""
}

// CheckEmail returns what is wrong with an email, or "".
func CheckEmail(s string) string {
	if utf8.RuneCountInString(s) > MaxEmail {
		return "must be at most 254 characters"
	}
	if !emailRe.MatchString(s) {
		return "must look like local@domain.tld"
	}
	return ""
}

// CheckOriginalURL returns what is wrong with a URL to shorten, or "": it must be an
// absolute http(s) URL with a host, without whitespace, at most 2048 characters.
func CheckOriginalURL(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if utf8.RuneCountInString(s) > MaxOriginalURL {
		return "must be at most 2048 characters"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "must not contain whitespace"
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return "must be an absolute http or https URL"
	}
	if sch := strings.ToLower(u.Scheme); sch != "http" && sch != "https" {
		return "must use http or https"
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return "must have a host"
	}
	return ""
}

// CheckTitle returns what is wrong with a title, or "".
func CheckTitle(s string) string {
	if utf8.RuneCountInString(s) > MaxTitle {
		return "must be at most 255 characters"
	}
	return ""
}

// CheckShortCode returns what is wrong with a custom short code, or "".
func CheckShortCode(s string) string {
	if n := len(s); n < MinShortCode || n > MaxShortCode || !shortCodeRe.MatchString(s) {
		return "must be 4 to 32 characters of A-Z, a-z, 0-9, _ and -"
	}
	if IsReservedCode(s) {
		return "is a reserved word"
	}
	return ""
}

// IsReservedCode reports whether s names a route. The comparison ignores case so that no
// code can look like a route to a reader either.
func IsReservedCode(s string) bool {
	for _, w := range ReservedCodes {
		if strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}

// ShortCodeAlphabet is what generated codes are made of.
const ShortCodeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// GeneratedCodeLength is the length of generated codes: 62^6 ≈ 5.7e10 codes.
const GeneratedCodeLength = 6
