package store

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/agents"
	"github.com/urlshort/shortener/shared/domain"
)

// The statistics are rollups of the log's click events, kept by every transaction that
// stores clicks (StoreEvents, AppendEvents, the outbox moves, CreateEvent, Seed), in that
// transaction: a click is counted exactly when it is stored, a redelivery that stores
// nothing counts nothing, and a statistics read costs O(days), not O(clicks). One batch is
// one upsert per URL, per URL and day and per name, in key order, so concurrent writers
// lock rows in the same order (no deadlock) and a viral link's rows are taken once per
// batch, not once per click.

// storedClick is a click event as stored in the log; facts, when the process that built
// it classified it already, spare reading the details again.
type storedClick struct {
	urlID   int64
	at      time.Time
	details []byte
	facts   *domain.ClickFacts
}

// clicksOf picks the clicks with a URL out of audits.
func clicksOf(audits []domain.Audit) []storedClick {
	var out []storedClick
	for _, a := range audits {
		if a.EventType == domain.EventClick && a.URLID != nil {
			out = append(out, storedClick{urlID: *a.URLID, at: a.Timestamp, details: a.Details, facts: a.Click})
		}
	}
	return out
}

// The dimensions of click_dims and click_dim_totals.
const (
	dimReferrer = "referrer"
	dimBrowser  = "browser"
	dimOS       = "os"
	dimDevice   = "device"
)

type dayKey struct {
	url int64
	day string
}

type dayCount struct {
	clicks, bots int64
	first, last  time.Time
	user         int64
}

type dimKey struct {
	url       int64
	day       string
	dim, name string
}

// classify reads what the rollups keep of a click: a bot is one the click was flagged
// as, or whose user agent the parser says is one (a seeded or posted click carries no
// flag).
func classify(c storedClick) domain.ClickFacts {
	if c.facts != nil {
		return *c.facts
	}
	var d domain.ClickDetails
	_ = json.Unmarshal(c.details, &d) // a click posted with odd details still counts, as "direct"/"Other"
	return agents.Classify(d.Referrer, d.UserAgent, d.Bot)
}

