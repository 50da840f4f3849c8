// Command seed loads the seed CSVs of the spec (users.csv, urls.csv, events.csv) into an
// empty database, keeping their ids. When the files are missing it first writes realistic
// ones, the same every time: 400 users (a few sharing a username), 2000 URLs and 3400
// events. Progress goes to stderr.
package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urlshort/shortener/shared/config"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/store"
)

// timeLayout is how the seed files write timestamps, always in UTC.
const timeLayout = "2006-01-02 15:04:05"

// The seed files and their headers, as the spec gives them.
const (
	usersFile  = "users.csv"
	urlsFile   = "urls.csv"
	eventsFile = "events.csv"
)

var (
	usersHeader  = []string{"id", "username", "email", "created_at"}
	urlsHeader   = []string{"id", "user_id", "short_code", "original_url", "title", "is_active", "created_at", "updated_at"}
	eventsHeader = []string{"id", "url_id", "user_id", "event_type", "timestamp", "details"}
)

// dataset is the content of the three seed files.
type dataset struct {
	users  []store.SeedUser
	urls   []store.SeedURL
	events []store.SeedEvent
}

func main() {
	cfg, err := config.Load()
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], cfg.DatabaseURL, os.Stderr); err != nil {
		stop()
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		if domain.KindOf(err) == domain.Conflict {
			err = fmt.Errorf("%w\nto start over on a fresh database (this drops it): deps=$(go run ./functions/cmd/devdeps -fresh) && env $deps go run ./functions/cmd/seed -dir .dev/seed", err)
		}
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "seed:", err)
	os.Exit(1)
}

// run is the command without its process: flags in args, progress to log.
func run(ctx context.Context, args []string, databaseURL string, log io.Writer) error {
	fl := flag.NewFlagSet("seed", flag.ContinueOnError)
	fl.SetOutput(log)
	dir := fl.String("dir", ".dev/seed", "directory of users.csv, urls.csv and events.csv")
	gen := fl.Bool("generate", true, "write the three CSVs when any of them is missing")
	load := fl.Bool("load", true, "load the CSVs into the database at DATABASE_URL, which must be empty")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *gen {
		wrote, err := generateMissing(*dir)
		if err != nil {
			return err
		}
		if wrote {
			fmt.Fprintf(log, "generated %s, %s and %s in %s\n", usersFile, urlsFile, eventsFile, *dir)
		} else {
			fmt.Fprintf(log, "using the CSVs already in %s\n", *dir)
		}
	}
	if !*load {
		return nil
	}
	d, err := readDir(*dir, log)
	if err != nil {
		return err
	}
	return loadDB(ctx, databaseURL, d, log)
}

// loadDB migrates the database (the schema may not exist yet) and seeds it.
func loadDB(ctx context.Context, databaseURL string, d dataset, log io.Writer) error {
	st, err := store.Open(ctx, store.Options{URL: databaseURL, MaxConns: 2, Source: "/shortener/seed"})
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	start := time.Now()
	if err := st.Seed(ctx, d.users, d.urls, d.events); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	fmt.Fprintf(log, "loaded %d users, %d urls, %d events in %s\n",
		len(d.users), len(d.urls), len(d.events), time.Since(start).Round(time.Millisecond))
	return nil
}

// generateMissing writes all three files when any is missing: their ids refer to each
// other, so a lone file could not be regenerated on its own. It reports whether it wrote.
func generateMissing(dir string) (bool, error) {
	missing := false
	for _, name := range []string{usersFile, urlsFile, eventsFile} {
		_, err := os.Stat(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			missing = true
		} else if err != nil {
			return false, err
		}
	}
	if !missing {
		return false, nil
	}
	return true, writeDir(dir, generate(genSeed))
}

// writeDir writes the dataset as the three CSV files, each through a temporary file so an
// interrupted run leaves no truncated file behind.
func writeDir(dir string, d dataset) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	users := [][]string{usersHeader}
	for _, u := range d.users {
		users = append(users, []string{id(u.ID), u.Username, u.Email, u.CreatedAt.UTC().Format(timeLayout)})
	}
	urls := [][]string{urlsHeader}
	for _, u := range d.urls {
		title := ""
		if u.Title != nil {
			title = *u.Title
		}
		urls = append(urls, []string{id(u.ID), id(u.UserID), u.ShortCode, u.OriginalURL, title,
			capitalBool(u.IsActive),
			u.CreatedAt.UTC().Format(timeLayout), u.UpdatedAt.UTC().Format(timeLayout)})
	}
	events := [][]string{eventsHeader}
	for _, e := range d.events {
		events = append(events, []string{id(e.ID), optID(e.URLID), optID(e.UserID), e.EventType,
			e.Timestamp.UTC().Format(timeLayout), string(e.Details)})
	}
	for _, f := range []struct {
		name    string
		records [][]string
	}{{usersFile, users}, {urlsFile, urls}, {eventsFile, events}} {
		if err := writeCSV(filepath.Join(dir, f.name), f.records); err != nil {
			return err
		}
	}
	return nil
}

