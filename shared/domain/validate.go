package domain

import (
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
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
var ReservedCodes = []string{"users", "urls", "events", "health", "ready", "metrics", "api-keys", "openapi.json"}

// An email is local@domain.tld: no spaces, one @, dot-separated non-empty labels.
var emailRe = regexp.MustCompile(`^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$`)

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
// absolute http(s) URL with a host and, if it names a port, a port from 1 to 65535, at most
// 2048 characters, without whitespace and without characters a reader cannot see or that
// betray a broken encoding (controls, format characters such as zero-width spaces and
// bidirectional overrides, private-use and unassigned code points, U+FFFD): a short link
// must lead where it visibly says.
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
	if strings.ContainsFunc(s, invisible) {
		return "must not contain invisible or invalid characters"
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
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "must have a port from 1 to 65535"
		}
	}
	return ""
}

// invisible reports the code points CheckOriginalURL refuses besides spaces and controls.
func invisible(r rune) bool {
	return r == utf8.RuneError || unicode.In(r, unicode.Cf, unicode.Co, unicode.Cn, unicode.Cs)
}

// CheckPublicTarget returns what is wrong with an already valid URL as a target when
// private targets are refused (BLOCK_PRIVATE_TARGETS), or "": its host must not be a
// loopback, private, link-local, unspecified or multicast address, a name under
// localhost, or a numeric host in a form browsers read as an IPv4 address
// ("http://2130706433/" is 127.0.0.1). Names are not resolved: what a public name points
// at can change after the link is made, so this guards against the obvious cases only.
func CheckPublicTarget(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "must be an absolute http or https URL"
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "must not point at this machine (localhost)"
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() {
			return "must not point at a private, loopback or link-local address"
		}
		if ip.Is4() && (ip.As4()[0] == 100 && ip.As4()[1]&0xc0 == 64) { // 100.64/10, carrier-grade NAT
			return "must not point at a private, loopback or link-local address"
		}
		return ""
	}
	if numericHost(host) {
		return "must not use a numeric host other than a dotted IPv4 address"
	}
	return ""
}

// numericHost reports a host made only of the characters of the decimal, octal and hex
// IPv4 forms that inet_aton and browsers accept (2130706433, 0x7f.1, 0177.0.0.1), whose
// last label is numeric as no DNS top-level domain is.
func numericHost(h string) bool {
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	for _, r := range last {
		if !strings.ContainsRune("0123456789abcdefx", r) {
			return false
		}
	}
	return last[0] >= '0' && last[0] <= '9'
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
	if !IsPossibleCode(s) {
		return "must be 4 to 32 characters of A-Z, a-z, 0-9, _ and -"
	}
	if IsReservedCode(s) {
		return "is a reserved word"
	}
	return ""
}

// IsPossibleCode reports whether s has the shape every stored code has (4 to 32 of
// A-Z, a-z, 0-9, _ and -), so that anything else is refused before any look-up: neither
// the cache nor the database is asked about, or keeps, a code that cannot exist. It is
// on the redirect's hot path, hence a byte loop instead of the regular expression.
func IsPossibleCode(s string) bool {
	if len(s) < MinShortCode || len(s) > MaxShortCode {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
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

// Limits of a link's tags.
const (
	MaxTags   = 20
	MaxTagLen = 50
)

var tagRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,50}$`)

// NormalizeTags checks tags and returns them as stored: lower-case, each once, in the
// order first given; msg says what is wrong, or is "".
func NormalizeTags(tags []string) (out []string, msg string) {
	out = make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		if !tagRe.MatchString(t) {
			return nil, "each tag must be 1 to 50 of letters, digits, '-', '_' and '.'"
		}
		if t = strings.ToLower(t); !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	if len(out) > MaxTags {
		return nil, "must have at most " + strconv.Itoa(MaxTags) + " tags"
	}
	return out, ""
}
