package store_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/agents"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
)

// Agents of every kind the statistics tell apart.
var (
	chrome    = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	iphone    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
	googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)

// click builds the audit of one click as the redirect path does.
func click(urlID, userID int64, at time.Time, referrer, ua string, bot bool) domain.Audit {
	d, _ := json.Marshal(domain.ClickDetails{ShortCode: "c", Referrer: referrer, UserAgent: ua, Bot: bot})
	a, err := events.NewAuditor("test").Audit(domain.EventClick, &urlID, &userID, at, json.RawMessage(d))
	if err != nil {
		panic(err)
	}
	return a
}

// recount counts the statistics from the log, click by click: what every figure the
// rollups give must equal.
func recount(t *testing.T, db testDB, where string, id int64, rng domain.StatsRange) domain.Stats {
	t.Helper()
	rows, err := db.conn.Query(t.Context(), `SELECT timestamp, details FROM events e WHERE event_type = 'click'
		AND url_id IN (SELECT u.id FROM urls u WHERE `+where+` = $1)`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var st domain.Stats
	days := map[string]*domain.DayClicks{}
	dims := map[string]map[string]int64{"referrer": {}, "browser": {}, "os": {}, "device": {}}
	for rows.Next() {
		var at time.Time
		var raw []byte
		if err := rows.Scan(&at, &raw); err != nil {
			t.Fatal(err)
		}
		day := at.UTC().Format(domain.StatsDayLayout)
		if rng.From != nil && day < rng.From.Format(domain.StatsDayLayout) || rng.To != nil && day > rng.To.Format(domain.StatsDayLayout) {
			continue
		}
		var d domain.ClickDetails
		_ = json.Unmarshal(raw, &d)
		a := agents.Parse(d.UserAgent)
		bot := d.Bot || a.Bot
		if bot {
			a.Device = agents.Bot
		}
		st.Clicks++
		if days[day] == nil {
			days[day] = &domain.DayClicks{Date: day}
		}
		days[day].Clicks++
		if bot {
			st.BotClicks++
			days[day].BotClicks++
		}
		if st.FirstClickAt == nil || at.Before(*st.FirstClickAt) {
			st.FirstClickAt = &at
		}
		if st.LastClickAt == nil || at.After(*st.LastClickAt) {
			st.LastClickAt = &at
		}
		dims["referrer"][agents.ReferrerHost(d.Referrer)]++
		dims["browser"][a.Browser]++
		dims["os"][a.OS]++
		dims["device"][a.Device]++
	}
	st.HumanClicks = st.Clicks - st.BotClicks
	st.Daily = []domain.DayClicks{}
	for _, d := range days {
		st.Daily = append(st.Daily, *d)
	}
	slices.SortFunc(st.Daily, func(a, b domain.DayClicks) int { return cmp.Compare(a.Date, b.Date) })
	top := func(m map[string]int64) []domain.NameCount {
		out := []domain.NameCount{}
		for n, c := range m {
			out = append(out, domain.NameCount{Name: n, Clicks: c})
		}
		slices.SortFunc(out, func(a, b domain.NameCount) int {
			return cmp.Or(cmp.Compare(b.Clicks, a.Clicks), cmp.Compare(a.Name, b.Name))
		})
		return out[:min(len(out), domain.StatsTop)]
	}
	st.Referrers, st.Devices = []domain.HostCount{}, []domain.TypeCount{}
	for _, n := range top(dims["referrer"]) {
		st.Referrers = append(st.Referrers, domain.HostCount{Host: n.Name, Clicks: n.Clicks})
	}
	st.Browsers, st.OperatingSystems = top(dims["browser"]), top(dims["os"])
	for _, n := range top(dims["device"]) {
		st.Devices = append(st.Devices, domain.TypeCount{Type: n.Name, Clicks: n.Clicks})
	}
	return st
}

// sameStats compares two statistics, instants by value.
func sameStats(t *testing.T, what string, got, want domain.Stats) {
	t.Helper()
	got.URLID, got.UserID = nil, nil
	norm := func(p **time.Time) {
		if *p != nil {
			u := (*p).UTC().Truncate(time.Microsecond)
			*p = &u
		}
	}
	for _, s := range []*domain.Stats{&got, &want} {
		norm(&s.FirstClickAt)
		norm(&s.LastClickAt)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// TestStatsEqualTheLog: clicks stored by every path that stores them (the writer's
// insert with redeliveries, the all-in-one COPY, both outbox moves, a click posted to the
// log, the seed is in seed_test) give statistics and visits equal to counting the log,
// over every range.
func TestStatsEqualTheLog(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	ann := db.user(t, "ann", "ann@example.com")
	bob := db.user(t, "bob", "bob@example.com")
	u1, u2 := db.url(t, ann.ID, "https://example.com/1"), db.url(t, ann.ID, "https://example.com/2")
	u3 := db.url(t, bob.ID, "https://example.com/3")
	day := func(d int, h int) time.Time { return time.Date(2026, 3, d, h, 30, 0, 0, time.UTC) }

	var batch []domain.Audit
	uas := []string{chrome, iphone, googlebot, ""}
	refs := []string{"https://News.Example.org/item?id=1", "", "not a url", "android-app://com.slack"}
	for i := range 60 {
		u := []domain.URL{u1, u2, u3}[i%3]
		a := click(u.ID, u.UserID, day(1+i%5, i%24), refs[i%4], uas[i%4], i%7 == 0)
		if i%2 == 0 { // classified by the process that built it, as the click batcher does
			f := agents.Classify(refs[i%4], uas[i%4], i%7 == 0)
			a.Click = &f
		}
		batch = append(batch, a)
	}
	for i := range 12 { // more referrers than the top 10
		batch = append(batch, click(u1.ID, ann.ID, day(2, 1), fmt.Sprintf("https://r%d.example/", i), chrome, false))
	}
	if n, err := db.StoreEvents(ctx, batch[:30]); err != nil || n != 30 {
		t.Fatalf("StoreEvents: %d, %v", n, err)
	}
	// A redelivery of part of it with new ones: only the new are counted.
	if n, err := db.StoreEvents(ctx, batch[20:40]); err != nil || n != 10 {
		t.Fatalf("StoreEvents redelivered: %d, %v", n, err)
	}
	if err := db.AppendEvents(ctx, batch[40:50]); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvents(ctx, batch[45:55]); err != nil { // a retried COPY
		t.Fatal(err)
	}
	others := db.pending(t) // the users' and URLs' own events
	if err := db.WriteAudits(ctx, batch[55:65]); err != nil {
		t.Fatal(err)
	}
	db.makeDue(t)
	if n, err := db.DrainOutbox(ctx, 1000); err != nil || n != 10+others {
		t.Fatalf("DrainOutbox: %d, %v", n, err)
	}
	if err := db.WriteAudits(ctx, batch[65:]); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range batch[65:] {
		ids = append(ids, a.EventID)
	}
	if n, err := db.MoveOutbox(ctx, ids); err != nil || n != int64(len(ids)) {
		t.Fatalf("MoveOutbox: %d, %v", n, err)
	}
	if _, err := db.CreateEvent(ctx, domain.NewEvent{EventType: domain.EventClick, URLID: u2.ID,
		Details: json.RawMessage(`{"short_code":"x","user_agent":"` + googlebot + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateEvent(ctx, domain.NewEvent{EventType: "note", URLID: u2.ID}); err != nil {
		t.Fatal(err)
	}
	if n := db.count(t, `SELECT count(*) FROM events WHERE event_type = 'click'`); n != int64(len(batch))+1 {
		t.Fatalf("%d clicks in the log, want %d", n, len(batch)+1)
	}

	d := func(n int) *time.Time { t := day(n, 0).Truncate(24 * time.Hour); return &t }
	ranges := []domain.StatsRange{{}, {From: d(2)}, {To: d(3)}, {From: d(2), To: d(4)}, {From: d(9), To: d(9)}}
	for _, rng := range ranges {
		for _, u := range []domain.URL{u1, u2, u3} {
			got, err := db.URLStats(ctx, u.ID, rng)
			if err != nil {
				t.Fatal(err)
			}
			sameStats(t, fmt.Sprintf("url %d %v-%v", u.ID, rng.From, rng.To), got, recount(t, db, "u.id", u.ID, rng))
		}
		for _, us := range []domain.User{ann, bob} {
			got, err := db.UserStats(ctx, us.ID, rng)
			if err != nil {
				t.Fatal(err)
			}
			sameStats(t, fmt.Sprintf("user %d %v-%v", us.ID, rng.From, rng.To), got, recount(t, db, "u.user_id", us.ID, rng))
		}
	}
	for _, u := range []domain.URL{u1, u2, u3} {
		v, err := db.FindURLByID(ctx, u.ID)
		want := db.count(t, `SELECT count(*) FROM events WHERE event_type = 'click' AND url_id = $1`, u.ID)
		if err != nil || v.Value.Visits != want || v.Version != domain.URLItemVersion(1, want) {
			t.Errorf("url %d: visits %d at item version %d (%v), want %d clicks", u.ID, v.Value.Visits, v.Version, err, want)
		}
	}

	t.Run("RebuildGivesTheSame", func(t *testing.T) {
		before, _ := db.UserStats(ctx, ann.ID, domain.StatsRange{})
		// Clicks stored without counting, as an instance of the previous image would.
		db.exec(t, `INSERT INTO events (event_id, url_id, user_id, event_type, details) VALUES ('old-1', $1, $2, 'click', '{}')`, u1.ID, ann.ID)
		if err := db.RebuildStats(ctx); err != nil {
			t.Fatal(err)
		}
		after, err := db.UserStats(ctx, ann.ID, domain.StatsRange{})
		if err != nil || after.Clicks != before.Clicks+1 {
			t.Fatalf("after rebuild %d clicks (%v), want %d", after.Clicks, err, before.Clicks+1)
		}
		sameStats(t, "rebuilt", after, recount(t, db, "u.user_id", ann.ID, domain.StatsRange{}))
	})
	t.Run("NotFound", func(t *testing.T) {
		_, err := db.URLStats(ctx, 999999, domain.StatsRange{})
		wantKind(t, err, domain.NotFound)
		_, err = db.UserStats(ctx, 999999, domain.StatsRange{})
		wantKind(t, err, domain.NotFound)
		_, err = db.URLStats(domain.WithPrincipal(ctx, domain.Principal{UserID: &bob.ID}), u1.ID, domain.StatsRange{})
		wantKind(t, err, domain.NotFound)
		_, err = db.UserStats(domain.WithPrincipal(ctx, domain.Principal{UserID: &bob.ID}), ann.ID, domain.StatsRange{})
		wantKind(t, err, domain.NotFound)
	})
	t.Run("DeletedURLsCountForTheirUser", func(t *testing.T) {
		before, _ := db.UserStats(ctx, bob.ID, domain.StatsRange{})
		if _, err := db.DeleteURL(ctx, u3.ID); err != nil {
			t.Fatal(err)
		}
		after, _ := db.UserStats(ctx, bob.ID, domain.StatsRange{})
		if after.Clicks != before.Clicks || after.Clicks == 0 {
			t.Errorf("user clicks %d after deleting a URL, %d before", after.Clicks, before.Clicks)
		}
		_, err := db.URLStats(ctx, u3.ID, domain.StatsRange{})
		wantKind(t, err, domain.NotFound)
	})
}

// TestTakeVisitIsExact: with max_visits 50, 64 concurrent takers get exactly 50 visits,
// each with its click in the outbox, and the limit counts from the visits a link had
// when it was set.
func TestTakeVisitIsExact(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	ann := db.user(t, "ann", "ann@example.com")
	w, err := db.CreateURL(ctx, domain.NewURL{UserID: ann.ID, OriginalURL: "https://example.com/", MaxVisits: ptr(int64(50))})
	if err != nil {
		t.Fatal(err)
	}
	u := w.Value
	if u.MaxVisits == nil || *u.MaxVisits != 50 {
		t.Fatalf("max_visits = %v", u.MaxVisits)
	}
	r, err := db.FindRedirect(ctx, u.ShortCode)
	if err != nil || !r.Limited {
		t.Fatalf("redirect %+v (%v), want limited", r, err)
	}
	base := db.pending(t)
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range 3 {
				took, err := db.TakeVisit(ctx, click(u.ID, ann.ID, time.Now(), "", chrome, false))
				if err != nil {
					t.Error(err)
				}
				if took {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if ok.Load() != 50 || db.pending(t)-base != 50 {
		t.Fatalf("%d visits taken, %d clicks in the outbox; want 50 and 50", ok.Load(), db.pending(t)-base)
	}
	if left, err := db.VisitsLeft(ctx, u.ID); err != nil || left {
		t.Errorf("visits left = %v (%v), want none", left, err)
	}

	// take tries n visits of a URL one after the other and says how many it got.
	take := func(urlID int64, n int) int {
		got := 0
		for range n {
			if took, err := db.TakeVisit(ctx, click(urlID, ann.ID, time.Now(), "", chrome, false)); err != nil {
				t.Error(err)
			} else if took {
				got++
			}
		}
		return got
	}
	t.Run("RaisedLimitCountsWhatWasTaken", func(t *testing.T) {
		if _, err := db.UpdateURL(ctx, u.ID, domain.URLPatch{MaxVisits: domain.Optional[int64]{Set: true, Value: ptr(int64(52))}}); err != nil {
			t.Fatal(err)
		}
		if n := take(u.ID, 5); n != 2 {
			t.Errorf("%d more visits after raising the limit by 2", n)
		}
	})
	t.Run("LimitSetLaterCountsStoredClicks", func(t *testing.T) {
		v := db.url(t, ann.ID, "https://example.com/later")
		var clicks []domain.Audit
		for range 4 {
			clicks = append(clicks, click(v.ID, ann.ID, time.Now(), "", chrome, false))
		}
		if _, err := db.StoreEvents(ctx, clicks); err != nil {
			t.Fatal(err)
		}
		w, err := db.UpdateURL(ctx, v.ID, domain.URLPatch{MaxVisits: domain.Optional[int64]{Set: true, Value: ptr(int64(5))}})
		if err != nil || len(w.Audits) != 1 {
			t.Fatalf("update: %v, %d audits", err, len(w.Audits))
		}
		wantAudit(t, w.Audits[0], domain.EventUpdated, &v.ID, &ann.ID, domain.URLUpdatedDetails{Field: "max_visits", NewValue: "5"})
		if n := take(v.ID, 3); n != 1 {
			t.Errorf("%d visits with 4 of 5 used before the limit was set, want 1", n)
		}
		w, err = db.UpdateURL(ctx, v.ID, domain.URLPatch{MaxVisits: domain.Optional[int64]{Set: true}})
		if err != nil || len(w.Audits) != 1 || w.Value.MaxVisits != nil {
			t.Fatalf("clearing: %v, %+v", err, w)
		}
		wantAudit(t, w.Audits[0], domain.EventUpdated, &v.ID, &ann.ID, domain.URLUpdatedDetails{Field: "max_visits", NewValue: "null"})
	})
	t.Run("InactiveTakesNone", func(t *testing.T) {
		v, _ := db.CreateURL(ctx, domain.NewURL{UserID: ann.ID, OriginalURL: "https://example.com/off", MaxVisits: ptr(int64(9))})
		off := false
		if _, err := db.UpdateURL(ctx, v.Value.ID, domain.URLPatch{IsActive: &off}); err != nil {
			t.Fatal(err)
		}
		if took, err := db.TakeVisit(ctx, click(v.Value.ID, ann.ID, time.Now(), "", chrome, false)); took || err != nil {
			t.Errorf("took %v (%v) from an inactive link", took, err)
		}
	})
}
