package function

import (
	"fmt"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/cache"
)

// BenchmarkRedirectHit measures the redirect hot path in-process, through the whole
// function (router, metrics, log line, client-side cache hit, click queue), without the
// network.
func BenchmarkRedirectHit(b *testing.B) { benchRedirectHit(b, nil) }

// BenchmarkRedirectHitKeysOn is BenchmarkRedirectHit with AUTH_MODE=keys: redirects stay
// open, and what the guard adds to each (the route's access from the routing table) shows
// here.
func BenchmarkRedirectHitKeysOn(b *testing.B) {
	benchRedirectHit(b, map[string]string{"AUTH_MODE": "keys", "ADMIN_API_KEY": adminKey})
}

func benchRedirectHit(b *testing.B, env map[string]string) {
	a := startAPI(b, env)
	user := a.keyed(adminKey, "POST", "/users", map[string]any{"username": "b", "email": "b@example.com"}).json(b)["id"]
	code := a.keyed(adminKey, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/bench"}).json(b)["short_code"].(string)
	req := httptest.NewRequest("GET", "/"+code, nil)
	// The key was just written: for a while this process reads it from Valkey, not its
	// client-side cache. Time the hot key.
	time.Sleep(cache.SettleWindow)
	a.f.Handle(httptest.NewRecorder(), req) // fill the cache
	b.ReportAllocs()
	cpu0, n := processCPU(b), 0
	b.ResetTimer()
	for b.Loop() {
		w := httptest.NewRecorder()
		a.f.Handle(w, req)
		if w.Code != 302 {
			b.Fatalf("status %d", w.Code)
		}
		n++
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(n), "cpu-ns/op")
}

// BenchmarkManagementAuth measures a management read (GET /urls/{id}, a cache hit)
// through the whole function with access control off and on: the difference is what a
// key costs per request (its SHA-256, the principal from the process's client-side cache,
// the scope check and the principal in the context).
func BenchmarkManagementAuth(b *testing.B) {
	for _, keys := range []bool{false, true} {
		b.Run(map[bool]string{false: "keys=off", true: "keys=on"}[keys], func(b *testing.B) {
			env := map[string]string{}
			if keys {
				env = map[string]string{"AUTH_MODE": "keys", "ADMIN_API_KEY": adminKey}
			}
			a := startAPI(b, env)
			key := adminKey
			if keys {
				key, _ = a.mustKey(map[string]any{"name": "bench", "scopes": []string{"read"}})
			}
			user := a.keyed(adminKey, "POST", "/users", map[string]any{"username": "b", "email": "b@example.com"}).json(b)["id"]
			u := a.keyed(adminKey, "POST", "/urls", map[string]any{"user_id": user, "original_url": "https://example.com/"}).json(b)
			req := httptest.NewRequest("GET", fmt.Sprintf("/urls/%v", u["id"]), nil)
			req.Header.Set("Authorization", "Bearer "+key)
			time.Sleep(cache.SettleWindow)
			for range 3 { // fill the item and the principal, then read them from memory
				a.f.Handle(httptest.NewRecorder(), req)
			}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			n, hits := 0, 0
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				a.f.Handle(w, req)
				if w.Code != 200 {
					b.Fatalf("status %d", w.Code)
				}
				if w.Header().Get("X-Cache") == "HIT" {
					hits++
				}
				n++
			}
			// A loaded machine may make the cache distrust Valkey for a moment (a miss
			// then reads PostgreSQL): the share of hits says whether runs compare.
			b.ReportMetric(100*float64(hits)/float64(n), "hit%")
			// Wall time moves with whatever else the machine runs; the process's own CPU
			// time per request is what a key costs.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(n), "cpu-ns/op")
		})
	}
}

// processCPU is the CPU time (user and system) this process has used, in nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
