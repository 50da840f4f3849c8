package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// generated writes the seed files into a fresh directory and parses them back.
func generated(t *testing.T) (string, dataset) {
	t.Helper()
	dir := t.TempDir()
	wrote, err := generateMissing(dir)
	if err != nil || !wrote {
		t.Fatalf("generateMissing = %v, %v; want the files written", wrote, err)
	}
	d, err := readDir(dir, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return dir, d
}

func TestGeneratedFiles(t *testing.T) {
	t.Parallel()
	_, d := generated(t)
	if len(d.users) != genUsers || len(d.urls) != genURLs || len(d.events) != genEvents {
		t.Fatalf("users, urls, events = %d, %d, %d; want %d, %d, %d",
			len(d.users), len(d.urls), len(d.events), genUsers, genURLs, genEvents)
	}

	t.Run("Users", func(t *testing.T) {
		emails, names := map[string]bool{}, map[string]int{}
		for i, u := range d.users {
			if u.ID != int64(i+1) {
				t.Fatalf("user %d has id %d", i+1, u.ID)
			}
			if e := strings.ToLower(u.Email); emails[e] {
				t.Errorf("email %s used twice", u.Email)
			} else {
				emails[e] = true
			}
			names[u.Username]++
		}
		shared := 0
		for _, n := range names {
			shared += n - 1
		}
		if shared < 5 || shared > 20 {
			t.Errorf("%d users share an earlier user's username, want about %d", shared, genSharedUsernames)
		}
	})

	users := map[int64]domain.User{}
	for _, u := range d.users {
		users[u.ID] = u
	}
	urls := map[int64]domain.URL{}
	t.Run("URLs", func(t *testing.T) {
		codeRe := regexp.MustCompile(`^[A-Za-z0-9]{6}$`)
		codes, hosts := map[string]bool{}, map[string]bool{}
		inactive, untitled := 0, 0
		for _, u := range d.urls {
			urls[u.ID] = u
			owner, ok := users[u.UserID]
			if !ok {
				t.Fatalf("url %d belongs to missing user %d", u.ID, u.UserID)
			}
			if u.CreatedAt.Before(owner.CreatedAt) || u.UpdatedAt.Before(u.CreatedAt) {
				t.Errorf("url %d: owner created %s, url created %s, updated %s", u.ID, owner.CreatedAt, u.CreatedAt, u.UpdatedAt)
			}
			if !codeRe.MatchString(u.ShortCode) || domain.IsReservedCode(u.ShortCode) || codes[u.ShortCode] {
				t.Errorf("url %d: short code %q is malformed, reserved or taken", u.ID, u.ShortCode)
			}
			codes[u.ShortCode] = true
			p, err := url.Parse(u.OriginalURL)
			if msg := domain.CheckOriginalURL(u.OriginalURL); msg != "" || err != nil {
				t.Errorf("url %d: %q %s", u.ID, u.OriginalURL, msg)
				continue
			}
			hosts[p.Hostname()] = true
			if !u.IsActive {
				inactive++
			}
			if u.Title == nil {
				untitled++
			}
		}
		if inactive < genURLs/20 || inactive > genURLs*3/20 {
			t.Errorf("%d inactive urls, want about 10%%", inactive)
		}
		if untitled == 0 || untitled > genURLs/3 {
			t.Errorf("%d urls without a title, want some", untitled)
		}
		if len(hosts) < 30 {
			t.Errorf("only %d hosts", len(hosts))
		}
	})

	t.Run("Events", func(t *testing.T) {
		types := map[string]int{}
		for i, e := range d.events {
			if e.ID != int64(i+1) || (i > 0 && e.Timestamp.Before(d.events[i-1].Timestamp)) {
				t.Fatalf("event %d: ids should follow time", e.ID)
			}
			types[e.EventType]++
			if e.URLID == nil || e.UserID == nil {
				t.Fatalf("event %d: url %v, user %v", e.ID, e.URLID, e.UserID)
			}
			u, ok := urls[*e.URLID]
			if !ok {
				t.Fatalf("event %d names missing url %d", e.ID, *e.URLID)
			}
			if *e.UserID != u.UserID {
				t.Errorf("event %d: user %d, but url %d belongs to %d", e.ID, *e.UserID, u.ID, u.UserID)
			}
			if e.Timestamp.Before(u.CreatedAt) {
				t.Errorf("event %d happened before its url was created", e.ID)
			}
			var details map[string]string
			if err := json.Unmarshal(e.Details, &details); err != nil {
				t.Fatalf("event %d details %s: %v", e.ID, e.Details, err)
			}
			switch e.EventType {
			case domain.EventClick:
				if details["short_code"] != u.ShortCode || details["user_agent"] == "" {
					t.Errorf("click %d details %s", e.ID, e.Details)
				}
				if !u.IsActive && !e.Timestamp.Before(u.UpdatedAt) {
					t.Errorf("click %d on url %d after it was deactivated", e.ID, u.ID)
				}
			case domain.EventCreated:
				if details["short_code"] != u.ShortCode || details["original_url"] != u.OriginalURL || !e.Timestamp.Equal(u.CreatedAt) {
					t.Errorf("created %d details %s", e.ID, e.Details)
				}
			case domain.EventUpdated:
				if details["field"] == "" || len(details) != 2 || !e.Timestamp.Equal(u.UpdatedAt) {
					t.Errorf("updated %d details %s", e.ID, e.Details)
				}
			default:
				t.Errorf("event %d has type %q", e.ID, e.EventType)
			}
		}
		if types[domain.EventClick] < genEvents/2 || types[domain.EventCreated] == 0 || types[domain.EventUpdated] == 0 {
			t.Errorf("event types %v, want mostly clicks plus created and updated", types)
		}
	})
}

func TestGenerateDeterministicAndKeepsFiles(t *testing.T) {
	t.Parallel()
	dirA, _ := generated(t)
	dirB, _ := generated(t)
	for _, name := range []string{usersFile, urlsFile, eventsFile} {
		a, errA := os.ReadFile(filepath.Join(dirA, name))
		b, errB := os.ReadFile(filepath.Join(dirB, name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs (%v, %v)", name, errA, errB)
		}
	}
	// Existing files are kept: an edited file survives.
	edited := filepath.Join(dirA, usersFile)
	if err := os.WriteFile(edited, []byte("id,username,email,created_at\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if wrote, err := generateMissing(dirA); wrote || err != nil {
		t.Errorf("generateMissing with all files present = %v, %v", wrote, err)
	}
	// One missing file brings all three back, consistent with each other.
	if err := os.Remove(filepath.Join(dirA, eventsFile)); err != nil {
		t.Fatal(err)
	}
	if wrote, err := generateMissing(dirA); !wrote || err != nil {
		t.Errorf("generateMissing with a file missing = %v, %v", wrote, err)
	}
	if d, err := readDir(dirA, io.Discard); err != nil || len(d.users) != genUsers {
		t.Errorf("after regenerating: %d users, %v", len(d.users), err)
	}
}

func TestReadErrorsNameFileAndLine(t *testing.T) {
	t.Parallel()
	users := "id,username,email,created_at\n1,ana,ana@example.com,2025-07-18 23:45:12\n"
	urls := "id,user_id,short_code,original_url,title,is_active,created_at,updated_at\n" +
		"1,1,aB3xYz,https://go.dev/,,True,2025-07-18 23:45:12,2025-07-18 23:45:12\n"
	events := "id,url_id,user_id,event_type,timestamp,details\n" +
		`1,1,,click,2025-07-18 23:45:12,"{""short_code"":""aB3xYz""}"` + "\n"
	cases := []struct {
		name, file, content, want string
	}{
		{"Header", usersFile, "id,name,email,created_at\n", "users.csv:1: header"},
		{"Timestamp", usersFile, users + "2,bo,bo@example.com,2025-07-18T23:45:12Z\n", "users.csv:3: created_at"},
		{"Email", usersFile, users + "2,bo,not-an-email,2025-07-18 23:45:12\n", "users.csv:3: email"},
		{"FieldCount", usersFile, users + "2,bo\n", "users.csv"},
		{"Boolean", urlsFile, urls + "2,1,Qw12er,https://a.example/,,yes,2025-07-18 23:45:12,2025-07-18 23:45:12\n", "urls.csv:3: is_active"},
		{"URL", urlsFile, urls + "2,1,Qw12er,ftp://a.example/,,True,2025-07-18 23:45:12,2025-07-18 23:45:12\n", "urls.csv:3: original_url"},
		{"Code", urlsFile, urls + "2,1,ab,https://a.example/,,True,2025-07-18 23:45:12,2025-07-18 23:45:12\n", "urls.csv:3: short_code"},
		{"UpdatedFirst", urlsFile, urls + "2,1,Qw12er,https://a.example/,,True,2025-07-18 23:45:12,2025-07-17 23:45:12\n", "urls.csv:3: updated_at"},
		{"ID", eventsFile, events + "x,1,1,click,2025-07-18 23:45:12,{}\n", "events.csv:3: id"},
		{"Details", eventsFile, events + "2,1,1,click,2025-07-18 23:45:12,[1]\n", "events.csv:3: details"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			files := map[string]string{usersFile: users, urlsFile: urls, eventsFile: events, c.file: c.content}
			for name, content := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := readDir(dir, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("readDir = %v, want an error containing %q", err, c.want)
			}
		})
	}

	t.Run("Valid", func(t *testing.T) {
		dir := t.TempDir()
		for name, content := range map[string]string{usersFile: users, urlsFile: urls, eventsFile: events} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		d, err := readDir(dir, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if e := d.events[0]; e.UserID != nil || *e.URLID != 1 || d.urls[0].Title != nil || !d.urls[0].IsActive {
			t.Errorf("parsed %+v, %+v", d.urls[0], e)
		}
	})
}

func TestRunGeneratesAndLoads(t *testing.T) {
	t.Parallel()
	dbURL := storetest.URL(t)
	dir := filepath.Join(t.TempDir(), "seed")
	var log bytes.Buffer
	if err := run(t.Context(), []string{"-dir", dir}, dbURL, &log); err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	for _, want := range []string{"generated", "users.csv: 400 rows", "urls.csv: 2000 rows", "events.csv: 3400 rows",
		"loaded 400 users, 2000 urls, 3400 events in "} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, log.String())
		}
	}

	st, err := store.Open(t.Context(), store.Options{URL: dbURL}, events.NewAuditor("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, users, err1 := st.FindUsers(t.Context(), domain.Page{})
	_, urls, err2 := st.FindURLs(t.Context(), domain.URLFilter{})
	_, events, err3 := st.FindEvents(t.Context(), domain.EventFilter{})
	if err := errors.Join(err1, err2, err3); err != nil || users != genUsers || urls != genURLs || events != genEvents {
		t.Errorf("stored %d users, %d urls, %d events (%v)", users, urls, events, err)
	}
	uW, err := st.CreateUser(t.Context(), "after", "after.seed@example.com")
	u := uW.Value
	if err != nil || u.ID != genUsers+1 {
		t.Errorf("user created after the seed: id %d, %v", u.ID, err)
	}

	// The files are there now, so a second run reuses them, and the full database refuses.
	log.Reset()
	err = run(t.Context(), []string{"-dir", dir}, dbURL, &log)
	if domain.KindOf(err) != domain.Conflict || !strings.Contains(log.String(), "using the CSVs already in") {
		t.Errorf("second run: %v, want a Conflict\n%s", err, log.String())
	}

	// Without -generate, missing files are an error, not a silent empty seed.
	err = run(t.Context(), []string{"-dir", t.TempDir(), "-generate=false"}, dbURL, io.Discard)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run without files: %v, want not exist", err)
	}
	if err := run(t.Context(), []string{"-bogus"}, dbURL, io.Discard); err == nil {
		t.Error("an unknown flag was accepted")
	}
}