func writeCSV(path string, records [][]string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone already after a successful rename
	w := csv.NewWriter(tmp)
	if err := w.WriteAll(records); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// capitalBool writes a boolean the way the seed format does: True or False.
func capitalBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func optID(n *int64) string {
	if n == nil {
		return ""
	}
	return id(*n)
}

// readDir parses the three files.
func readDir(dir string, log io.Writer) (dataset, error) {
	var d dataset
	n, err := readCSV(filepath.Join(dir, usersFile), usersHeader, func(rec []string) error {
		u := store.SeedUser{Username: rec[1], Email: rec[2]}
		var err error
		if u.ID, err = parseID("id", rec[0]); err != nil {
			return err
		}
		if msg := domain.CheckUsername(u.Username); msg != "" {
			return fmt.Errorf("username %s", msg)
		}
		if msg := domain.CheckEmail(u.Email); msg != "" {
			return fmt.Errorf("email %q %s", u.Email, msg)
		}
		if u.CreatedAt, err = parseTime("created_at", rec[3]); err != nil {
			return err
		}
		d.users = append(d.users, u)
		return nil
	})
	if err != nil {
		return d, err
	}
	fmt.Fprintf(log, "%s: %d rows\n", usersFile, n)

	n, err = readCSV(filepath.Join(dir, urlsFile), urlsHeader, func(rec []string) error {
		u := store.SeedURL{ShortCode: rec[2], OriginalURL: rec[3]}
		var err error
		if u.ID, err = parseID("id", rec[0]); err != nil {
			return err
		}
		if u.UserID, err = parseID("user_id", rec[1]); err != nil {
			return err
		}
		if msg := domain.CheckShortCode(u.ShortCode); msg != "" {
			return fmt.Errorf("short_code %q %s", u.ShortCode, msg)
		}
		if msg := domain.CheckOriginalURL(u.OriginalURL); msg != "" {
			return fmt.Errorf("original_url %q %s", u.OriginalURL, msg)
		}
		if rec[4] != "" {
			if msg := domain.CheckTitle(rec[4]); msg != "" {
				return fmt.Errorf("title %s", msg)
			}
			u.Title = &rec[4]
		}
		if u.IsActive, err = strconv.ParseBool(rec[5]); err != nil {
			return fmt.Errorf("is_active %q is not True or False", rec[5])
		}
		if u.CreatedAt, err = parseTime("created_at", rec[6]); err != nil {
			return err
		}
		if u.UpdatedAt, err = parseTime("updated_at", rec[7]); err != nil {
			return err
		}
		if u.UpdatedAt.Before(u.CreatedAt) {
			return errors.New("updated_at is before created_at")
		}
		d.urls = append(d.urls, u)
		return nil
	})
	if err != nil {
		return d, err
	}
	fmt.Fprintf(log, "%s: %d rows\n", urlsFile, n)

	n, err = readCSV(filepath.Join(dir, eventsFile), eventsHeader, func(rec []string) error {
		e := store.SeedEvent{EventType: rec[3]}
		var err error
		if e.ID, err = parseID("id", rec[0]); err != nil {
			return err
		}
		if e.URLID, err = parseOptID("url_id", rec[1]); err != nil {
			return err
		}
		if e.UserID, err = parseOptID("user_id", rec[2]); err != nil {
			return err
		}
		if e.EventType == "" {
			return errors.New("event_type is empty")
		}
		if e.Timestamp, err = parseTime("timestamp", rec[4]); err != nil {
			return err
		}
		if rec[5] != "" {
			var obj map[string]any
			if err := json.Unmarshal([]byte(rec[5]), &obj); err != nil || obj == nil {
				return fmt.Errorf("details %q is not a JSON object", rec[5])
			}
			e.Details = json.RawMessage(rec[5])
		}
		d.events = append(d.events, e)
		return nil
	})
	if err != nil {
		return d, err
	}
	fmt.Fprintf(log, "%s: %d rows\n", eventsFile, n)
	return d, nil
}

// readCSV checks the header of a CSV file and hands each further record to row; errors
// name the file and the line. It returns the number of records after the header.
func readCSV(path string, header []string, row func(rec []string) error) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(header)
	got, err := r.Read()
	if errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("%s: empty file, want the header %s", path, strings.Join(header, ","))
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if !slices.Equal(got, header) {
		return 0, fmt.Errorf("%s:1: header is %s, want %s", path, strings.Join(got, ","), strings.Join(header, ","))
	}
	n := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err) // a csv.ParseError names the line
		}
		if err := row(rec); err != nil {
			line, _ := r.FieldPos(0)
			return n, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		n++
	}
}

func parseID(field, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s %q is not a positive integer", field, s)
	}
	return n, nil
}

