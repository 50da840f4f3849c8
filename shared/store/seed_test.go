package store_test

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// seedRows is a small history: two users, three URLs (one inactive, one without a
// title), and events of each shape, one without url or user.
type seedRows struct {
	users  []domain.User
	urls   []domain.URL
	events []domain.Event
}

func seedFixture() seedRows {
	at := func(s string) time.Time {
		t, err := time.Parse(time.DateTime, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	id := func(n int64) *int64 { return &n }
	title := "Go docs"
	return seedRows{
		users: []domain.User{
			{ID: 3, Username: "ana", Email: "ana@example.com", CreatedAt: at("2025-01-02 03:04:05")},
			{ID: 10, Username: "ana", Email: "ana.lopez@example.org", CreatedAt: at("2025-02-01 00:00:00")},
		},
		urls: []domain.URL{
			{ID: 5, UserID: 3, ShortCode: "aB3xYz", OriginalURL: "https://go.dev/doc/", Title: &title, IsActive: true,
				CreatedAt: at("2025-03-01 10:00:00"), UpdatedAt: at("2025-03-01 10:00:00")},
			{ID: 7, UserID: 10, ShortCode: "Qw12er", OriginalURL: "http://example.com/a?b=1&c=2", IsActive: false,
				CreatedAt: at("2025-03-02 11:00:00"), UpdatedAt: at("2025-07-18 23:45:12")},
			{ID: 40, UserID: 3, ShortCode: "zzTop9", OriginalURL: "https://en.wikipedia.org/wiki/S%C3%A3o_Paulo", IsActive: true,
				CreatedAt: at("2025-04-01 00:00:01"), UpdatedAt: at("2025-04-02 00:00:01")},
		},
		events: []domain.Event{
			{ID: 1, URLID: id(5), UserID: id(3), EventType: domain.EventCreated, Timestamp: at("2025-03-01 10:00:00"),
				Details: json.RawMessage(`{"short_code": "aB3xYz", "original_url": "https://go.dev/doc/"}`)},
			{ID: 2, URLID: id(5), UserID: id(3), EventType: domain.EventClick, Timestamp: at("2025-03-05 08:00:00"),
				Details: json.RawMessage(`{"short_code": "aB3xYz", "referrer": "https://t.co/", "user_agent": "curl/8.5.0"}`)},
			{ID: 9, URLID: id(7), UserID: id(10), EventType: domain.EventUpdated, Timestamp: at("2025-07-18 23:45:12"),
				Details: json.RawMessage(`{"field": "is_active", "new_value": "false"}`)},
			{ID: 12, EventType: "note", Timestamp: at("2025-07-19 00:00:00")},
		},
	}
}

func seedCounts(t *testing.T, st *store.Store) [3]int64 {
	t.Helper()
	_, users, err := st.FindUsers(t.Context(), domain.Page{})
	if err != nil {
		t.Fatal(err)
	}
	_, urls, err := st.FindURLs(t.Context(), domain.URLFilter{})
	if err != nil {
		t.Fatal(err)
	}
	_, events, err := st.FindEvents(t.Context(), domain.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return [3]int64{users, urls, events}
}

func TestSeed(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, "test")
	ctx := t.Context()
	rows := seedFixture()
	if err := st.Seed(ctx, rows.users, rows.urls, rows.events); err != nil {
		t.Fatal(err)
	}

	t.Run("RowsKeepTheirIDsAndValues", func(t *testing.T) {
		if got := seedCounts(t, st); got != [3]int64{2, 3, 4} {
			t.Fatalf("users, urls, events = %v, want [2 3 4]", got)
		}
		for _, want := range rows.users {
			gotW, err := st.FindUserByID(ctx, want.ID)
			got, ver := gotW.Value, gotW.Version
			if err != nil {
				t.Fatalf("user %d: %v", want.ID, err)
			}
			if got != (domain.User{ID: want.ID, Username: want.Username, Email: want.Email, CreatedAt: want.CreatedAt}) || ver != 1 {
				t.Errorf("user %d = %+v version %d, seeded %+v", want.ID, got, ver, want)
			}
		}
		for _, want := range rows.urls {
			gotW, err := st.FindURLByID(ctx, want.ID)
			got := gotW.Value
			if err != nil {
				t.Fatalf("url %d: %v", want.ID, err)
			}
			w := domain.URL{ID: want.ID, UserID: want.UserID, ShortCode: want.ShortCode, OriginalURL: want.OriginalURL,
				Title: want.Title, IsActive: want.IsActive, CreatedAt: want.CreatedAt, UpdatedAt: want.UpdatedAt, Tags: []string{}}
			for _, e := range rows.events { // seeded clicks are visits like any other
				if e.EventType == domain.EventClick && e.URLID != nil && *e.URLID == want.ID {
					w.Visits++
				}
			}
			if !reflect.DeepEqual(got, w) {
				t.Errorf("url %d = %+v, seeded %+v", want.ID, got, w)
			}
		}
		for _, want := range rows.events {
			got, err := st.FindEventByID(ctx, want.ID)
			if err != nil {
				t.Fatalf("event %d: %v", want.ID, err)
			}
			wantDetails := string(want.Details)
			if wantDetails == "" {
				wantDetails = "{}"
			}
			var gd, wd any
			if err := json.Unmarshal(got.Details, &gd); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(wantDetails), &wd); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.URLID, want.URLID) || !reflect.DeepEqual(got.UserID, want.UserID) ||
				got.EventType != want.EventType || !got.Timestamp.Equal(want.Timestamp) || !reflect.DeepEqual(gd, wd) {
				t.Errorf("event %d = %+v details %s, seeded %+v details %s", want.ID, got, got.Details, want, wantDetails)
			}
		}
		// Redirects see the seeded state: the inactive URL does not redirect.
		if r, err := st.FindRedirect(ctx, "Qw12er"); err != nil || r.Active {
			t.Errorf("redirect of the inactive url = %+v, %v", r, err)
		}
	})

	t.Run("NothingInTheOutbox", func(t *testing.T) {
		pending, _, err := st.OutboxStats(ctx)
		if err != nil || pending != 0 {
			t.Errorf("outbox = %d, %v; seeded history is not new mutations", pending, err)
		}
	})

	t.Run("LaterCreatesGetHigherIDs", func(t *testing.T) {
		uW, err := st.CreateUser(ctx, "bo", "bo@example.com")
		u := uW.Value
		if err != nil {
			t.Fatal(err)
		}
		if u.ID != 11 {
			t.Errorf("new user id = %d, want 11", u.ID)
		}
		urlW, err := st.CreateURL(ctx, domain.NewURL{UserID: u.ID, OriginalURL: "https://example.net/"})
		url := urlW.Value
		if err != nil {
			t.Fatal(err)
		}
		if url.ID != 41 {
			t.Errorf("new url id = %d, want 41", url.ID)
		}
		e, err := st.CreateEvent(ctx, domain.NewEvent{EventType: domain.EventClick, URLID: url.ID})
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != 13 {
			t.Errorf("new event id = %d, want 13", e.ID)
		}
	})

	t.Run("SecondSeedConflict", func(t *testing.T) {
		other := domain.User{ID: 100, Username: "cy", Email: "cy@example.com", CreatedAt: time.Now()}
		err := st.Seed(ctx, []domain.User{other}, nil, nil)
		if domain.KindOf(err) != domain.Conflict {
			t.Fatalf("second seed: %v, want a Conflict", err)
		}
		if _, err := st.FindUserByID(ctx, 100); domain.KindOf(err) != domain.NotFound {
			t.Errorf("user of the refused seed: %v, want NotFound", err)
		}
	})
}

