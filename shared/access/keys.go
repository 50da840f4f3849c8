// Package access is access control at the edge: who a request acts for (API keys), what
// it may do (scopes, from the routing table), how often (rate limits), from where (the
// client's address behind trusted proxies) and from which web origins (CORS).
package access

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// KeyPrefix starts every API key, so a key pasted where it should not be (a log, a
// repository) is recognisable, and secret scanners can be taught it.
const KeyPrefix = "shk_"

// keyBytes is the randomness of a key: 192 bits, above the 128 the spec asks for.
const keyBytes = 24

// prefixLen is how much of a key its listing shows.
const prefixLen = 8

// NewKey makes a fresh API key: the secret the client gets once, the hash the database
// keeps, and the prefix its listing shows.
func NewKey() (secret string, hash []byte, prefix string) {
	b := make([]byte, keyBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	secret = KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return secret, HashKey(secret), secret[:prefixLen]
}

// HashKey is what the database keeps of a key. The keys are random, not chosen by people,
// so one SHA-256 is as strong as a slow password hash and costs a microsecond.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// LooksLikeKey reports whether s has a key's shape, so that garbage is refused before any
// look-up.
func LooksLikeKey(s string) bool {
	rest, ok := strings.CutPrefix(s, KeyPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(keyBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}
