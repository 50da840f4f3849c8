package function

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/cache"
)

// BenchmarkRedirectHit measures the redirect hot path in-process, through the whole
// function (router, metrics, log line, client-side cache hit, click queue), without the
// network.
func BenchmarkRedirectHit(b *testing.B) {
	a := startAPI(b, nil)
	code := a.createURL(a.createUser(), "https://example.com/bench")["short_code"].(string)
	req := httptest.NewRequest("GET", "/"+code, nil)
	// The key was just written: for a while this process reads it from Valkey, not its
	// client-side cache. Time the hot key.
	time.Sleep(cache.SettleWindow)
	a.f.Handle(httptest.NewRecorder(), req) // fill the cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		a.f.Handle(w, req)
		if w.Code != 302 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