func parseOptID(field, s string) (*int64, error) {
	if s == "" {
		return nil, nil
	}
	n, err := parseID(field, s)
	return &n, err
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s %q is not like %s", field, s, timeLayout)
	}
	return t, nil
}

// genSeed fixes the generator's random numbers, so every run writes the same files.
const genSeed = 20250718

// The sizes of the generated files.
const (
	genUsers           = 400
	genSharedUsernames = 10 // users whose username an earlier user already has
	genURLs            = 2000
	genEvents          = 3400
	genCreatedEvents   = 400
)

// The generated history happens between these instants.
var (
	genStart = time.Date(2024, 1, 8, 9, 0, 0, 0, time.UTC)
	genEnd   = time.Date(2025, 7, 31, 22, 0, 0, 0, time.UTC)
)

// gen draws the seed data from one deterministic source.
type gen struct{ r *rand.Rand }

// generate makes the seed data: users first, URLs owned by them, then events on the URLs.
// Ids follow creation time, as they would have in a live database.
func generate(seed uint64) dataset {
	g := &gen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	users := g.users()
	urls := g.urls(users)
	return dataset{users: users, urls: urls, events: g.events(urls)}
}

func (g *gen) users() []store.SeedUser {
	users := make([]store.SeedUser, 0, genUsers)
	taken := map[string]bool{}  // usernames
	emails := map[string]bool{} // lower-cased
	earlier := g.r.Perm(genUsers - genSharedUsernames)
	for i := range genUsers {
		first, last := pick(g, firstNames), pick(g, lastNames)
		var name string
		if i >= genUsers-genSharedUsernames {
			// Usernames are not unique: a few people choose a handle someone already has.
			name = users[earlier[i-(genUsers-genSharedUsernames)]].Username
		} else {
			for name = g.username(first, last); taken[name]; name = g.username(first, last) {
			}
			taken[name] = true
		}
		latest := genEnd.Add(-45 * 24 * time.Hour)
		users = append(users, store.SeedUser{
			Username:  name,
			Email:     g.email(first, last, emails),
			CreatedAt: g.between(genStart, latest),
		})
	}
	slices.SortStableFunc(users, func(a, b store.SeedUser) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for i := range users {
		users[i].ID = int64(i + 1)
	}
	return users
}

func (g *gen) username(first, last string) string {
	f, l := strings.ToLower(first), strings.ToLower(last)
	switch g.r.IntN(9) {
	case 0:
		return f + "." + l
	case 1:
		return f + "_" + l
	case 2:
		return f[:1] + l
	case 3:
		return f + strconv.Itoa(g.r.IntN(99)+1)
	case 4:
		return f + l[:1]
	case 5:
		return first + last // CamelCase display-style handles exist too
	case 6:
		return pick(g, handleWords) + pick(g, handleNouns)
	case 7:
		return pick(g, handleWords) + "_" + pick(g, handleNouns) + strconv.Itoa(g.r.IntN(1000))
	default:
		return f + l
	}
}

func (g *gen) email(first, last string, taken map[string]bool) string {
	f, l := strings.ToLower(first), strings.ToLower(last)
	var local string
	switch g.r.IntN(5) {
	case 0:
		local = f + "." + l
	case 1:
		local = f + l
	case 2:
		local = f[:1] + "." + l
	case 3:
		local = f + "_" + l + strconv.Itoa(g.r.IntN(90)+10)
	default:
		local = l + "." + f
	}
	domainName := pick(g, mailDomains)
	email := local + "@" + domainName
	for n := 2; taken[email]; n++ {
		email = local + strconv.Itoa(n) + "@" + domainName
	}
	taken[email] = true
	return email
}

func (g *gen) urls(users []store.SeedUser) []store.SeedURL {
	// A few users own many links and many own none, as in any real service.
	owners := g.r.Perm(len(users))
	zipf := rand.NewZipf(g.r, 1.2, 8, uint64(len(users)-1))
	codes := map[string]bool{}
	urls := make([]store.SeedURL, 0, genURLs)
	for range genURLs {
		owner := users[owners[zipf.Uint64()]]
		link, title := g.page()
		u := store.SeedURL{
			UserID:      owner.ID,
			ShortCode:   g.code(codes),
			OriginalURL: link,
			IsActive:    g.r.IntN(10) != 0,
			CreatedAt:   g.between(owner.CreatedAt, genEnd),
		}
		if title != "" && g.r.IntN(8) != 0 {
			u.Title = &title
		}
		u.UpdatedAt = u.CreatedAt
		if !u.IsActive || g.r.IntN(10) < 3 {
			// Deactivating is an update; some active URLs were edited too.
			u.UpdatedAt = g.between(u.CreatedAt.Add(time.Minute), genEnd.Add(time.Hour))
		}
		urls = append(urls, u)
	}
	slices.SortStableFunc(urls, func(a, b store.SeedURL) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for i := range urls {
		urls[i].ID = int64(i + 1)
	}
	return urls
}

// code draws a fresh generated-style short code.
func (g *gen) code(taken map[string]bool) string {
	for {
		b := make([]byte, domain.GeneratedCodeLength)
		for i := range b {
			b[i] = domain.ShortCodeAlphabet[g.r.IntN(len(domain.ShortCodeAlphabet))]
		}
		if c := string(b); !taken[c] && !domain.IsReservedCode(c) {
			taken[c] = true
			return c
		}
	}
}

// Details of the generated events, shaped as the spec's audit log writes them.
type (
	createdDetails struct {
		ShortCode   string `json:"short_code"`
		OriginalURL string `json:"original_url"`
	}
	updatedDetails struct {
		Field    string `json:"field"`
		NewValue string `json:"new_value"`
	}
	clickDetails struct {
		ShortCode string `json:"short_code"`
		Referrer  string `json:"referrer,omitempty"`
		UserAgent string `json:"user_agent,omitempty"`
	}
)

func (g *gen) events(urls []store.SeedURL) []store.SeedEvent {
	events := make([]store.SeedEvent, 0, genEvents)
	add := func(u *store.SeedURL, typ string, at time.Time, details any) {
		urlID, userID := u.ID, u.UserID
		events = append(events, store.SeedEvent{URLID: &urlID, UserID: &userID, EventType: typ, Timestamp: at, Details: compactJSON(details)})
	}
	for _, i := range g.r.Perm(len(urls))[:genCreatedEvents] {
		u := &urls[i]
		add(u, domain.EventCreated, u.CreatedAt, createdDetails{u.ShortCode, u.OriginalURL})
	}
	for i := range urls {
		u := &urls[i]
		switch {
		case !u.IsActive:
			add(u, domain.EventUpdated, u.UpdatedAt, updatedDetails{"is_active", "false"})
		case u.UpdatedAt.After(u.CreatedAt) && g.r.IntN(4) == 0:
			if u.Title != nil && g.r.IntN(3) != 0 {
				add(u, domain.EventUpdated, u.UpdatedAt, updatedDetails{"title", *u.Title})
			} else {
				add(u, domain.EventUpdated, u.UpdatedAt, updatedDetails{"original_url", u.OriginalURL})
			}
		}
	}
	// Clicks favour a few popular links; an inactive link stopped getting them when it
	// was deactivated.
	popular := g.r.Perm(len(urls))
	zipf := rand.NewZipf(g.r, 1.1, 4, uint64(len(urls)-1))
	for len(events) < genEvents {
		u := &urls[popular[zipf.Uint64()]]
		until := genEnd
		if !u.IsActive {
			until = u.UpdatedAt.Add(-time.Second)
		}
		if !until.After(u.CreatedAt) {
			continue
		}
		d := clickDetails{ShortCode: u.ShortCode, UserAgent: pick(g, userAgents)}
		if g.r.IntN(10) < 7 {
			d.Referrer = pick(g, referrers)
		}
		add(u, domain.EventClick, g.between(u.CreatedAt, until), d)
	}
	slices.SortStableFunc(events, func(a, b store.SeedEvent) int { return a.Timestamp.Compare(b.Timestamp) })
	for i := range events {
		events[i].ID = int64(i + 1)
	}
	return events
}

// compactJSON encodes v without HTML escaping, so URLs keep their & in the CSV.
func compactJSON(v any) json.RawMessage {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // the detail structs always encode
	}
	return json.RawMessage(strings.TrimSuffix(b.String(), "\n"))
}

// between draws a whole second in [from, to).
func (g *gen) between(from, to time.Time) time.Time {
	from = from.Truncate(time.Second)
	span := int64(to.Sub(from) / time.Second)
	if span <= 0 {
		return from
	}
	return from.Add(time.Duration(g.r.Int64N(span)) * time.Second)
}

func pick[T any](g *gen, xs []T) T { return xs[g.r.IntN(len(xs))] }

// chars draws n characters of alphabet.
func (g *gen) chars(n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.r.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	alnum     = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	lowerNum  = "abcdefghijklmnopqrstuvwxyz0123456789"
	upperNum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	digits    = "0123456789"
	videoID   = alnum + "-_"
	monthAbbr = "jan feb mar apr may jun jul aug sep oct nov dec"
)

// slug makes a URL path word of a title: lower case, hyphens between words.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}

// capitalWords capitalizes each word of a slug, as Amazon's product paths do.
func capitalWords(s string) string {
	words := strings.Split(s, "-")
	for i, w := range words {
		words[i] = strings.ToUpper(w[:1]) + w[1:]
	}
	return strings.Join(words, "-")
}

// page draws a link someone would shorten and the title of the page behind it ("" when
// the page has none worth keeping).
func (g *gen) page() (string, string) {
	switch n := g.r.IntN(100); {
	case n < 12: // GitHub
		r := pick(g, repos)
		base := "https://github.com/" + r.org + "/" + r.name
		switch g.r.IntN(5) {
		case 0:
			return base, "GitHub - " + r.org + "/" + r.name + ": " + r.desc
		case 1:
			num := strconv.Itoa(g.r.IntN(40000) + 1)
			return base + "/issues/" + num, pick(g, headlines) + " · Issue #" + num + " · " + r.org + "/" + r.name
		case 2:
			num := strconv.Itoa(g.r.IntN(40000) + 1)
			return base + "/pull/" + num + "/files", pick(g, articles) + " by " + strings.ToLower(pick(g, firstNames)) + " · Pull Request #" + num + " · " + r.org + "/" + r.name
		case 3:
			return base + "/blob/main/README.md", r.name + "/README.md at main · " + r.org + "/" + r.name
		default:
			v := fmt.Sprintf("v%d.%d.%d", g.r.IntN(3)+1, g.r.IntN(30), g.r.IntN(12))
			return base + "/releases/tag/" + v, "Release " + v + " · " + r.org + "/" + r.name
		}
	case n < 22: // Wikipedia
		topic := pick(g, wikiTopics)
		lang := pick(g, []string{"en", "en", "en", "en", "de", "fr", "es"})
		link := "https://" + lang + ".wikipedia.org/wiki/" + url.PathEscape(strings.ReplaceAll(topic, " ", "_"))
		if g.r.IntN(4) == 0 {
			link += "#" + pick(g, []string{"History", "Overview", "See_also", "References", "Etymology"})
		}
		return link, topic + " - Wikipedia"
	case n < 31: // YouTube
		id := g.chars(11, videoID)
		title := pick(g, videoTitles)
		switch g.r.IntN(3) {
		case 0:
			return "https://youtu.be/" + id + "?si=" + g.chars(16, videoID), title
		case 1:
			return "https://www.youtube.com/watch?v=" + id + "&t=" + strconv.Itoa(g.r.IntN(3000)) + "s", title + " - YouTube"
		default:
			return "https://www.youtube.com/watch?v=" + id, title + " - YouTube"
		}
	case n < 39: // Stack Overflow
		q := pick(g, questions)
		return fmt.Sprintf("https://stackoverflow.com/questions/%d/%s", 1_000_000+g.r.IntN(78_000_000), slug(q)), q + " - Stack Overflow"
	case n < 50: // news
		h := pick(g, headlines)
		y, m, d := 2024+g.r.IntN(2), g.r.IntN(12)+1, g.r.IntN(28)+1
		switch g.r.IntN(4) {
		case 0:
			return fmt.Sprintf("https://www.nytimes.com/%d/%02d/%02d/%s/%s.html", y, m, d, pick(g, sections), slug(h)), h + " - The New York Times"
		case 1:
			return fmt.Sprintf("https://www.theguardian.com/%s/%d/%s/%02d/%s", pick(g, sections), y, strings.Fields(monthAbbr)[m-1], d, slug(h)), h + " | The Guardian"
		case 2:
			return fmt.Sprintf("https://arstechnica.com/%s/%d/%02d/%s/", pick(g, sections), y, m, slug(h)), h + " - Ars Technica"
		default:
			return "https://www.bbc.com/news/articles/c" + g.chars(10, lowerNum) + "o", h + " - BBC News"
		}
	case n < 59: // engineering blogs, often from a newsletter or a post
		a := pick(g, articles)
		link := pick(g, blogs) + slug(a)
		if g.r.IntN(2) == 0 {
			q := url.Values{}
			q.Set("utm_source", pick(g, []string{"newsletter", "twitter", "linkedin", "hackernews", "mastodon"}))
			q.Set("utm_medium", pick(g, []string{"email", "social", "referral"}))
			q.Set("utm_campaign", pick(g, []string{"weekly-digest", "launch-2025", "spring_sale", "devrel-q3", "product-update"}))
			link += "?" + q.Encode()
		}
		return link, a
	case n < 65: // shops
		p := pick(g, products)
		switch g.r.IntN(3) {
		case 0:
			host := pick(g, []string{"www.amazon.com", "www.amazon.de", "www.amazon.co.uk"})
			return fmt.Sprintf("https://%s/%s/dp/B0%s?ref=sr_1_%d&th=1", host, capitalWords(slug(p)), g.chars(8, upperNum), g.r.IntN(20)+1), "Amazon.com: " + p
		case 1:
			return fmt.Sprintf("https://www.etsy.com/listing/%d/%s", 100_000_000+g.r.IntN(1_800_000_000), slug(p)), p + " - Etsy"
		default:
			return fmt.Sprintf("https://%s.myshopify.com/products/%s?variant=%d", pick(g, []string{"northwind", "bluebottle-goods", "tinyforge", "mossandstone"}), slug(p), 40_000_000_000_000+g.r.Int64N(9_000_000_000_000)), p
		}
	case n < 74: // documentation
		d := pick(g, docs)
		return d.link, d.title
	case n < 80: // shared documents, forms, meetings: rarely a useful title
		switch g.r.IntN(4) {
		case 0:
			return "https://docs.google.com/document/d/" + g.chars(44, videoID) + "/edit?usp=sharing", ""
		case 1:
			return "https://docs.google.com/spreadsheets/d/" + g.chars(44, videoID) + "/edit#gid=" + g.chars(9, digits), "Q" + strconv.Itoa(g.r.IntN(4)+1) + " budget"
		case 2:
			return "https://forms.gle/" + g.chars(17, alnum), ""
		default:
			return "https://us02web.zoom.us/j/" + g.chars(11, digits) + "?pwd=" + g.chars(32, alnum), "Weekly sync"
		}
	case n < 85: // searches
		q := url.Values{}
		q.Set("q", strings.ToLower(pick(g, questions)))
		switch g.r.IntN(3) {
		case 0:
			q.Set("hl", "en")
			return "https://www.google.com/search?" + q.Encode(), q.Get("q") + " - Google Search"
		case 1:
			return "https://duckduckgo.com/?" + q.Encode() + "&ia=web", q.Get("q") + " at DuckDuckGo"
		default:
			q.Set("form", "QBLH")
			return "https://www.bing.com/search?" + q.Encode(), q.Get("q") + " - Search"
		}
	case n < 93: // social
		switch g.r.IntN(4) {
		case 0:
			return fmt.Sprintf("https://x.com/%s/status/%d", pick(g, handleNouns)+pick(g, handleWords), 1_700_000_000_000_000_000+g.r.Int64N(250_000_000_000_000_000)), ""
		case 1:
			h, sub := pick(g, headlines), pick(g, subreddits)
			return fmt.Sprintf("https://www.reddit.com/r/%s/comments/%s/%s/", sub, g.chars(7, lowerNum), strings.ReplaceAll(slug(h), "-", "_")), h + " : r/" + sub
		case 2:
			return fmt.Sprintf("https://news.ycombinator.com/item?id=%d", 38_000_000+g.r.IntN(6_000_000)), pick(g, articles) + " | Hacker News"
		default:
			return fmt.Sprintf("https://www.linkedin.com/posts/%s_%s-activity-%d-%s", strings.ToLower(pick(g, firstNames))+"-"+strings.ToLower(pick(g, lastNames)), slug(pick(g, articles)), 7_100_000_000_000_000_000+g.r.Int64N(200_000_000_000_000_000), g.chars(4, alnum)), ""
		}
	default: // the long tail: travel, old forums, intranets on plain http
		switch g.r.IntN(4) {
		case 0:
			q := url.Values{}
			q.Set("checkin", "2025-0"+strconv.Itoa(g.r.IntN(9)+1)+"-1"+strconv.Itoa(g.r.IntN(9)))
			q.Set("group_adults", strconv.Itoa(g.r.IntN(4)+1))
			q.Set("no_rooms", "1")
			hotel := pick(g, hotels)
			return "https://www.booking.com/hotel/" + hotel.country + "/" + slug(hotel.name) + ".html?" + q.Encode(), hotel.name + " – Booking.com"
		case 1:
			return fmt.Sprintf("http://forum.%s.net/viewtopic.php?f=%d&t=%d&start=%d", pick(g, handleNouns), g.r.IntN(40)+1, g.r.IntN(90000)+1, 20*g.r.IntN(8)), ""
		case 2:
			return fmt.Sprintf("http://intranet.corp.example.com:8080/wiki/display/%s/%s", pick(g, []string{"ENG", "OPS", "HR", "SALES"}), url.PathEscape(pick(g, articles))), ""
		default:
			place := pick(g, wikiTopics[:8])
			return fmt.Sprintf("https://www.google.com/maps/place/%s/@%.7f,%.7f,%dz", strings.ReplaceAll(url.PathEscape(place), "%20", "+"), g.r.Float64()*140-70, g.r.Float64()*360-180, g.r.IntN(8)+10), place + " - Google Maps"
		}
	}
}

// The generator's vocabulary.
var (
	firstNames = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
		"William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Carlos", "Maria", "Wei", "Mei",
		"Hiroshi", "Yuki", "Ahmed", "Fatima", "Olga", "Ivan", "Priya", "Arjun", "Lucas", "Emma", "Noah", "Olivia", "Liam",
		"Sofia", "Mateo", "Camila", "Lukas", "Anna", "Jonas", "Lena", "Kwame", "Amara", "Chen", "Jin", "Sven", "Ingrid",
		"Diego", "Valentina", "Omar", "Leila", "Tomasz", "Zofia", "Kenji", "Aiko", "Raj", "Ananya", "Felix", "Clara"}
	lastNames = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
		"Hernandez", "Lopez", "Wilson", "Anderson", "Taylor", "Moore", "Martin", "Lee", "Thompson", "White", "Nguyen", "Kim",
		"Wang", "Li", "Zhang", "Tanaka", "Suzuki", "Sato", "Khan", "Patel", "Singh", "Kumar", "Muller", "Schmidt",
		"Schneider", "Fischer", "Dubois", "Moreau", "Rossi", "Ferrari", "Silva", "Santos", "Ivanov", "Petrov", "Kowalski",
		"Nowak", "Jensen", "Hansen", "Larsen", "Okafor", "Mensah", "Haddad", "Cohen", "Murphy", "OBrien", "Walsh"}
	handleWords = []string{"quiet", "lazy", "cosmic", "pixel", "rusty", "night", "stormy", "happy", "little", "dark",
		"code", "retro", "neon", "wild", "silent", "urban"}
	handleNouns = []string{"fox", "owl", "panda", "coder", "hacker", "wolf", "otter", "ninja", "falcon", "tiger",
		"dev", "gecko", "badger", "raven", "koala", "yak"}
	mailDomains = []string{"gmail.com", "gmail.com", "gmail.com", "gmail.com", "outlook.com", "outlook.com", "yahoo.com",
		"hotmail.com", "icloud.com", "proton.me", "fastmail.com", "gmx.de", "web.de", "orange.fr", "yahoo.co.jp",
		"mail.ru", "qq.com", "acme.io", "initech.com", "cs.stanford.edu", "example.org"}
	repos = []struct{ org, name, desc string }{
		{"golang", "go", "The Go programming language"},
		{"kubernetes", "kubernetes", "Production-Grade Container Scheduling and Management"},
		{"jackc", "pgx", "PostgreSQL driver and toolkit for Go"},
		{"valkey-io", "valkey", "A flexible distributed key-value database"},
		{"torvalds", "linux", "Linux kernel source tree"},
		{"rust-lang", "rust", "Empowering everyone to build reliable and efficient software."},
		{"facebook", "react", "The library for web and native user interfaces."},
		{"knative", "serving", "Kubernetes-based, scale-to-zero, request-driven compute"},
		{"prometheus", "prometheus", "The Prometheus monitoring system and time series database."},
		{"python", "cpython", "The Python programming language"},
		{"microsoft", "vscode", "Visual Studio Code"},
		{"neovim", "neovim", "Vim-fork focused on extensibility and usability"},
		{"traefik", "traefik", "The Cloud Native Application Proxy"},
		{"postgres", "postgres", "Mirror of the official PostgreSQL GIT repository."},
		{"ollama", "ollama", "Get up and running with large language models."},
	}
	// The first eight are places, which the map links use.
	wikiTopics = []string{"Eiffel Tower", "Mount Everest", "São Paulo", "Great Barrier Reef", "Kyoto", "Reykjavík",
		"Machu Picchu", "Lake Baikal", "Hash table", "URL shortening", "PostgreSQL", "Alan Turing", "Ada Lovelace",
		"Bloom filter", "Byzantine fault", "Photosynthesis", "Roman Empire", "Jazz", "Quantum entanglement", "Espresso",
		"Tour de France", "Consistent hashing", "Write-ahead logging", "Café racer", "Dijkstra's algorithm"}
	videoTitles = []string{"Rich Hickey - Simple Made Easy", "How Does a Database Index Work?", "Lofi hip hop radio - beats to relax/study to",
		"GopherCon 2024: Building Resilient Services", "I Built a Homelab for $200", "The Art of Code - Dylan Beattie",
		"Sourdough for Beginners (step by step)", "Kubernetes in 100 Seconds", "Why Airplanes Don't Fall Out of the Sky",
		"Full Body Workout - 20 Minutes, No Equipment", "Live at Montreux 1991", "Understanding PostgreSQL MVCC"}
	questions = []string{"How do I check if a map contains a key in Go?", "What is the difference between git merge and git rebase?",
		"How to undo the most recent local commits in Git?", "Why is processing a sorted array faster than processing an unsorted array?",
		"How do I iterate over the words of a string?", "What does the yield keyword do in Python?",
		"How to center a div horizontally and vertically?", "How can I prevent SQL injection in PHP?",
		"What is the difference between a process and a thread?", "How do I reset a PostgreSQL sequence after bulk insert?",
		"Why does my Docker container exit immediately?", "How to read a large file line by line in Java?",
		"What is a NullPointerException, and how do I fix it?", "How do I parse JSON with jq and keep the key order?"}
	headlines = []string{"Scientists Map the Deepest Ocean Trench in Unprecedented Detail", "The Quiet Revolution in Battery Chemistry",
		"City Council Approves New Bike Lanes Downtown", "Why Your Phone Gets Slower Every Year", "Inside the Race to Build a Better Heat Pump",
		"A Record Heat Wave Grips Southern Europe", "What the New Privacy Rules Mean for You", "Open Source Maintainers Are Burning Out",
		"The Return of the Night Train", "How a Small Bakery Took On Supermarket Bread", "Astronomers Spot Water Vapor on a Distant Exoplanet",
		"Central Bank Holds Rates Steady Amid Uncertainty", "The Best Laptops for Students This Year", "Crash Fix for Large Uploads Lands in Beta"}
	sections = []string{"technology", "science", "world", "business", "culture", "travel", "climate", "gadgets"}
	articles = []string{"Scaling Postgres to Millions of Writes per Second", "How We Cut Our Cloud Bill in Half",
		"Lessons from a Year of On-Call", "A Gentle Introduction to CRDTs", "Why We Moved Back to a Monolith",
		"Designing Idempotent APIs", "The Outbox Pattern, Explained", "Zero-Downtime Database Migrations",
		"Debugging a Memory Leak in Production", "Building a Rate Limiter with Redis", "Our Journey to Kubernetes",
		"Structured Logging Done Right", "What Every Programmer Should Know About Time Zones", "Announcing Our Series B"}
	blogs = []string{"https://blog.cloudflare.com/", "https://stripe.com/blog/", "https://engineering.fb.com/2025/03/12/",
		"https://netflixtechblog.com/", "https://martinfowler.com/articles/", "https://go.dev/blog/",
		"https://www.figma.com/blog/", "https://dropbox.tech/infrastructure/", "https://slack.engineering/",
		"https://medium.com/@jordan.lee/", "https://dev.to/ananya_k/", "https://substack.com/home/post/p-"}
	products = []string{"Wireless Noise Cancelling Headphones", "Stainless Steel French Press 1L", "Mechanical Keyboard 75 Percent",
		"Ergonomic Office Chair", "USB C Hub 7 in 1", "Hand Thrown Ceramic Mug", "Merino Wool Hiking Socks",
		"Cast Iron Skillet 12 Inch", "Kindle Paperwhite 16GB", "LEGO Botanical Bonsai Tree", "Linen Duvet Cover Queen"}
	docs = []struct{ link, title string }{
		{"https://docs.python.org/3/library/asyncio-task.html#asyncio.gather", "Coroutines and Tasks — Python 3.13 documentation"},
		{"https://docs.python.org/3/library/csv.html", "csv — CSV File Reading and Writing — Python 3.13 documentation"},
		{"https://developer.mozilla.org/en-US/docs/Web/HTTP/Status/302", "302 Found - HTTP | MDN"},
		{"https://developer.mozilla.org/en-US/docs/Web/CSS/CSS_grid_layout", "CSS grid layout - CSS: Cascading Style Sheets | MDN"},
		{"https://developer.mozilla.org/en-US/docs/Web/API/Fetch_API/Using_Fetch", "Using the Fetch API - Web APIs | MDN"},
		{"https://pkg.go.dev/net/http#ServeMux", "http package - net/http - Go Packages"},
		{"https://pkg.go.dev/github.com/jackc/pgx/v5#Conn.CopyFrom", "pgx package - github.com/jackc/pgx/v5 - Go Packages"},
		{"https://www.postgresql.org/docs/17/sql-copy.html", "PostgreSQL: Documentation: 17: COPY"},
		{"https://www.postgresql.org/docs/current/functions-sequence.html", "PostgreSQL: Documentation: 17: 9.17. Sequence Manipulation Functions"},
		{"https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/", "Pod Lifecycle | Kubernetes"},
		{"https://knative.dev/docs/functions/", "Knative Functions overview - Knative"},
		{"https://valkey.io/commands/client-tracking/", "CLIENT TRACKING | Docs"},
		{"https://learn.microsoft.com/en-us/azure/architecture/patterns/retry", "Retry pattern - Azure Architecture Center | Microsoft Learn"},
	}
	subreddits = []string{"golang", "programming", "selfhosted", "AskHistorians", "Cooking", "europe", "homelab", "running"}
	hotels     = []struct{ country, name string }{
		{"fr", "Hotel Le Marais"}, {"it", "Albergo Roma Centro"}, {"jp", "Kyoto Machiya Inn"}, {"pt", "Lisbon Riverside Suites"},
		{"de", "Hotel Berlin Mitte"}, {"is", "Reykjavik Harbour Guesthouse"},
	}
	userAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
		"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
		"curl/8.5.0",
	}
	referrers = []string{"https://www.google.com/", "https://www.google.com/", "https://t.co/", "https://www.reddit.com/",
		"https://news.ycombinator.com/", "https://www.facebook.com/", "https://www.linkedin.com/", "https://duckduckgo.com/",
		"https://mail.google.com/", "https://app.slack.com/", "https://outlook.office.com/", "android-app://com.google.android.gm/"}
)
