package store_test

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
)

// TestMutationsWriteOutbox: every mutation's audits are in the outbox when it returns,
// and a mutation that fails leaves none behind.
func TestMutationsWriteOutbox(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	var want []string // event ids, in order
	expect := func(t *testing.T, audits []domain.Audit, err error, n int) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if len(audits) != n {
			t.Fatalf("audits = %d, want %d", len(audits), n)
		}
		for _, a := range audits {
			want = append(want, a.EventID)
		}
		if got := db.pending(t); got != int64(len(want)) {
			t.Fatalf("outbox pending = %d, want %d", got, len(want))
		}
	}

	uW, err := db.CreateUser(ctx, "a", "a@example.com")
	u, audits := uW.Value, uW.Audits
	expect(t, audits, err, 1)
	auditsW1, err := db.UpdateUser(ctx, u.ID, domain.UserPatch{Username: ptr("b")})
	audits = auditsW1.Audits
	expect(t, audits, err, 1)
	auditsW2, err := db.UpdateUser(ctx, u.ID, domain.UserPatch{Username: ptr("b")})
	audits = auditsW2.Audits
	expect(t, audits, err, 0)
	urlW, err := db.CreateURL(ctx, domain.NewURL{UserID: u.ID, OriginalURL: "https://example.com/"})
	url, audits := urlW.Value, urlW.Audits
	expect(t, audits, err, 1)
	auditsW3, err := db.UpdateURL(ctx, url.ID, domain.URLPatch{Title: ptr("t"), IsActive: ptr(false)})
	audits = auditsW3.Audits
	expect(t, audits, err, 2)
	url2W, err := db.CreateURL(ctx, domain.NewURL{UserID: u.ID, OriginalURL: "https://example.com/2"})
	url2, audits := url2W.Value, url2W.Audits
	expect(t, audits, err, 1)
	auditsW4, err := db.DeleteURL(ctx, url2.ID)
	audits = auditsW4.Audits
	expect(t, audits, err, 1)
	auditsW5, err := db.DeleteUser(ctx, u.ID)
	audits = auditsW5.Audits
	expect(t, audits, err, 2)
	res, err := db.ImportUsers(ctx, []domain.ImportRow{row(2, 100, "imp", "imp@example.com")})
	expect(t, res.Audits, err, 1)
	click, err := events.NewAuditor("test").Audit(domain.EventClick, &url.ID, &u.ID, time.Now(), domain.ClickDetails{ShortCode: url.ShortCode})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, []domain.Audit{click}, db.WriteAudits(ctx, []domain.Audit{click}), 1)

	// Failures write nothing.
	_, err = db.CreateUser(ctx, "dup", "IMP@example.com")
	wantKind(t, err, domain.Conflict)
	_, err = db.CreateURL(ctx, domain.NewURL{UserID: 99999, OriginalURL: "https://example.com/"})
	wantKind(t, err, domain.NotFound)
	expect(t, nil, nil, 0)

	t.Run("SameIDsAsReturned", func(t *testing.T) {
		rows, err := db.conn.Query(ctx, `SELECT event_id::text FROM outbox ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got = append(got, id)
		}
		if !slices.Equal(got, want) {
			t.Errorf("outbox ids %v\nwant %v", got, want)
		}
	})
	t.Run("NotDueDuringGrace", func(t *testing.T) {
		claimed, err := db.ClaimOutbox(ctx, 100)
		if err != nil || len(claimed) != 0 {
			t.Errorf("claimed %d fresh rows (%v); they are left to their writer for a while", len(claimed), err)
		}
		if n, err := db.DrainOutbox(ctx, 100); err != nil || n != 0 {
			t.Errorf("drained %d fresh rows (%v)", n, err)
		}
	})
	t.Run("Stats", func(t *testing.T) {
		db.exec(t, `UPDATE outbox SET timestamp = now() - interval '1 minute' WHERE id = (SELECT min(id) FROM outbox)`)
		pending, oldest, err := db.OutboxStats(ctx)
		if err != nil || pending != int64(len(want)) || oldest < 59*time.Second || oldest > 5*time.Minute {
			t.Errorf("stats = %d, %v, %v; want %d and about a minute", pending, oldest, err, len(want))
		}
	})
}

func TestClaimAndMarkSentOutbox(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	var written []domain.Audit
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		auditsW, err := db.CreateUser(ctx, "u", email)
		audits := auditsW.Audits
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, audits...)
	}
	db.makeDue(t)

	t.Run("ClaimReturnsDueOldestFirst", func(t *testing.T) {
		claimed, err := db.ClaimOutbox(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(claimed) != 2 {
			t.Fatalf("claimed %d, want the limit 2", len(claimed))
		}
		for i, c := range claimed {
			w := written[i]
			if c.EventID != w.EventID || c.Source != w.Source || c.EventType != w.EventType ||
				!equalID(c.UserID, w.UserID) || c.URLID != nil || !c.Timestamp.Equal(w.Timestamp) || c.Timestamp.Location() != time.UTC {
				t.Errorf("claimed %+v, wrote %+v", c, w)
			}
		}
	})
	t.Run("LeaseHidesClaimed", func(t *testing.T) {
		claimed, err := db.ClaimOutbox(ctx, 10)
		if err != nil || len(claimed) != 1 || claimed[0].EventID != written[2].EventID {
			t.Fatalf("second claim = %v, %v; want only the unclaimed third", claimed, err)
		}
		claimed, err = db.ClaimOutbox(ctx, 10)
		if err != nil || len(claimed) != 0 {
			t.Fatalf("third claim = %v, %v; want nothing while leased", claimed, err)
		}
	})
	t.Run("BackoffGrows", func(t *testing.T) {
		var first time.Duration
		for attempt := range 3 {
			db.makeDue(t)
			if _, err := db.ClaimOutbox(ctx, 10); err != nil {
				t.Fatal(err)
			}
			var secs float64
			if err := db.conn.QueryRow(ctx, `SELECT extract(epoch FROM max(next_attempt_at) - now()) FROM outbox`).Scan(&secs); err != nil {
				t.Fatal(err)
			}
			lease := time.Duration(secs * float64(time.Second))
			if attempt == 0 {
				first = lease
			} else if lease < first*2-time.Second/2 {
				t.Errorf("lease after attempt %d is %v, want it to grow (first was %v)", attempt+2, lease, first)
			}
		}
	})
	t.Run("SentWaitsForTheWriter", func(t *testing.T) {
		if err := db.MarkSent(ctx, []string{written[0].EventID, written[2].EventID}); err != nil {
			t.Fatal(err)
		}
		if err := db.MarkSent(ctx, nil); err != nil {
			t.Errorf("marking nothing: %v", err)
		}
		if p := db.pending(t); p != 3 {
			t.Errorf("pending = %d, want 3: a sink's acceptance does not end delivery", p)
		}
		db.makeDue(t)
		if err := db.MarkSent(ctx, []string{written[0].EventID, written[2].EventID}); err != nil {
			t.Fatal(err)
		}
		claimed, err := db.ClaimOutbox(ctx, 10)
		if err != nil || len(claimed) != 1 || claimed[0].EventID != written[1].EventID {
			t.Errorf("claim after mark-sent = %v, %v; want only the unsent", claimed, err)
		}
		if _, err := db.StoreEvents(ctx, []domain.Audit{written[0]}); err != nil {
			t.Fatal(err)
		}
		if p := db.pending(t); p != 2 {
			t.Errorf("pending = %d after the writer stored one, want 2", p)
		}
	})
	t.Run("ConcurrentClaimsDisjoint", func(t *testing.T) {
		for i := range 20 {
			if _, err := db.CreateUser(ctx, "c", "c"+string(rune('a'+i))+"@x.example.com"); err != nil {
				t.Fatal(err)
			}
		}
		db.makeDue(t)
		var (
			mu   sync.Mutex
			seen = map[string]int{}
			wg   sync.WaitGroup
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					claimed, err := db.ClaimOutbox(ctx, 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(claimed) == 0 {
						return
					}
					mu.Lock()
					for _, c := range claimed {
						seen[c.EventID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != 22 {
			t.Errorf("claimed %d distinct events, want 22 (20 new, 2 left earlier)", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("event %s claimed %d times", id, n)
			}
		}
	})
}

func TestDrainOutbox(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	var written []domain.Audit
	for i := range 5 {
		auditsW, err := db.CreateUser(ctx, "u", string(rune('a'+i))+"@example.com")
		audits := auditsW.Audits
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, audits...)
	}
	// The first event was delivered by its writer but its ack got lost: it is in the log
	// and still in the outbox.
	if n, err := db.StoreEvents(ctx, written[:1]); err != nil || n != 1 {
		t.Fatalf("StoreEvents = %d, %v", n, err)
	}
	db.makeDue(t)
	// The last is leased by a relay: the drain leaves it alone.
	db.exec(t, `UPDATE outbox SET next_attempt_at = now() + interval '1 minute' WHERE event_id = $1`, written[4].EventID)

	t.Run("MovesDueRowsOnce", func(t *testing.T) {
		n1, err := db.DrainOutbox(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		n2, err := db.DrainOutbox(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		// Four due rows, one of which was in the log already.
		if n1+n2 != 3 {
			t.Errorf("drained %d+%d new events, want 3", n1, n2)
		}
		if p := db.pending(t); p != 1 {
			t.Errorf("pending = %d, want the leased row only", p)
		}
		if n, err := db.DrainOutbox(ctx, 100); err != nil || n != 0 {
			t.Errorf("third drain = %d, %v; want 0", n, err)
		}
	})
	t.Run("LogHoldsEachOnce", func(t *testing.T) {
		events, total, err := db.FindEvents(ctx, domain.EventFilter{EventType: domain.EventUserCreated})
		if err != nil || total != 4 {
			t.Fatalf("%d events (%v), want 4", total, err)
		}
		for i, e := range events {
			w := written[i]
			if !equalID(e.UserID, w.UserID) || !e.Timestamp.Equal(w.Timestamp) {
				t.Errorf("event %d = %+v, want %+v", i, e, w)
			}
		}
		if c := db.count(t, `SELECT count(DISTINCT event_id) FROM events`); c != 4 {
			t.Errorf("%d distinct event ids, want 4", c)
		}
	})
	t.Run("RedeliveryAfterDrainIgnored", func(t *testing.T) {
		if n, err := db.StoreEvents(ctx, written[:4]); err != nil || n != 0 {
			t.Errorf("StoreEvents after drain = %d, %v; want 0", n, err)
		}
	})
	t.Run("ConcurrentDrainsExactlyOnce", func(t *testing.T) {
		for i := range 30 {
			if _, err := db.CreateUser(ctx, "c", "c"+string(rune('a'+i))+"@x.example.com"); err != nil {
				t.Fatal(err)
			}
		}
		db.makeDue(t)
		var (
			moved atomic.Int64
			wg    sync.WaitGroup
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n, err := db.DrainOutbox(ctx, 4)
					if err != nil {
						t.Error(err)
						return
					}
					if n == 0 {
						return
					}
					moved.Add(n)
				}
			}()
		}
		wg.Wait()
		// One more pass in case a drainer saw 0 while others still held rows.
		n, err := db.DrainOutbox(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if got := moved.Load() + n; got != 31 {
			t.Errorf("moved %d, want 31 (30 new + the formerly leased one)", got)
		}
		if c := db.count(t, `SELECT count(*) FROM events`); c != 35 {
			t.Errorf("%d events in the log, want 35", c)
		}
		if p := db.pending(t); p != 0 {
			t.Errorf("pending = %d, want 0", p)
		}
	})
}

// TestMigrate: running the migrations again is harmless, and several instances starting
// at once on an empty database apply them exactly once.
func TestMigrate(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	t.Run("Idempotent", func(t *testing.T) {
		db.user(t, "a", "a@example.com")
		for range 2 {
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if c := db.count(t, `SELECT count(*) FROM users`); c != 1 {
			t.Errorf("migrating again left %d users, want 1", c)
		}
	})
	t.Run("ConcurrentOnEmptyDatabase", func(t *testing.T) {
		applied := db.count(t, `SELECT count(*) FROM schema_migrations`)
		db.exec(t, `DROP SCHEMA public CASCADE`)
		db.exec(t, `CREATE SCHEMA public`)
		url := db.conn.Config().ConnString()
		var wg sync.WaitGroup
		errs := make([]error, 5)
		start := make(chan struct{})
		for i := range errs {
			st, err := store.Open(ctx, store.Options{URL: url}, events.NewAuditor("test"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = st.Migrate(ctx)
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("migrate %d: %v", i, err)
			}
		}
		if c := db.count(t, `SELECT count(*) FROM schema_migrations`); c != applied {
			t.Errorf("%d migrations recorded, want %d", c, applied)
		}
		st, err := store.Open(ctx, store.Options{URL: url}, events.NewAuditor("test"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if _, err := st.CreateUser(ctx, "after", "after@example.com"); err != nil {
			t.Errorf("schema unusable after concurrent migrations: %v", err)
		}
	})
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: every call fails fast as Unavailable, not Internal.
	st, err := store.Open(t.Context(), store.Options{URL: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=1"}, events.NewAuditor("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	wantKind(t, st.Ping(ctx), domain.Unavailable)
	_, err = st.FindUserByID(ctx, 1)
	wantKind(t, err, domain.Unavailable)
	_, err = st.CreateUser(ctx, "a", "a@example.com")
	wantKind(t, err, domain.Unavailable)
	_, _, err = st.FindURLs(ctx, domain.URLFilter{})
	wantKind(t, err, domain.Unavailable)
}

// TestResetOutboxBackoff: on the sink's recovery, rows waiting out a backoff become due
// at once; fresh rows keep their grace period for the process that wrote them.
func TestResetOutboxBackoff(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	var ids []string
	for _, email := range []string{"a@example.com", "b@example.com"} {
		auditsW, err := db.CreateUser(ctx, "u", email)
		audits := auditsW.Audits
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, audits[0].EventID)
	}
	db.makeDue(t)
	if claimed, err := db.ClaimOutbox(ctx, 10); err != nil || len(claimed) != 2 {
		t.Fatalf("claim = %v, %v", claimed, err)
	}
	if _, err := db.CreateUser(ctx, "fresh", "fresh@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := db.ResetOutboxBackoff(ctx); err != nil {
		t.Fatal(err)
	}
	claimed, err := db.ClaimOutbox(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range claimed {
		got = append(got, c.EventID)
	}
	if !slices.Equal(got, ids) {
		t.Errorf("claimed %v after reset, want the backed-off %v and not the fresh row", got, ids)
	}
}

// TestMoveOutbox: the all-in-one server's in-process delivery moves exactly the named
// rows into the log, due or not, once.
func TestMoveOutbox(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	var ids []string
	for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		auditsW, err := db.CreateUser(ctx, "u", email)
		audits := auditsW.Audits
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, audits[0].EventID)
	}
	n, err := db.MoveOutbox(ctx, ids[:2])
	if err != nil || n != 2 {
		t.Fatalf("MoveOutbox = %d, %v; want 2", n, err)
	}
	if n, err := db.MoveOutbox(ctx, ids[:2]); err != nil || n != 0 {
		t.Errorf("second MoveOutbox = %d, %v; want 0", n, err)
	}
	if p := db.pending(t); p != 1 {
		t.Errorf("pending = %d, want the unnamed row only", p)
	}
	if c := db.count(t, `SELECT count(*) FROM events WHERE event_id = ANY($1)`, ids[:2]); c != 2 {
		t.Errorf("%d of the moved events in the log, want 2", c)
	}
}