func TestSeedEmpty(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, "test")
	if err := st.Seed(t.Context(), nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	uW, err := st.CreateUser(t.Context(), "first", "first@example.com")
	u := uW.Value
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != 1 {
		t.Errorf("first user after an empty seed has id %d, want 1", u.ID)
	}
}

// TestSeedAllOrNothing seeds a fixture with one bad row: the seed fails with the row's
// kind and none of the good rows stay, whether Go or PostgreSQL found the fault, and even
// when the users were already copied.
func TestSeedAllOrNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		spoil func(*seedRows)
		kind  domain.Kind
	}{
		{"URLOfMissingUser", func(r *seedRows) { r.urls[1].UserID = 99 }, domain.NotFound},
		{"EventOfMissingURL", func(r *seedRows) { r.events[2].URLID = new(int64(8)) }, domain.NotFound},
		{"EventOfMissingUser", func(r *seedRows) { r.events[2].UserID = new(int64(4)) }, domain.NotFound},
		{"DuplicateUserID", func(r *seedRows) { r.users[1].ID = 3 }, domain.Invalid},
		{"DuplicateEventID", func(r *seedRows) { r.events[3].ID = 1 }, domain.Invalid},
		// An id at the top of a sequence would make every later create of its kind fail.
		{"UserIDAboveMax", func(r *seedRows) { r.users[1].ID = domain.MaxClientID + 1 }, domain.Invalid},
		{"URLIDAboveMax", func(r *seedRows) { r.urls[2].ID = math.MaxInt64 }, domain.Invalid},
		{"EventIDAboveMax", func(r *seedRows) { r.events[3].ID = math.MaxInt64 }, domain.Invalid},
		{"DetailsNotAnObject", func(r *seedRows) { r.events[1].Details = json.RawMessage(`["click"]`) }, domain.Invalid},
		{"UpdatedBeforeCreated", func(r *seedRows) { r.urls[2].UpdatedAt = r.urls[2].CreatedAt.Add(-time.Second) }, domain.Invalid},
		// These two only PostgreSQL sees, after the users (and for the code, some URLs) are in.
		{"DuplicateEmailIgnoringCase", func(r *seedRows) { r.users[1].Email = "ANA@example.com" }, domain.Conflict},
		{"DuplicateShortCode", func(r *seedRows) { r.urls[2].ShortCode = "aB3xYz" }, domain.Conflict},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st := storetest.New(t, "test")
			rows := seedFixture()
			c.spoil(&rows)
			err := st.Seed(t.Context(), rows.users, rows.urls, rows.events)
			if err == nil || domain.KindOf(err) != c.kind {
				t.Fatalf("seed = %v, want kind %d", err, c.kind)
			}
			if got := seedCounts(t, st); got != [3]int64{} {
				t.Errorf("after the failed seed users, urls, events = %v, want all empty", got)
			}
			good := seedFixture()
			if err := st.Seed(t.Context(), good.users, good.urls, good.events); err != nil {
				t.Errorf("seed after the failed one: %v", err)
			}
		})
	}
}

