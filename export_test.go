package function

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// getCSV asks path for CSV with key (none when empty) and returns the parsed records.
func (a *api) getCSV(key, path string) (int, http.Header, [][]string) {
	a.t.Helper()
	req, _ := http.NewRequest("GET", a.srv.URL+path, nil)
	req.Header.Set("Accept", "text/csv")
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return res.StatusCode, res.Header, nil
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		a.t.Fatalf("GET %s: not CSV: %v\n%s", path, err, body)
	}
	return res.StatusCode, res.Header, recs
}

// TestExportCSV: GET /users, /urls and /events with Accept: text/csv answer the rows in
// the seed format, filters applied and no page needed; what /users exports, /users/bulk
// imports without changing anything.
func TestExportCSV(t *testing.T) {
	t.Parallel()
	a := startAPI(t, nil)
	var users []int64
	for range 3 {
		users = append(users, a.createUser())
	}
	title := "a, \"quoted\"\ntitle"
	u := a.createURL(users[0], "https://example.com/one")
	a.send("PUT", fmt.Sprintf("/urls/%v", u["id"]), map[string]any{"title": title, "is_active": false})
	a.createURL(users[1], "https://example.com/two")

	status, h, recs := a.getCSV("", "/users")
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || len(recs) != 4 ||
		strings.Join(recs[0], ",") != "id,username,email,created_at" {
		t.Fatalf("users export: %d %v %v", status, h, recs)
	}
	var jsonUsers []map[string]any
	_ = json.Unmarshal(a.do("GET", "/users", "", nil).body, &jsonUsers)
	for i, rec := range recs[1:] {
		created, err := time.Parse("2006-01-02 15:04:05", rec[3])
		want, _ := time.Parse(time.RFC3339Nano, jsonUsers[i]["created_at"].(string))
		if rec[0] != fmt.Sprint(jsonUsers[i]["id"]) || rec[2] != jsonUsers[i]["email"] || err != nil || !created.Equal(want) {
			t.Errorf("row %v, want %v (created %v, %v)", rec, jsonUsers[i], created, err)
		}
	}

	_, _, urls := a.getCSV("", fmt.Sprintf("/urls?user_id=%d&page=1&per_page=1", users[0]))
	if len(urls) != 2 || urls[1][4] != title || urls[1][5] != "False" || strings.Join(urls[0], ",") != "id,user_id,short_code,original_url,title,is_active,created_at,updated_at" {
		t.Errorf("urls export of user %d: %q", users[0], urls)
	}
	var evs [][]string
	waitFor(t, 5*time.Second, "the two updated events in the log", func() bool { // delivered after the answer
		_, _, evs = a.getCSV("", fmt.Sprintf("/events?url_id=%v&event_type=updated", u["id"]))
		return len(evs) >= 3
	})
	if len(evs) != 3 || evs[1][3] != "updated" || !json.Valid([]byte(evs[1][5])) {
		t.Errorf("events export: %q", evs)
	}
	if status, h, _ := a.getCSV("", "/events?url_id=abc"); status != 400 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Errorf("bad filter: %d %v, want a JSON 400", status, h)
	}

	// Round trip: the users export imports as it is, changing nothing.
	var file bytes.Buffer
	cw := csv.NewWriter(&file)
	_ = cw.WriteAll(recs)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "users.csv")
	_, _ = fw.Write(file.Bytes())
	_ = mw.Close()
	before := len(a.events("user_updated"))
	r := a.do("POST", "/users/bulk", mw.FormDataContentType(), body.Bytes())
	if r.status != 201 || r.json(t)["imported"] != float64(3) || r.json(t)["skipped"] != float64(0) {
		t.Fatalf("re-import: %d %s", r.status, r.body)
	}
	if after := len(a.events("user_updated")); after != before {
		t.Errorf("re-importing the export changed %d users", after-before)
	}
}

// TestExportConfinedToOwner: an owned key's export holds only its user's rows.
func TestExportConfinedToOwner(t *testing.T) {
	t.Parallel()
	a := keysOn(t, nil)
	mk := func(email string) float64 {
		return a.keyed(adminKey, "POST", "/users", map[string]any{"username": "u", "email": email}).json(t)["id"].(float64)
	}
	alice, bob := mk("ea@example.com"), mk("eb@example.com")
	for _, u := range []float64{alice, bob} {
		a.keyed(adminKey, "POST", "/urls", map[string]any{"user_id": u, "original_url": "https://example.com/"})
	}
	key, _ := a.mustKey(map[string]any{"name": "a", "scopes": []string{"read"}, "user_id": alice})
	for _, path := range []string{"/users", "/urls", "/events"} {
		status, _, recs := a.getCSV(key, path)
		if status != 200 || len(recs) < 2 {
			t.Errorf("%s: %d %q", path, status, recs)
			continue
		}
		col := 1 // user_id
		if path == "/users" {
			col = 0
		} else if path == "/events" {
			col = 2
		}
		for _, rec := range recs[1:] {
			if rec[col] != fmt.Sprint(alice) {
				t.Errorf("%s export with alice's key holds %q", path, rec)
			}
		}
	}
	if status, _, _ := a.getCSV("", "/users"); status != 401 {
		t.Errorf("export without a key: %d", status)
	}
}

// events lists the log's events of a type.
func (a *api) events(eventType string) []map[string]any {
	a.t.Helper()
	var evs []map[string]any
	waitFor(a.t, 5*time.Second, "the log to answer", func() bool {
		r := a.do("GET", "/events?event_type="+eventType, "", nil)
		return r.status == 200 && json.Unmarshal(r.body, &evs) == nil
	})
	return evs
}
