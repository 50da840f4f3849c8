// Package cachetest gives tests a cache on a real Valkey/Redis server, which it finds or
// starts (see devenv), under a key prefix of their own.
package cachetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/devenv"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// URL returns the URL of a Valkey/Redis server that answers.
func URL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	u, err := devenv.Redis(ctx, devenv.Dir())
	if err != nil {
		storetest.Unavailable(t, "Valkey/Redis", err)
	}
	return u
}

// Prefix returns a key prefix no other test uses.
func Prefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test:" + hex.EncodeToString(b) + ":"
}

// New returns a cache under a fresh key prefix, closed after the test.
func New(t testing.TB) *cache.Cache {
	t.Helper()
	c, err := cache.New(cache.Options{URL: URL(t), KeyPrefix: Prefix(), TTL: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