// TestSeedMaxIDThenCreate seeds a user, a URL and an event at the largest id a client may
// give: creating each kind afterwards still works and gets the next id.
func TestSeedMaxIDThenCreate(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, "test")
	ctx := t.Context()
	const top = domain.MaxClientID
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	err := st.Seed(ctx,
		[]domain.User{{ID: top, Username: "top", Email: "top@example.com", CreatedAt: at}},
		[]domain.URL{{ID: top, UserID: top, ShortCode: "topTop", OriginalURL: "https://example.com/", IsActive: true, CreatedAt: at, UpdatedAt: at}},
		[]domain.Event{{ID: top, URLID: new(int64(top)), EventType: domain.EventClick, Timestamp: at}})
	if err != nil {
		t.Fatal(err)
	}
	uW, err := st.CreateUser(ctx, "next", "next@example.com")
	u := uW.Value
	if err != nil || u.ID != top+1 {
		t.Fatalf("CreateUser after seeding id %d: id %d, %v; want %d", int64(top), u.ID, err, int64(top+1))
	}
	urlW, err := st.CreateURL(ctx, domain.NewURL{UserID: u.ID, OriginalURL: "https://example.net/"})
	url := urlW.Value
	if err != nil || url.ID != top+1 {
		t.Fatalf("CreateURL after seeding id %d: id %d, %v", int64(top), url.ID, err)
	}
	e, err := st.CreateEvent(ctx, domain.NewEvent{EventType: domain.EventClick, URLID: url.ID})
	if err != nil || e.ID != top+1 {
		t.Fatalf("CreateEvent after seeding id %d: id %d, %v", int64(top), e.ID, err)
	}
}