// countClicks adds stored clicks to the rollups inside tx and returns the URLs it
// counted, at the item version they now have. Clicks of an id that names no URL (an event
// posted from outside the API) are in the log but have no statistics to be read from.
func countClicks(ctx context.Context, tx pgx.Tx, clicks []storedClick) ([]domain.URLCount, error) {
	if len(clicks) == 0 {
		return nil, nil
	}
	// A batch of up to 16 x 256 clicks may name as many links: sort, then drop repeats.
	ids := make([]int64, len(clicks))
	for i, c := range clicks {
		ids[i] = c.urlID
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	// The owner is the URL's, whatever user_id an event carries; the version makes the
	// item version of what this transaction leaves.
	owners := make(map[int64][2]int64, len(ids))
	rows, _ := tx.Query(ctx, `SELECT id, user_id, version FROM urls WHERE id = ANY($1)`, ids)
	var id, user, version int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &user, &version}, func() error {
		owners[id] = [2]int64{user, version}
		return nil
	}); err != nil {
		return nil, err
	}

	days := map[dayKey]*dayCount{}
	dims := map[dimKey]int64{}
	for _, c := range clicks {
		o, ok := owners[c.urlID]
		if !ok {
			continue
		}
		at := c.at.UTC()
		k := dayKey{c.urlID, at.Format(domain.StatsDayLayout)}
		d := days[k]
		if d == nil {
			d = &dayCount{first: at, last: at, user: o[0]}
			days[k] = d
		}
		d.clicks++
		d.first, d.last = minTime(d.first, at), maxTime(d.last, at)
		f := classify(c)
		if f.Bot {
			d.bots++
		}
		for _, dn := range [...][2]string{{dimReferrer, f.Referrer}, {dimBrowser, f.Browser}, {dimOS, f.OS}, {dimDevice, f.DeviceType}} {
			dims[dimKey{c.urlID, k.day, dn[0], dn[1]}]++
		}
	}
	if len(days) == 0 {
		return nil, nil
	}

	dayKeys := sortedKeys(days, func(a, b dayKey) int { return cmp.Or(cmp.Compare(a.url, b.url), cmp.Compare(a.day, b.day)) })
	var t, dd cols
	for _, k := range dayKeys {
		d := days[k]
		dd.add(k.url, k.day, d.user, d.clicks, d.bots, d.first, d.last)
		if n := len(t.url); n > 0 && t.url[n-1] == k.url {
			t.clicks[n-1] += d.clicks
			t.bots[n-1] += d.bots
			t.first[n-1], t.last[n-1] = minTime(t.first[n-1], d.first), maxTime(t.last[n-1], d.last)
		} else {
			t.add(k.url, "", d.user, d.clicks, d.bots, d.first, d.last)
		}
	}
	dimKeys := sortedKeys(dims, func(a, b dimKey) int {
		return cmp.Or(cmp.Compare(a.url, b.url), cmp.Compare(a.day, b.day), cmp.Compare(a.dim, b.dim), cmp.Compare(a.name, b.name))
	})
	type nameKey struct {
		url       int64
		dim, name string
	}
	totals := map[nameKey]int64{}
	var dm, dt cols
	for _, k := range dimKeys {
		dm.addDim(k.url, k.day, k.dim, k.name, owners[k.url][0], dims[k])
		totals[nameKey{k.url, k.dim, k.name}] += dims[k]
	}
	for _, k := range sortedKeys(totals, func(a, b nameKey) int {
		return cmp.Or(cmp.Compare(a.url, b.url), cmp.Compare(a.dim, b.dim), cmp.Compare(a.name, b.name))
	}) {
		dt.addDim(k.url, "", k.dim, k.name, owners[k.url][0], totals[k])
	}

	const upTotals = `INSERT INTO click_totals AS t (url_id, user_id, clicks, bot_clicks, first_at, last_at)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[], $6::timestamptz[])
		ON CONFLICT (url_id) DO UPDATE SET clicks = t.clicks + excluded.clicks, bot_clicks = t.bot_clicks + excluded.bot_clicks,
			first_at = least(t.first_at, excluded.first_at), last_at = greatest(t.last_at, excluded.last_at)
		RETURNING url_id, clicks`
	const upDays = `INSERT INTO click_days AS d (url_id, day, user_id, clicks, bot_clicks, first_at, last_at)
		SELECT * FROM unnest($1::bigint[], $2::text[]::date[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[], $7::timestamptz[])
		ON CONFLICT (url_id, day) DO UPDATE SET clicks = d.clicks + excluded.clicks, bot_clicks = d.bot_clicks + excluded.bot_clicks,
			first_at = least(d.first_at, excluded.first_at), last_at = greatest(d.last_at, excluded.last_at)`
	const upDimTotals = `INSERT INTO click_dim_totals AS t (url_id, dim, name, user_id, clicks)
		SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])
		ON CONFLICT (url_id, dim, name) DO UPDATE SET clicks = t.clicks + excluded.clicks`
	const upDims = `INSERT INTO click_dims AS d (url_id, day, dim, name, user_id, clicks)
		SELECT * FROM unnest($1::bigint[], $2::text[]::date[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
		ON CONFLICT (url_id, day, dim, name) DO UPDATE SET clicks = d.clicks + excluded.clicks`

	// One round trip for the four upserts, in this order in every transaction.
	var b pgx.Batch
	var counts []domain.URLCount
	b.Queue(upTotals, t.url, t.user, t.clicks, t.bots, t.first, t.last).Query(func(rows pgx.Rows) error {
		var visits int64
		_, err := pgx.ForEachRow(rows, []any{&id, &visits}, func() error {
			counts = append(counts, domain.URLCount{ID: id, ItemVersion: domain.URLItemVersion(owners[id][1], visits)})
			return nil
		})
		return err
	})
	b.Queue(upDays, dd.url, dd.day, dd.user, dd.clicks, dd.bots, dd.first, dd.last)
	b.Queue(upDimTotals, dt.url, dt.dim, dt.name, dt.user, dt.clicks)
	b.Queue(upDims, dm.url, dm.day, dm.dim, dm.name, dm.user, dm.clicks)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	return counts, nil
}

// cols are the column arrays of one rollup upsert.
type cols struct {
	url, user, clicks, bots []int64
	day, dim, name          []string
	first, last             []time.Time
}

