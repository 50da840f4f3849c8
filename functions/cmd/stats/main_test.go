package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// TestRebuild: clicks stored without their rollups (as an older image's writer stores
// them) are counted after a rebuild, and nothing else moves.
func TestRebuild(t *testing.T) {
	url := storetest.URL(t)
	t.Setenv("DATABASE_URL", url)
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{URL: url}, events.NewAuditor("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, "r", "r@example.com")
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.CreateURL(ctx, domain.NewURL{UserID: u.Value.ID, OriginalURL: "https://example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateEvent(ctx, domain.NewEvent{EventType: domain.EventClick, URLID: l.Value.ID}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, id := range []string{"old-1", "old-2"} {
		if _, err := conn.Exec(ctx, `INSERT INTO events (event_id, url_id, user_id, event_type) VALUES ($1, $2, $3, 'click')`,
			id, l.Value.ID, u.Value.ID); err != nil {
			t.Fatal(err)
		}
	}
	var errs bytes.Buffer
	if err := run(ctx, []string{"rebuild"}, &errs); err != nil {
		t.Fatalf("rebuild: %v (%s)", err, errs.String())
	}
	s, err := st.URLStats(ctx, l.Value.ID, domain.StatsRange{})
	if err != nil || s.Clicks != 3 {
		t.Fatalf("after rebuild: %+v (%v), want 3 clicks", s, err)
	}
	if err := run(ctx, []string{"rebuild"}, &errs); err != nil { // again: the same
		t.Fatal(err)
	}
	if v, _ := st.FindURLByID(ctx, l.Value.ID); v.Value.Visits != 3 {
		t.Errorf("visits %d after a second rebuild, want 3", v.Value.Visits)
	}
	if err := run(ctx, nil, &errs); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("no argument: %v", err)
	}
}
