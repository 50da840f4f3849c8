package function

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/agents"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// statsClicks are the two URLs' clicks: the issue wants a link with a million clicks over
// a year answered within twice the time of one with ten.
var statsClicks = []struct {
	name   string
	clicks int
}{{"10clicks", 10}, {"1Mclicks", 1_000_000}}

// The mix of a link shared around for a year: most clicks direct or from a few sites, a
// handful of browsers on desktops, phones and tablets, and some crawlers and link-preview
// fetchers. The weights only need to give every rollup several names per day.
var (
	statsReferrers = []string{"", "", "", "https://www.google.com/", "https://www.google.com/", "https://t.co/x1",
		"https://www.facebook.com/", "https://news.ycombinator.com/item?id=1", "https://www.reddit.com/r/golang/",
		"https://www.linkedin.com/feed/", "https://duckduckgo.com/", "https://mail.example.org/inbox"}
	statsAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		"Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
		"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
		"curl/8.5.0",
		"",
	}
)

// BenchmarkURLStats measures GET /urls/{id}/stats through the whole function (router,
// store, the statement over the rollups, JSON) for a URL with 10 clicks and one with
// 1,000,000 over 365 days, unbounded and over the last 30 days. The clicks are loaded by
// Store.Seed, which keeps the rollups as every click-storing path does.
func BenchmarkURLStats(b *testing.B) {
	db := storetest.URL(b)
	a := startAPI(b, map[string]string{"DATABASE_URL": db})
	now := time.Now().UTC()
	t0 := time.Now()
	ids := seedStatsClicks(b, a, now)
	b.Logf("seeded %d clicks in %v", 1_000_010, time.Since(t0).Round(time.Millisecond))
	// A database that has just taken a million rows is vacuumed and analyzed by autovacuum
	// soon after, which would run during the first rounds; a live database has done it.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	conn.Close(context.Background())
	from := now.AddDate(0, 0, -29).Format(domain.StatsDayLayout)
	to := now.Format(domain.StatsDayLayout)
	ns := map[string]float64{}
	for _, rng := range []struct{ name, query string }{{"", ""}, {"/30days", "?from=" + from + "&to=" + to}} {
		for i, c := range statsClicks {
			name := c.name + rng.name
			b.Run(name, func(b *testing.B) {
				req := httptest.NewRequest("GET", fmt.Sprintf("/urls/%d/stats%s", ids[i], rng.query), nil)
				w := httptest.NewRecorder()
				a.f.Handle(w, req)
				if st := statsOf(b, w.Body.Bytes()); rng.query == "" &&
					(st.Clicks != int64(c.clicks) || c.clicks > 1000 && (st.BotClicks == 0 || len(st.Browsers) < 4 || len(st.Referrers) < 8)) {
					b.Fatalf("stats of %s: %s", c.name, w.Body.Bytes())
				}
				size := w.Body.Len()
				b.ReportAllocs()
				cpu0 := processCPU(b)
				b.ResetTimer()
				for b.Loop() {
					w := httptest.NewRecorder()
					a.f.Handle(w, req)
					if w.Code != 200 {
						b.Fatalf("status %d: %s", w.Code, w.Body.Bytes())
					}
				}
				ns[name] = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(float64(size), "body-bytes")
				// Wall time includes PostgreSQL's part and whatever else the machine runs;
				// this process's CPU is the Go side alone (the statement's result decoded,
				// the answer encoded).
				b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
	// The bound, printed with the run (go test -v): the last round of each.
	for _, rng := range []string{"", "/30days"} {
		if small, big := ns["10clicks"+rng], ns["1Mclicks"+rng]; small > 0 && big > 0 {
			b.Logf("1Mclicks%s / 10clicks%s = %.2f (bound: 2)", rng, rng, big/small)
		}
	}
}

// seedStatsClicks loads two URLs of one user into the empty database, 10 and 1,000,000
// clicks spread over the 365 days up to now, and returns the URLs' ids in statsClicks'
// order.
func seedStatsClicks(b *testing.B, a *api, now time.Time) []int64 {
	b.Helper()
	start := now.AddDate(0, 0, -364).Truncate(24 * time.Hour)
	users := []domain.User{{ID: 1, Username: "stats", Email: "stats@example.com", CreatedAt: start.Add(-time.Hour)}}
	var urls []domain.URL
	var events []domain.Event
	clicks := newStatsClicks(start, now)
	user := int64(1)
	for i, c := range statsClicks {
		id := int64(i + 1)
		code := fmt.Sprintf("stats%d", id)
		urls = append(urls, domain.URL{ID: id, UserID: 1, ShortCode: code, OriginalURL: "https://example.com/" + code,
			IsActive: true, CreatedAt: start.Add(-time.Hour), UpdatedAt: start.Add(-time.Hour)})
		for range c.clicks {
			at, details := clicks.next(b, code)
			events = append(events, domain.Event{ID: int64(len(events) + 1), URLID: &id, UserID: &user,
				EventType: domain.EventClick, Timestamp: at, Details: details})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := a.f.store.Seed(ctx, users, urls, events); err != nil {
		b.Fatalf("seed: %v", err)
	}
	return []int64{1, 2}
}

// statsClickSource makes clicks at random instants from start to end with the mix above,
// the same ones every run.
type statsClickSource struct {
	rnd   *rand.Rand
	start time.Time
	span  time.Duration
	bots  []bool
}

// newStatsClicks is a source of clicks from start to end.
func newStatsClicks(start, end time.Time) *statsClickSource {
	// The click batcher flags bots before storing; the rollups would find them anyway.
	bots := make([]bool, len(statsAgents))
	for i, ua := range statsAgents {
		bots[i] = agents.IsBot(ua)
	}
	return &statsClickSource{rnd: rand.New(rand.NewPCG(1, 2)), start: start, span: end.Sub(start), bots: bots}
}

// next is one click of code: its instant and its details.
func (s *statsClickSource) next(b *testing.B, code string) (time.Time, json.RawMessage) {
	ua := s.rnd.IntN(len(statsAgents))
	d, err := json.Marshal(domain.ClickDetails{ShortCode: code, Referrer: statsReferrers[s.rnd.IntN(len(statsReferrers))],
		UserAgent: statsAgents[ua], Bot: s.bots[ua]})
	if err != nil {
		b.Fatal(err)
	}
	return s.start.Add(time.Duration(s.rnd.Int64N(int64(s.span)))), d
}

// statsOf decodes a statistics answer.
func statsOf(b *testing.B, body []byte) domain.Stats {
	b.Helper()
	var st domain.Stats
	if err := json.Unmarshal(body, &st); err != nil {
		b.Fatalf("stats body: %v: %s", err, body)
	}
	return st
}
