package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urlshort/shortener/shared/domain"
)

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

func (g *gen) users() []domain.User {
	users := make([]domain.User, 0, genUsers)
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
		users = append(users, domain.User{
			Username:  name,
			Email:     g.email(first, last, emails),
			CreatedAt: g.between(genStart, latest),
		})
	}
	slices.SortStableFunc(users, func(a, b domain.User) int { return a.CreatedAt.Compare(b.CreatedAt) })
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

func (g *gen) urls(users []domain.User) []domain.URL {
	// A few users own many links and many own none, as in any real service.
	owners := g.r.Perm(len(users))
	zipf := rand.NewZipf(g.r, 1.2, 8, uint64(len(users)-1))
	codes := map[string]bool{}
	urls := make([]domain.URL, 0, genURLs)
	for range genURLs {
		owner := users[owners[zipf.Uint64()]]
		link, title := g.page()
		u := domain.URL{
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
	slices.SortStableFunc(urls, func(a, b domain.URL) int { return a.CreatedAt.Compare(b.CreatedAt) })
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

func (g *gen) events(urls []domain.URL) []domain.Event {
	events := make([]domain.Event, 0, genEvents)
	add := func(u *domain.URL, typ string, at time.Time, details any) {
		urlID, userID := u.ID, u.UserID
		events = append(events, domain.Event{URLID: &urlID, UserID: &userID, EventType: typ, Timestamp: at, Details: compactJSON(details)})
	}
	for _, i := range g.r.Perm(len(urls))[:genCreatedEvents] {
		u := &urls[i]
		add(u, domain.EventCreated, u.CreatedAt, domain.URLCreatedDetails{ShortCode: u.ShortCode, OriginalURL: u.OriginalURL})
	}
	for i := range urls {
		u := &urls[i]
		switch {
		case !u.IsActive:
			add(u, domain.EventUpdated, u.UpdatedAt, domain.URLUpdatedDetails{Field: "is_active", NewValue: "false"})
		case u.UpdatedAt.After(u.CreatedAt) && g.r.IntN(4) == 0:
			if u.Title != nil && g.r.IntN(3) != 0 {
				add(u, domain.EventUpdated, u.UpdatedAt, domain.URLUpdatedDetails{Field: "title", NewValue: *u.Title})
			} else {
				add(u, domain.EventUpdated, u.UpdatedAt, domain.URLUpdatedDetails{Field: "original_url", NewValue: u.OriginalURL})
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
		d := domain.ClickDetails{ShortCode: u.ShortCode, UserAgent: pick(g, userAgents)}
		if g.r.IntN(10) < 7 {
			d.Referrer = pick(g, referrers)
		}
		add(u, domain.EventClick, g.between(u.CreatedAt, until), d)
	}
	slices.SortStableFunc(events, func(a, b domain.Event) int { return a.Timestamp.Compare(b.Timestamp) })
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
