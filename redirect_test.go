package function

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/cache"
)

// TestHeadRecordsNoClick: a HEAD answers like the GET but is a check of the link, not a
// visit, so only the GETs leave click events.
func TestHeadRecordsNoClick(t *testing.T) {
	a := startAPI(t, nil)
	u := a.createURL(a.createUser(), "https://example.com/head")
	code, id := u["short_code"].(string), u["id"]
	for _, m := range []string{"HEAD", "GET", "HEAD", "GET", "HEAD"} {
		if r := a.do(m, "/"+code, "", nil); r.status != 302 {
			t.Fatalf("%s: %d", m, r.status)
		}
	}
	clicks := func() int {
		r := a.do("GET", fmt.Sprintf("/events?url_id=%v&event_type=click", id), "", nil)
		var evs []map[string]any
		if err := json.Unmarshal(r.body, &evs); err != nil {
			t.Fatalf("events: %s", r.body)
		}
		return len(evs)
	}
	waitFor(t, 5*time.Second, "the GETs' clicks", func() bool { return clicks() >= 2 })
	time.Sleep(200 * time.Millisecond) // a HEAD's click, if any, would be written by now
	if n := clicks(); n != 2 {
		t.Fatalf("%d click events for 2 GETs and 3 HEADs, want 2", n)
	}
}

// TestClientSideHitsCounted: repeated redirects of a settled code are answered from the
// process's own memory, and the metric operators watch for that counts them.
func TestClientSideHitsCounted(t *testing.T) {
	a := startAPI(t, nil)
	code := a.createURL(a.createUser(), "https://example.com/local")["short_code"].(string)
	time.Sleep(cache.SettleWindow + 100*time.Millisecond) // the write's own window passes
	for range 5 {
		if r := a.do("GET", "/"+code, "", nil); r.status != 302 {
			t.Fatalf("redirect: %d", r.status)
		}
	}
	r := a.do("GET", "/metrics", "", nil)
	for _, line := range strings.Split(string(r.body), "\n") {
		if v, ok := strings.CutPrefix(line, "shortener_cache_client_side_hits_total "); ok {
			if n, _ := strconv.ParseFloat(v, 64); n < 1 {
				t.Fatalf("client-side hits = %s after 5 redirects of a settled code", v)
			}
			return
		}
	}
	t.Fatal("no shortener_cache_client_side_hits_total in /metrics")
}
