package store_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/urlshort/shortener/shared/domain"
)

func TestCreateEvent(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	owner := db.user(t, "a", "a@example.com")
	u := db.url(t, owner.ID, "https://example.com/")

	t.Run("Stored", func(t *testing.T) {
		start := time.Now()
		e, err := db.CreateEvent(ctx, domain.NewEvent{EventType: "custom", URLID: u.ID, UserID: &owner.ID, Details: json.RawMessage(`{"k": [1, 2]}`)})
		if err != nil {
			t.Fatal(err)
		}
		if e.ID < 1 || *e.URLID != u.ID || *e.UserID != owner.ID || e.EventType != "custom" {
			t.Errorf("event = %+v", e)
		}
		if e.Timestamp.Before(start.Add(-time.Minute)) || e.Timestamp.Location() != time.UTC {
			t.Errorf("timestamp = %v, want the server's now in UTC", e.Timestamp)
		}
		var d map[string]any
		if err := json.Unmarshal(e.Details, &d); err != nil || fmt.Sprint(d["k"]) != "[1 2]" {
			t.Errorf("details = %s", e.Details)
		}
		read, err := db.FindEventByID(ctx, e.ID)
		if err != nil || read.Timestamp.Format(time.RFC3339Nano) != e.Timestamp.Format(time.RFC3339Nano) || string(read.Details) != string(e.Details) {
			t.Errorf("read %+v (%v), wrote %+v", read, err, e)
		}
	})
	t.Run("NoUserNoDetails", func(t *testing.T) {
		e, err := db.CreateEvent(ctx, domain.NewEvent{EventType: "custom", URLID: u.ID})
		if err != nil {
			t.Fatal(err)
		}
		if e.UserID != nil || string(e.Details) != "{}" {
			t.Errorf("event = %+v, details %s; want no user and {}", e, e.Details)
		}
	})
	cases := []struct {
		name string
		ev   func() domain.NewEvent
	}{
		{"UnknownURL", func() domain.NewEvent { return domain.NewEvent{EventType: "x", URLID: 999999} }},
		{"UnknownUser", func() domain.NewEvent {
			return domain.NewEvent{EventType: "x", URLID: u.ID, UserID: ptr(int64(999999))}
		}},
		{"DeletedURL", func() domain.NewEvent {
			d := db.url(t, owner.ID, "https://example.com/d")
			if _, err := db.DeleteURL(ctx, d.ID); err != nil {
				t.Fatal(err)
			}
			return domain.NewEvent{EventType: "x", URLID: d.ID}
		}},
		{"DeletedUser", func() domain.NewEvent {
			g := db.user(t, "g", "g@example.com")
			if _, err := db.DeleteUser(ctx, g.ID); err != nil {
				t.Fatal(err)
			}
			return domain.NewEvent{EventType: "x", URLID: u.ID, UserID: &g.ID}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name+"IsNotFound", func(t *testing.T) {
			_, err := db.CreateEvent(ctx, tc.ev())
			wantKind(t, err, domain.NotFound)
		})
	}
	t.Run("FindUnknownIsNotFound", func(t *testing.T) {
		_, err := db.FindEventByID(ctx, 999999)
		wantKind(t, err, domain.NotFound)
	})
}

func TestFindEvents(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	a := db.user(t, "a", "a@example.com")
	b := db.user(t, "b", "b@example.com")
	ua := db.url(t, a.ID, "https://example.com/a")
	ub := db.url(t, b.ID, "https://example.com/b")
	// Only the posted events are in the log: the mutations' audits wait in the outbox.
	var ids []int64
	for _, n := range []domain.NewEvent{
		{EventType: "click", URLID: ua.ID, UserID: &a.ID},
		{EventType: "view", URLID: ua.ID, UserID: &a.ID},
		{EventType: "click", URLID: ub.ID, UserID: &b.ID},
		{EventType: "click", URLID: ua.ID},
		{EventType: "view", URLID: ub.ID, UserID: &a.ID},
	} {
		e, err := db.CreateEvent(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, e.ID)
	}
	pick := func(i ...int) []int64 {
		out := []int64{}
		for _, x := range i {
			out = append(out, ids[x])
		}
		return out
	}
	cases := []struct {
		name   string
		filter domain.EventFilter
		want   []int64
		total  int64
	}{
		{"Everything", domain.EventFilter{}, pick(0, 1, 2, 3, 4), 5},
		{"ByURL", domain.EventFilter{URLID: &ua.ID}, pick(0, 1, 3), 3},
		{"ByUser", domain.EventFilter{UserID: &a.ID}, pick(0, 1, 4), 3},
		{"ByType", domain.EventFilter{EventType: "click"}, pick(0, 2, 3), 3},
		{"AllThree", domain.EventFilter{URLID: &ua.ID, UserID: &a.ID, EventType: "click"}, pick(0), 1},
		{"URLAndUserDisagree", domain.EventFilter{URLID: &ub.ID, UserID: &b.ID}, pick(2), 1},
		{"UnknownType", domain.EventFilter{EventType: "nope"}, pick(), 0},
		{"UnknownURL", domain.EventFilter{URLID: ptr(int64(99999))}, pick(), 0},
		{"Page", domain.EventFilter{Page: domain.Page{Number: 2, PerPage: 2}}, pick(2, 3), 5},
		{"FilteredPage", domain.EventFilter{EventType: "click", Page: domain.Page{Number: 2, PerPage: 2}}, pick(3), 3},
		{"PastTheEnd", domain.EventFilter{EventType: "click", Page: domain.Page{Number: 3, PerPage: 2}}, pick(), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			events, total, err := db.FindEvents(ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			got := []int64{}
			for _, e := range events {
				got = append(got, e.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || total != tc.total {
				t.Errorf("ids = %v total %d, want %v total %d", got, total, tc.want, tc.total)
			}
		})
	}
}

func audit(eventType string, urlID, userID *int64, details string) domain.Audit {
	return domain.Audit{
		EventID: uuid.NewString(), Source: source, URLID: urlID, UserID: userID,
		EventType: eventType, Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), Details: json.RawMessage(details),
	}
}

func TestStoreEvents(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	one := audit(domain.EventClick, ptr(int64(7)), ptr(int64(3)), `{"short_code":"abc"}`)
	two := audit(domain.EventUserCreated, nil, ptr(int64(3)), `{}`)

	t.Run("Stored", func(t *testing.T) {
		n, err := db.StoreEvents(ctx, []domain.Audit{one, two})
		if err != nil || n != 2 {
			t.Fatalf("stored %d, %v; want 2", n, err)
		}
		events, _, _ := db.FindEvents(ctx, domain.EventFilter{EventType: domain.EventClick})
		if len(events) != 1 {
			t.Fatalf("%d click events, want 1", len(events))
		}
		e := events[0]
		if *e.URLID != 7 || *e.UserID != 3 || !e.Timestamp.Equal(one.Timestamp) || string(e.Details) != `{"short_code": "abc"}` {
			t.Errorf("event = %+v details %s", e, e.Details)
		}
		users, _, _ := db.FindEvents(ctx, domain.EventFilter{EventType: domain.EventUserCreated})
		if len(users) != 1 || users[0].URLID != nil {
			t.Errorf("user event = %+v, want url_id null", users)
		}
	})
	t.Run("RedeliveryIsIgnored", func(t *testing.T) {
		n, err := db.StoreEvents(ctx, []domain.Audit{one})
		if err != nil || n != 0 {
			t.Fatalf("stored %d, %v; want 0", n, err)
		}
		three := audit(domain.EventDeleted, ptr(int64(7)), ptr(int64(3)), `{"reason":"user_requested"}`)
		n, err = db.StoreEvents(ctx, []domain.Audit{two, three, one})
		if err != nil || n != 1 {
			t.Fatalf("stored %d, %v; want only the new one", n, err)
		}
		if c := db.count(t, `SELECT count(*) FROM events`); c != 3 {
			t.Errorf("%d events in the log, want 3", c)
		}
	})
	t.Run("DuplicateWithinBatch", func(t *testing.T) {
		four := audit(domain.EventClick, ptr(int64(8)), ptr(int64(3)), `{}`)
		n, err := db.StoreEvents(ctx, []domain.Audit{four, four})
		if err != nil || n != 1 {
			t.Fatalf("stored %d, %v; want 1", n, err)
		}
	})
	t.Run("NothingIsNoOp", func(t *testing.T) {
		if n, err := db.StoreEvents(ctx, nil); err != nil || n != 0 {
			t.Errorf("stored %d, %v", n, err)
		}
	})
}

// TestAppendEvents: fresh events go in by COPY; a retried batch that had committed, in
// whole or in part, falls back to the idempotent insert and stores each event once.
func TestAppendEvents(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	one := audit(domain.EventClick, ptr(int64(7)), ptr(int64(3)), `{"short_code":"abc","user_agent":"curl"}`)
	two := audit(domain.EventClick, ptr(int64(7)), ptr(int64(3)), `{"short_code":"abc"}`)

	if err := db.AppendEvents(ctx, []domain.Audit{one, two}); err != nil {
		t.Fatal(err)
	}
	events, total, err := db.FindEvents(ctx, domain.EventFilter{URLID: ptr(int64(7))})
	if err != nil || total != 2 {
		t.Fatalf("found %d, %v; want 2", total, err)
	}
	if e := events[0]; *e.UserID != 3 || e.EventType != domain.EventClick || !e.Timestamp.Equal(one.Timestamp) ||
		string(e.Details) != `{"short_code": "abc", "user_agent": "curl"}` {
		t.Errorf("event = %+v details %s", e, e.Details)
	}

	// NULLs, a time before the binary format's 2000 epoch and non-ASCII text round-trip.
	old := audit(domain.EventUserCreated, nil, ptr(int64(3)), `{"name":"Zoë ✓"}`)
	old.Timestamp = time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	if err := db.AppendEvents(ctx, []domain.Audit{old}); err != nil {
		t.Fatal(err)
	}
	users, _, err := db.FindEvents(ctx, domain.EventFilter{EventType: domain.EventUserCreated})
	if err != nil || len(users) != 1 {
		t.Fatalf("user events %v, %v", users, err)
	}
	if u := users[0]; u.URLID != nil || !u.Timestamp.Equal(old.Timestamp) || string(u.Details) != `{"name": "Zoë ✓"}` {
		t.Errorf("event = %+v details %s", u, u.Details)
	}

	three := audit(domain.EventClick, ptr(int64(7)), ptr(int64(3)), `{"short_code":"abc"}`)
	if err := db.AppendEvents(ctx, []domain.Audit{two, three}); err != nil {
		t.Fatalf("retried batch: %v", err)
	}
	if c := db.count(t, `SELECT count(*) FROM events`); c != 4 {
		t.Errorf("%d events in the log after a retried batch, want 4", c)
	}
	if err := db.AppendEvents(ctx, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
}

// TestFindEventsByType: a type other than click is found through the partial index
// and a click filter still finds clicks.
func TestFindEventsByType(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	if err := db.AppendEvents(ctx, []domain.Audit{
		audit(domain.EventClick, ptr(int64(1)), ptr(int64(2)), `{}`),
		audit(domain.EventClick, ptr(int64(1)), ptr(int64(2)), `{}`),
		audit(domain.EventDeleted, ptr(int64(1)), ptr(int64(2)), `{}`),
	}); err != nil {
		t.Fatal(err)
	}
	for typ, want := range map[string]int64{domain.EventClick: 2, domain.EventDeleted: 1, domain.EventCreated: 0} {
		if _, total, err := db.FindEvents(ctx, domain.EventFilter{EventType: typ}); err != nil || total != want {
			t.Errorf("%s: %d, %v; want %d", typ, total, err, want)
		}
	}
}

// TestEventIDsCompareBytewise: event ids are keyed in byte order (migration 0003), so ids
// a locale would sort together stay distinct and the unique index is still what ON
// CONFLICT finds.
func TestEventIDsCompareBytewise(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	if c := db.count(t, `SELECT count(*) FROM pg_attribute
		WHERE attrelid = 'events'::regclass AND attname = 'event_id' AND attcollation = 'pg_catalog."C"'::regcollation`); c != 1 {
		t.Fatal(`events.event_id does not use the "C" collation`)
	}
	upper, lower := audit(domain.EventClick, nil, nil, `{}`), audit(domain.EventClick, nil, nil, `{}`)
	upper.EventID, lower.EventID = "EVENT-A", "event-a"
	stored, err := db.StoreEvents(t.Context(), []domain.Audit{upper, lower, upper})
	if err != nil || stored != 2 {
		t.Fatalf("stored %d, %v; want the two distinct ids once each", stored, err)
	}
}
