//go:build e2e

package function

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/store/storetest"
)

// keyedCall sends one request with an API key and returns its status.
func keyedCall(t testing.TB, key, method, url string) int {
	t.Helper()
	code, _, _ := callKeyed(t, key, method, url, nil)
	return code
}

// TestE2ERevokedKeyEverywhere: two instances of each keyed function (as separate
// processes) accept a key, have it cached, and refuse it within one second of its
// revocation through another instance; with Valkey stopped, a key revoked then is
// refused within a second as well, every check going to PostgreSQL.
func TestE2ERevokedKeyEverywhere(t *testing.T) {
	bin := buildBinary(t)
	db := storetest.URL(t)
	redisURL, stopRedis := startRedis(t)
	env := []string{"DATABASE_URL=" + db, "VALKEY_URL=" + redisURL, "VALKEY_KEY_PREFIX=e2e:", "LOG_LEVEL=warn",
		"AUTH_MODE=keys", "ADMIN_API_KEY=" + adminKey}
	var procs []*proc
	for _, f := range []string{"users", "urls", "events"} {
		procs = append(procs, startProc(t, bin, f, env), startProc(t, bin, f, env))
	}
	users := procs[0]
	paths := map[string]string{"users": "/users", "urls": "/urls", "events": "/events"}
	newKey := func() (string, int64) {
		code, k, _ := callKeyed(t, adminKey, "POST", users.base+"/api-keys", map[string]any{"name": "e2e", "scopes": []string{"read"}})
		if code != 201 {
			t.Fatalf("create key: %d %v", code, k)
		}
		return k["key"].(string), int64(k["id"].(float64))
	}
	// revokeAndWatch revokes key through one users instance while every instance is
	// polled with it, and returns how long the slowest took to refuse it.
	revokeAndWatch := func(key string, id int64) time.Duration {
		for _, p := range procs {
			for range 3 { // cached by now, in the process's memory too
				if code := keyedCall(t, key, "GET", p.base+paths[p.name]); code != 200 {
					t.Fatalf("%s before revocation: %d", p.name, code)
				}
			}
		}
		if code := keyedCall(t, adminKey, "DELETE", fmt.Sprintf("%s/api-keys/%d", procs[1].base, id)); code != 204 {
			t.Fatalf("revoke: %d", code)
		}
		revoked := time.Now()
		var (
			mu      sync.Mutex
			slowest time.Duration
			wg      sync.WaitGroup
		)
		for _, p := range procs {
			wg.Go(func() {
				for {
					if keyedCall(t, key, "GET", p.base+paths[p.name]) == 401 {
						mu.Lock()
						slowest = max(slowest, time.Since(revoked))
						mu.Unlock()
						return
					}
					if time.Since(revoked) > 5*time.Second {
						t.Errorf("%s at %s still accepts the revoked key after 5 s", p.name, p.base)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		return slowest
	}

	key, id := newKey()
	if d := revokeAndWatch(key, id); d > time.Second {
		t.Errorf("the slowest of %d instances refused the revoked key after %v, want within 1 s", len(procs), d)
	} else {
		t.Logf("Valkey up: every instance refused the revoked key within %v", d)
	}

	key, id = newKey()
	for _, p := range procs { // cached while Valkey is up
		keyedCall(t, key, "GET", p.base+paths[p.name])
	}
	stopRedis()
	if d := revokeAndWatch(key, id); d > time.Second {
		t.Errorf("Valkey stopped: the slowest instance refused the revoked key after %v, want within 1 s", d)
	} else {
		t.Logf("Valkey stopped: every instance refused the revoked key within %v", d)
	}
}

// TestE2EWriteLimitShared: two instances of the users function share one write limit
// through Valkey: with RATE_LIMIT_WRITES=10/m, exactly 10 writes of one key are let
// through across both, the rest refused with 429 and Retry-After.
func TestE2EWriteLimitShared(t *testing.T) {
	bin := buildBinary(t)
	db := storetest.URL(t)
	redisURL, _ := startRedis(t)
	env := []string{"DATABASE_URL=" + db, "VALKEY_URL=" + redisURL, "VALKEY_KEY_PREFIX=e2e:", "LOG_LEVEL=warn",
		"AUTH_MODE=keys", "ADMIN_API_KEY=" + adminKey, "RATE_LIMIT_WRITES=10/m"}
	a, b := startProc(t, bin, "users", env), startProc(t, bin, "users", env)
	code, k, _ := callKeyed(t, adminKey, "POST", a.base+"/api-keys", map[string]any{"name": "w", "scopes": []string{"write"}})
	if code != 201 {
		t.Fatalf("create key: %d %v", code, k)
	}
	key := k["key"].(string)
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		retry    = true
		wg       sync.WaitGroup
	)
	for i := range 30 {
		wg.Go(func() {
			p := a
			if i%2 == 1 {
				p = b
			}
			code, _, h := callKeyed(t, key, "POST", p.base+"/users", map[string]any{"username": "u", "email": fmt.Sprintf("w%d@example.com", i)})
			mu.Lock()
			defer mu.Unlock()
			statuses[code]++
			if code == 429 && h.Get("Retry-After") == "" {
				retry = false
			}
		})
	}
	wg.Wait()
	if statuses[201] != 10 || statuses[429] != 20 {
		t.Errorf("statuses %v across two instances, want 10 × 201 and 20 × 429", statuses)
	}
	if !retry {
		t.Error("a 429 without Retry-After")
	}
}