func (c *cols) add(url int64, day string, user, clicks, bots int64, first, last time.Time) {
	c.url, c.user, c.clicks, c.bots = append(c.url, url), append(c.user, user), append(c.clicks, clicks), append(c.bots, bots)
	c.day, c.first, c.last = append(c.day, day), append(c.first, first), append(c.last, last)
}

func (c *cols) addDim(url int64, day, dim, name string, user, clicks int64) {
	c.url, c.day, c.dim, c.name = append(c.url, url), append(c.day, day), append(c.dim, dim), append(c.name, name)
	c.user, c.clicks = append(c.user, user), append(c.clicks, clicks)
}

func sortedKeys[K comparable, V any](m map[K]V, compare func(a, b K) int) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compare)
	return keys
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// counted hands what a committed transaction counted to the observer (the caches, whose
// items carry visits).
func (s *Store) counted(ctx context.Context, counts []domain.URLCount) {
	if len(counts) > 0 && s.onCount != nil {
		s.onCount(ctx, counts)
	}
}

// OnCount installs what is told, after each commit that stored clicks, of the URLs whose
// visits moved: the cache drops their items and the URL lists.
func (s *Store) OnCount(fn func(context.Context, []domain.URLCount)) { s.onCount = fn }

// backfillBatch is how many stored clicks a backfill counts per round.
const backfillBatch = 10000

// RebuildStats recounts every rollup from the log, in one transaction that holds off new
// clicks meanwhile (they wait, nothing fails): for an operator after a rollout in which
// instances of the previous image stored clicks without counting them.
func (s *Store) RebuildStats(ctx context.Context) error {
	return translate(pgx.BeginFunc(ctx, s.rw, func(tx pgx.Tx) error {
		if err := lockLog(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `TRUNCATE click_totals, click_days, click_dim_totals, click_dims`); err != nil {
			return err
		}
		return backfillStats(ctx, tx)
	}), "stats")
}

// lockLog holds off inserts into the log until tx ends (reads go on), taken before any
// rollup lock, in the order every writer takes them.
func lockLog(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `LOCK TABLE events IN SHARE MODE`)
	return err
}

// backfillStats counts every click already in the log into empty rollups, inside tx (the
// migration that creates them, or RebuildStats). The log is locked against inserts until
// tx ends, so no click is stored between the read and the commit uncounted.
func backfillStats(ctx context.Context, tx pgx.Tx) error {
	if err := lockLog(ctx, tx); err != nil {
		return err
	}
	after := int64(0)
	for {
		rows, _ := tx.Query(ctx, `SELECT id, url_id, timestamp, details FROM events
			WHERE event_type = 'click' AND url_id IS NOT NULL AND id > $1 ORDER BY id LIMIT $2`, after, backfillBatch)
		var batch []storedClick
		var c storedClick
		if _, err := pgx.ForEachRow(rows, []any{&after, &c.urlID, &c.at, &c.details}, func() error {
			batch = append(batch, storedClick{urlID: c.urlID, at: c.at, details: slices.Clone(c.details)})
			return nil
		}); err != nil {
			return err
		}
		if _, err := countClicks(ctx, tx, batch); err != nil {
			return err
		}
		if len(batch) < backfillBatch {
			return nil
		}
	}
}

// URLStats reads a live URL's statistics (404 as FindURLByID).
func (s *Store) URLStats(ctx context.Context, id int64, r domain.StatsRange) (domain.Stats, error) {
	st := domain.Stats{URLID: &id}
	var one int
	err := s.ro.QueryRow(ctx, `SELECT 1 FROM urls WHERE id = $1 AND deleted_at IS NULL AND ($2::bigint IS NULL OR user_id = $2)`,
		id, domain.OwnerOf(ctx)).Scan(&one)
	if err != nil {
		return st, translate(err, "url")
	}
	return st, s.readStats(ctx, "url_id", id, r, &st)
}

// UserStats reads the statistics of all of a live user's URLs, deleted ones included.
func (s *Store) UserStats(ctx context.Context, id int64, r domain.StatsRange) (domain.Stats, error) {
	st := domain.Stats{UserID: &id}
	if owner := domain.OwnerOf(ctx); owner != nil && *owner != id {
		return st, domain.Errorf(domain.NotFound, "user not found")
	}
	var one int
	if err := s.ro.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&one); err != nil {
		return st, translate(err, "user")
	}
	return st, s.readStats(ctx, "user_id", id, r, &st)
}

