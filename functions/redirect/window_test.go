package redirect_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/routing"
)

// TestRedirectWindow: a link with valid_since starts redirecting at that instant and one
// with expires_at stops at its instant, each within 10 ms, with no write in between and
// while the cached entry (in the process's memory) answers; refused redirects are 404 with
// the spec's messages and record no click.
func TestRedirectWindow(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Redirect, grouptest.Options{})
	user := e.CreateUser(t)
	start := time.Now().Add(700 * time.Millisecond).UTC()
	end := start.Add(600 * time.Millisecond)
	r := e.Fixture(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": target,
		"valid_since": start.Format(time.RFC3339Nano), "expires_at": end.Format(time.RFC3339Nano)})
	if r.Status != 201 {
		t.Fatalf("create: %v", r)
	}
	code := r.Object(t)["short_code"].(string)
	id := int64(r.Object(t)["id"].(float64))

	// Before: 404 "not yet valid" (and cached after the first look-up).
	for range 3 {
		if r := get(t, e, "GET", "/"+code, "", ""); r.Status != 404 || !strings.Contains(string(r.Body), "short code not yet valid") {
			t.Fatalf("before valid_since: %v", r)
		}
	}
	// Each answer was decided somewhere between sending the request and receiving the
	// answer, so a 302 received before the instant, or a refusal sent more than 10 ms after
	// it, would be wrong whatever the latency (a loaded machine or coverage adds some).
	const slack = 10 * time.Millisecond
	redirects := 0
	for phase := 0; phase < 2; {
		sent := time.Now()
		r := get(t, e, "GET", "/"+code, "", "")
		received := time.Now()
		switch {
		case r.Status == 302:
			redirects++
			if phase == 0 {
				phase = 1
			}
			if received.Before(start) {
				t.Fatalf("a 302 received %v before valid_since", start.Sub(received))
			}
			if sent.After(end.Add(slack)) {
				t.Fatalf("a 302 for a request sent %v after expires_at", sent.Sub(end))
			}
		case r.Status == 404 && phase == 0:
			if !strings.Contains(string(r.Body), "short code not yet valid") {
				t.Fatalf("before valid_since: %v", r)
			}
			if sent.After(start.Add(slack)) {
				t.Fatalf("refused as not yet valid a request sent %v after valid_since", sent.Sub(start))
			}
		case r.Status == 404:
			if !strings.Contains(string(r.Body), "short code expired") {
				t.Errorf("after expires_at: %v", r)
			}
			if received.Before(end) {
				t.Fatalf("refused as expired %v before expires_at", end.Sub(received))
			}
			phase = 2
		default:
			t.Fatalf("unexpected answer: %v", r)
		}
		if received.After(end.Add(time.Second)) {
			t.Fatalf("no refusal a second after expires_at")
		}
		time.Sleep(time.Millisecond)
	}
	if r := get(t, e, "GET", "/"+code, "", ""); r.Header.Get("X-Cache") != "HIT" || r.Status != 404 {
		t.Errorf("after expiry, from the cache: %v %v", r.Status, r.Header.Get("X-Cache"))
	}
	// One click per 302, none for the refusals (Audits waits for every delivery).
	if n := len(clicks(t, e, id)); n != redirects {
		t.Errorf("%d clicks recorded for %d redirects", n, redirects)
	}
}

// TestBotClicks: a click from a crawler, link-preview fetcher or monitor carries
// "bot": true in its details; a browser's carries no bot field. Both are redirected.
func TestBotClicks(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Redirect, grouptest.Options{})
	u := e.CreateURL(t, e.CreateUser(t), target)
	agents := map[string]bool{
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)":                                                      true,
		"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)":                                       true,
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36": false,
	}
	for ua := range agents {
		if r := get(t, e, "GET", "/"+u.ShortCode, "", ua); r.Status != 302 {
			t.Fatalf("%s: %v", ua, r)
		}
	}
	evs := clicks(t, e, u.ID)
	if len(evs) != len(agents) {
		t.Fatalf("%d clicks, want %d", len(evs), len(agents))
	}
	for _, ev := range evs {
		var d map[string]any
		if err := json.Unmarshal(ev.Details, &d); err != nil {
			t.Fatal(err)
		}
		ua, _ := d["user_agent"].(string)
		bot, has := d["bot"]
		if agents[ua] && bot != true || !agents[ua] && has {
			t.Errorf("click of %q has details %s", ua, ev.Details)
		}
	}
}

// TestVisitLimit: a link with max_visits 2 answers two GETs with 302 (a HEAD before, in
// between and after uses none), then 404 with its reason, for GET and HEAD; its two clicks
// are in the log and its visits say 2.
func TestVisitLimit(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Redirect, grouptest.Options{})
	user := e.CreateUser(t)
	r := e.Fixture(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": target, "max_visits": 2})
	code := r.Object(t)["short_code"].(string)
	id := int64(r.Object(t)["id"].(float64))
	for i, want := range []struct {
		method string
		status int
	}{{"HEAD", 302}, {"GET", 302}, {"HEAD", 302}, {"GET", 302}, {"HEAD", 404}, {"GET", 404}, {"GET", 404}} {
		r := get(t, e, want.method, "/"+code, "", "")
		if r.Status != want.status {
			t.Fatalf("request %d (%s): %v, want %d", i, want.method, r, want.status)
		}
		if want.method == "GET" && want.status == 404 && !strings.Contains(string(r.Body), "short code reached its visit limit") {
			t.Errorf("past the limit: %s", r.Body)
		}
		if want.status == 302 && r.Header.Get("Location") != target {
			t.Errorf("Location %q", r.Header.Get("Location"))
		}
	}
	e.Settle(t)
	if n := len(e.Audits(t, fmt.Sprintf("url_id=%d&event_type=click", id))); n != 2 {
		t.Errorf("%d click events, want 2", n)
	}
	if v := e.Fixture(t, "GET", fmt.Sprintf("/urls/%d", id), nil).Object(t)["visits"]; v != float64(2) {
		t.Errorf("visits %v, want 2", v)
	}
	// Raised, the limit allows one more.
	e.Fixture(t, "PUT", fmt.Sprintf("/urls/%d", id), map[string]any{"max_visits": 3})
	if r := get(t, e, "GET", "/"+code, "", ""); r.Status != 302 {
		t.Errorf("after raising the limit: %v", r)
	}
	if r := get(t, e, "GET", "/"+code, "", ""); r.Status != 404 {
		t.Errorf("past the raised limit: %v", r)
	}
}