// readStats reads every figure in one statement, so they all come from one snapshot: the
// totals always equal the sum of the days. Without a range the totals and the top lists
// come from the per-URL rollups (O(names)); a range sums its days (O(days × names)).
func (s *Store) readStats(ctx context.Context, col string, id int64, r domain.StatsRange, st *domain.Stats) error {
	const inRange = ` AND day BETWEEN coalesce($2::date, '-infinity') AND coalesce($3::date, 'infinity')`
	days := `click_days WHERE ` + col + ` = $1` + inRange
	// Without a range the day parameters are null; naming them keeps them typed.
	totals, dims := `click_totals WHERE `+col+` = $1 AND $2::date IS NULL AND $3::date IS NULL`, `click_dim_totals WHERE `+col+` = $1`
	if r.From != nil || r.To != nil {
		totals, dims = days, `click_dims WHERE `+col+` = $1`+inRange
	}
	// A URL has one row a day; a user's days sum their URLs'.
	perDay := `SELECT day, clicks c, bot_clicks b FROM ` + days
	if col != "url_id" {
		perDay = `SELECT day, sum(clicks) c, sum(bot_clicks) b FROM ` + days + ` GROUP BY day`
	}
	// Arrays, not JSON: a year of days is then decoded from PostgreSQL's binary form,
	// which keeps a long-lived link's read close to a new one's. The days' three arrays
	// take the order of their sorted subquery, which PostgreSQL keeps for an aggregate
	// over a subquery alone (an ORDER BY in each aggregate would sort the year three times).
	q := `SELECT tot.*, d.days, d.clicks, d.bots, top.dims, top.names, top.clicks FROM
		(SELECT coalesce(sum(clicks), 0), coalesce(sum(bot_clicks), 0), min(first_at), max(last_at) FROM ` + totals + `) tot,
		LATERAL (SELECT coalesce(array_agg(day), '{}') days, coalesce(array_agg(c), '{}') clicks, coalesce(array_agg(b), '{}') bots
			FROM (` + perDay + ` ORDER BY day) x) d,
		LATERAL (SELECT coalesce(array_agg(dim ORDER BY dim, rn), '{}') dims, coalesce(array_agg(name ORDER BY dim, rn), '{}') names,
			coalesce(array_agg(c ORDER BY dim, rn), '{}') clicks FROM (
			SELECT dim, name, c, row_number() OVER (PARTITION BY dim ORDER BY c DESC, name) rn
			FROM (SELECT dim, name, sum(clicks) c FROM ` + dims + ` GROUP BY dim, name) g) t WHERE rn <= $4) top`
	var (
		dates                 []time.Time
		dimNames, names       []string
		dayClicks, dayBots, n []int64
	)
	err := s.ro.QueryRow(ctx, q, id, day(r.From), day(r.To), domain.StatsTop).Scan(
		&st.Clicks, &st.BotClicks, &st.FirstClickAt, &st.LastClickAt, &dates, &dayClicks, &dayBots, &dimNames, &names, &n)
	if err != nil {
		return translate(err, "stats")
	}
	st.HumanClicks = st.Clicks - st.BotClicks
	st.Daily = make([]domain.DayClicks, len(dates))
	for i := range dates {
		st.Daily[i] = domain.DayClicks{Date: dates[i].Format(domain.StatsDayLayout), Clicks: dayClicks[i], BotClicks: dayBots[i]}
	}
	st.Referrers, st.Browsers, st.OperatingSystems, st.Devices = []domain.HostCount{}, []domain.NameCount{}, []domain.NameCount{}, []domain.TypeCount{}
	for i, dim := range dimNames {
		switch dim {
		case dimReferrer:
			st.Referrers = append(st.Referrers, domain.HostCount{Host: names[i], Clicks: n[i]})
		case dimBrowser:
			st.Browsers = append(st.Browsers, domain.NameCount{Name: names[i], Clicks: n[i]})
		case dimOS:
			st.OperatingSystems = append(st.OperatingSystems, domain.NameCount{Name: names[i], Clicks: n[i]})
		case dimDevice:
			st.Devices = append(st.Devices, domain.TypeCount{Type: names[i], Clicks: n[i]})
		}
	}
	return nil
}

// day is an optional day as a query parameter.
func day(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(domain.StatsDayLayout)
	return &s
}
