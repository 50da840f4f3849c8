// Command blackbox is the black-box fuzz pass of `make test` (see .ci/blackbox.sh): it
// sends thousands of malformed requests over every route to a running server and fails on
// any 5xx, any error answer that is not a JSON object with an "error" string, a request
// left unanswered (a hang or a dropped connection), or a server that no longer serves
// valid requests afterwards.
//
// The malformed inputs are not the project's own: zzuf mutates a corpus of valid requests
// (JSON bodies, bulk CSV files and their multipart envelope, paths with ids and short
// codes, query strings with filters and pages), and hand-written inputs that once broke
// the server are sent beside them. The routes come from the functions' Routes(), so a
// route added later is fuzzed too (with a generic corpus until it gets its own).
//
//	blackbox -base http://127.0.0.1:8080 -n 5000 -seed 1
//	blackbox -base http://127.0.0.1:8080 -replay .dev/blackbox/failure-0001.http
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/urlshort/shortener/functions/events"
	"github.com/urlshort/shortener/functions/health"
	"github.com/urlshort/shortener/functions/redirect"
	"github.com/urlshort/shortener/functions/urls"
	"github.com/urlshort/shortener/functions/users"
	"github.com/urlshort/shortener/shared/devenv"
	"github.com/urlshort/shortener/shared/routing"
	"github.com/urlshort/shortener/shared/web"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:8080", "the server's base URL")
	n := flag.Int("n", 5000, "how many requests to send in all")
	seed := flag.Int("seed", 1, "seed of zzuf's mutations and of the order of requests")
	timeout := flag.Duration("timeout", 10*time.Second, "longest a request may go unanswered")
	workers := flag.Int("c", 6, "requests in flight at once")
	out := flag.String("out", filepath.Join(devenv.Dir(), "blackbox"), "folder for the failing requests and the summary")
	wait := flag.Duration("wait", 60*time.Second, "how long to wait for the server to answer /health")
	replay := flag.Bool("replay", false, "send the request files named as arguments and print the answers")
	verbose := flag.Bool("v", false, "also print the answer to every hand-written request")
	flag.Parse()
	u, err := url.Parse(*base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fatal(fmt.Errorf("-base must be an http://host:port URL, not %q", *base))
	}
	c := client{host: u.Host, timeout: *timeout}
	if *replay {
		os.Exit(replayFiles(c, flag.Args()))
	}
	p := pass{c: c, n: *n, seed: *seed, workers: *workers, out: *out, log: os.Stdout, verbose: *verbose}
	if err := p.waitHealthy(*wait); err != nil {
		fatal(err)
	}
	failed, err := p.run(context.Background())
	if err != nil {
		fatal(err)
	}
	if failed {
		os.Exit(1)
	}
}

// fatal stops a pass that could not run at all (exit 2, apart from failures found).
func fatal(err error) {
	fmt.Fprintln(os.Stderr, "blackbox:", err)
	os.Exit(2)
}

// pass is one fuzz pass against one server.
type pass struct {
	c       client
	n, seed int
	workers int
	out     string
	log     io.Writer
	verbose bool
}

// served lists the patterns the all-in-one server mounts, read from the functions'
// Routes() so that the driver follows the code. Only patterns are used: the handlers are
// built with empty dependencies and never called.
func served() (patterns []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("listing the routes: %v", r)
		}
	}()
	groups := [][]web.Route{
		health.Routes(health.Deps{Metrics: http.NotFoundHandler()}),
		users.Routes(users.Deps{}), urls.Routes(urls.Deps{}),
		redirect.Routes(redirect.Deps{}), events.Routes(events.Deps{}),
	}
	for _, g := range groups {
		for _, r := range g {
			patterns = append(patterns, r.Pattern)
		}
	}
	return patterns, nil
}

// router returns what names the route a request reaches: the pattern the server's mux
// picks for it, since a mutated path often lands on another route than the one its valid
// request was aimed at (most often the short-code fallback). A request no pattern takes
// (a 404 or 405 of the mux) is "(no route)".
func router(patterns []string) func(request) string {
	mux := http.NewServeMux()
	for _, p := range patterns {
		mux.HandleFunc(p, func(http.ResponseWriter, *http.Request) {})
	}
	return func(r request) string {
		u, err := url.ParseRequestURI(r.target)
		if err != nil {
			return r.route
		}
		_, pattern := mux.Handler(&http.Request{Method: r.method, URL: u, Host: "x"})
		if pattern == "" {
			return "(no route)"
		}
		return pattern
	}
}

// outcome is one request and its answer.
type outcome struct {
	req     request
	res     response
	verdict string
}

// run generates the requests, sends them, checks the server afterwards and prints the
// summary; it reports whether anything failed.
func (p pass) run(ctx context.Context) (bool, error) {
	start := time.Now()
	zzuf, err := zzufPath()
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(p.out, 0o755); err != nil {
		return false, err
	}
	old, _ := filepath.Glob(filepath.Join(p.out, "failure-*.http"))
	for _, f := range append(old, filepath.Join(p.out, "failures.txt")) {
		_ = os.Remove(f)
	}
	fx, err := setup(p.c, int(time.Now().Unix()%1_000_000))
	if err != nil {
		return false, fmt.Errorf("the server refused the fixtures before any fuzzing: %w", err)
	}
	patterns, err := served()
	if err != nil {
		return false, err
	}
	templates := fx.corpus()
	covered := map[string]bool{}
	for _, t := range templates {
		covered[t.route] = true
	}
	var generic []string
	for _, pat := range patterns {
		if !covered[pat] {
			templates = append(templates, fx.generic(pat))
			generic = append(generic, pat)
		}
	}
	nasty := fx.nasty()
	reqs, err := p.generate(ctx, zzuf, templates, p.n-len(nasty))
	if err != nil {
		return false, err
	}
	generated := len(reqs)
	reqs = append(reqs, nasty...)
	reached := router(patterns)
	for i := range reqs {
		reqs[i].route = reached(reqs[i])
	}
	rng := rand.New(rand.NewPCG(uint64(p.seed), 0))
	rng.Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
	gen := time.Since(start)

	results, during := p.send(reqs, fx)
	after := p.after(fx)
	return p.report(summary{
		results: results, during: during, after: after, generated: generated, nasty: len(nasty),
		templates: len(templates), generic: generic, uncovered: uncoveredRules(templates),
		gen: gen, took: time.Since(start),
	}), nil
}

// generate asks zzuf for count mutated requests spread over the templates, a few zzuf
// processes at a time.
func (p pass) generate(ctx context.Context, zzuf string, ts []template, count int) ([]request, error) {
	if count < len(ts) {
		count = len(ts)
	}
	per := make([]int, len(ts))
	for i := range count {
		per[i%len(ts)]++
	}
	out := make([][]request, len(ts))
	errs := make([]error, len(ts))
	sem := make(chan struct{}, 3)
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// Seeds are disjoint per template and per -seed, so every run is reproducible.
			muts, err := mutate(ctx, zzuf, os.TempDir(), t, p.seed*1_000_000+i*10_000, per[i])
			if err != nil {
				errs[i] = fmt.Errorf("%s (%s): %w", t.route, t.kind, err)
				return
			}
			for _, m := range muts {
				out[i] = append(out[i], t.build(m))
			}
		}()
	}
	wg.Wait()
	var all []request
	for i := range ts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		all = append(all, out[i]...)
	}
	return all, nil
}

// send sends every request with a few workers, while a canary keeps checking that valid
// requests still work; it returns the outcomes and the canary's failures.
func (p pass) send(reqs []request, fx fixtures) ([]outcome, []string) {
	results := make([]outcome, len(reqs))
	var next, done atomic.Int64
	var wg sync.WaitGroup
	for range max(p.workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				res := p.c.send(reqs[i])
				results[i] = outcome{req: reqs[i], res: res, verdict: judge(reqs[i], res)}
				done.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	var during []string
	var cwg sync.WaitGroup
	cwg.Add(1)
	go func() {
		defer cwg.Done()
		seen := map[string]bool{}
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for k := 0; ; k++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, r := range []request{
				{method: http.MethodGet, target: "/health"},
				{method: http.MethodPost, target: "/users", ctype: "application/json",
					body: fmt.Appendf(nil, `{"username":"canary","email":"canary-%d-%d@example.com"}`, fx.seq, k)},
			} {
				res := p.c.send(r)
				want := http.StatusOK
				if r.method == http.MethodPost {
					want = http.StatusCreated
				}
				if res.err != nil || res.status != want {
					what := fmt.Sprintf("%s %s (valid) answered %d %v", r.method, r.target, res.status, errText(res.err))
					if !seen[what] {
						seen[what] = true
						during = append(during, fmt.Sprintf("%s: first after %d of %d requests: %s", what, done.Load(), len(reqs), truncate(string(res.body), 200)))
					}
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	cwg.Wait()
	return results, during
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

// after checks, once the pass is over, that the server still does its job: it is alive,
// creates a user and a URL, redirects, and the audit log shows the URL's creation.
func (p pass) after(fx fixtures) []string {
	var failed []string
	check := func(what string, ok bool, res response) bool {
		if !ok {
			failed = append(failed, fmt.Sprintf("%s: status %d %s %s", what, res.status, errText(res.err), truncate(string(res.body), 200)))
		}
		return ok
	}
	res := p.c.send(request{method: http.MethodGet, target: "/health"})
	check("GET /health", res.err == nil && res.status == http.StatusOK, res)
	res = p.c.send(request{method: http.MethodPost, target: "/users", ctype: "application/json",
		body: fmt.Appendf(nil, `{"username":"after","email":"after-%d@example.com"}`, fx.seq)})
	var user struct{ ID int64 }
	if !check("POST /users", res.err == nil && res.status == http.StatusCreated && json.Unmarshal(res.body, &user) == nil && user.ID > 0, res) {
		user.ID = fx.uid // the URL checks can still run with the fixture's user
	}
	const target = "https://example.com/after-the-pass"
	res = p.c.send(request{method: http.MethodPost, target: "/urls", ctype: "application/json",
		body: fmt.Appendf(nil, `{"user_id":%d,"original_url":%q}`, user.ID, target)})
	var link struct {
		ID        int64
		ShortCode string `json:"short_code"`
	}
	if !check("POST /urls", res.err == nil && res.status == http.StatusCreated && json.Unmarshal(res.body, &link) == nil && link.ShortCode != "", res) {
		return failed
	}
	res = p.c.send(request{method: http.MethodGet, target: "/" + link.ShortCode})
	check("GET /{short_code}", res.err == nil && res.status == http.StatusFound && res.header.Get("Location") == target, res)
	deadline := time.Now().Add(5 * time.Second)
	for {
		res = p.c.send(request{method: http.MethodGet, target: fmt.Sprintf("/events?url_id=%d", link.ID)})
		var evs []struct {
			EventType string `json:"event_type"`
		}
		found := false
		if res.err == nil && res.status == http.StatusOK && json.Unmarshal(res.body, &evs) == nil {
			for _, e := range evs {
				found = found || e.EventType == "created"
			}
		}
		if found || time.Now().After(deadline) {
			check("GET /events?url_id= (the created event)", found, res)
			return failed
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// uncoveredRules lists the routing table's rules no template's valid request matches.
func uncoveredRules(ts []template) []string {
	var missing []string
	for _, r := range routing.Table {
		hit := false
		for _, t := range ts {
			path := string(t.valid)
			if !strings.HasPrefix(path, "/") {
				path = t.build(t.valid).target
			}
			path, _, _ = strings.Cut(path, "?")
			hit = hit || r.Matches(path)
		}
		if !hit {
			missing = append(missing, r.Path)
		}
	}
	return missing
}

// summary is what a pass found.
type summary struct {
	results          []outcome
	during, after    []string
	generated, nasty int
	templates        int
	generic          []string
	uncovered        []string
	gen, took        time.Duration
}

// class is a kind of failure: the route, the kind of input and what went wrong.
type class struct{ route, kind, verdict string }

// report prints the summary and writes the failing requests; it reports whether the pass
// failed.
func (p pass) report(s summary) bool {
	w := p.log
	perRoute, perKind := map[string]map[string]int{}, map[string]map[string]int{}
	statuses := map[string]int{}
	failures := map[class][]int{}
	var unsent, parser int
	for i, o := range s.results {
		st := o.verdict
		if o.res.err == nil {
			st = fmt.Sprint(o.res.status)
		}
		if perRoute[o.req.route] == nil {
			perRoute[o.req.route] = map[string]int{}
		}
		perRoute[o.req.route][st]++
		kind := o.req.kind
		if strings.HasPrefix(kind, "nasty: ") {
			kind = "hand-written"
		}
		if perKind[kind] == nil {
			perKind[kind] = map[string]int{}
		}
		perKind[kind][st]++
		statuses[st]++
		switch o.verdict {
		case verdictOK:
		case verdictUnsent:
			unsent++
		case verdictParser:
			parser++
		default:
			k := class{o.req.route, o.req.kind, o.verdict}
			failures[k] = append(failures[k], i)
		}
	}
	fmt.Fprintf(w, "blackbox: %d requests (%d mutated by zzuf from %d valid requests, %d hand-written) in %s (generating: %s), seed %d\n",
		len(s.results), s.generated, s.templates, s.nasty, s.took.Round(100*time.Millisecond), s.gen.Round(100*time.Millisecond), p.seed)
	fmt.Fprintln(w, "requests per route (status: count):")
	for _, r := range sortedKeys(perRoute) {
		total := 0
		for _, c := range perRoute[r] {
			total += c
		}
		fmt.Fprintf(w, "  %-34s %5d  %s\n", r, total, histogram(perRoute[r]))
	}
	fmt.Fprintln(w, "requests per input kind (status: count):")
	for _, k := range sortedKeys(perKind) {
		fmt.Fprintf(w, "  %-34s %s\n", k, histogram(perKind[k]))
	}
	fmt.Fprintf(w, "status histogram: %s\n", histogram(statuses))
	if p.verbose {
		fmt.Fprintln(w, "hand-written requests:")
		for _, o := range s.results {
			if strings.HasPrefix(o.req.kind, "nasty: ") {
				fmt.Fprintf(w, "  %-34s %-50s -> %s\n", o.req.route, strings.TrimPrefix(o.req.kind, "nasty: "), answer(o.res))
			}
		}
	}
	fmt.Fprintf(w, "could not be sent: %d; refused by net/http's request parser before any handler: %d\n", unsent, parser)
	for _, g := range s.generic {
		fmt.Fprintf(w, "note: route %s has no corpus of its own; it got generic path mutations (add it to corpus.go)\n", g)
	}
	for _, r := range s.uncovered {
		fmt.Fprintf(w, "note: routing rule %s got no valid request to mutate\n", r)
	}

	failed := len(failures) > 0 || len(s.during) > 0 || len(s.after) > 0 || unsent > 0
	if unsent > 0 {
		fmt.Fprintf(w, "FAIL: %d requests could not be sent (server unreachable)\n", unsent)
	}
	for _, d := range s.during {
		fmt.Fprintf(w, "FAIL during the pass: %s\n", d)
	}
	for _, a := range s.after {
		fmt.Fprintf(w, "FAIL after the pass: %s\n", a)
	}
	if len(s.after) == 0 {
		fmt.Fprintln(w, "after the pass: GET /health, POST /users, POST /urls, GET /{short_code}, GET /events all work")
	}
	keys := make([]class, 0, len(failures))
	for k := range failures {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.verdict != b.verdict {
			return a.verdict < b.verdict
		}
		if a.route != b.route {
			return a.route < b.route
		}
		return a.kind < b.kind
	})
	if len(keys) > 0 {
		n := 0
		for _, k := range keys {
			n += len(failures[k])
		}
		fmt.Fprintf(w, "FAIL: %d failing requests in %d classes (route | input | what went wrong); the requests are under %s:\n", n, len(keys), p.out)
	}
	// Every failure goes to failures.txt; the first 20 of a class, enough to replay it,
	// also as raw request files.
	var all strings.Builder
	saved := 0
	for _, k := range keys {
		idx := failures[k]
		fmt.Fprintf(w, "  [%s] %s | %s | %d requests\n", k.verdict, k.route, k.kind, len(idx))
		fmt.Fprintf(&all, "[%s] %s | %s | %d requests\n", k.verdict, k.route, k.kind, len(idx))
		for j, i := range idx {
			o := s.results[i]
			file := "(not saved)"
			if j < 20 {
				saved++
				file = saveFailure(p.out, saved, o.req, p.c.host)
			}
			line := fmt.Sprintf("%s %s %s\n        -> %s  (%s)\n", o.req.method, truncate(o.req.target, 120), quote(o.req.body), answer(o.res), file)
			all.WriteString("      " + line)
			if j < 3 {
				fmt.Fprint(w, "      "+line)
			}
		}
	}
	if len(keys) > 0 {
		list := filepath.Join(p.out, "failures.txt")
		if err := os.WriteFile(list, []byte(all.String()), 0o644); err == nil {
			fmt.Fprintf(w, "every failing request: %s\n", list)
		}
	}
	if failed {
		fmt.Fprintln(w, "blackbox: FAIL (replay one with: go run ./functions/cmd/blackbox -base URL -replay FILE)")
	} else {
		fmt.Fprintln(w, "blackbox: PASS")
	}
	return failed
}

func answer(res response) string {
	if res.err != nil {
		return res.err.Error()
	}
	return fmt.Sprintf("%d %s", res.status, truncate(string(res.body), 160))
}

func quote(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return truncate(fmt.Sprintf("%q", b), 200)
}

func histogram(m map[string]int) string {
	var parts []string
	for _, k := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// waitHealthy waits for GET /health to answer 200.
func (p pass) waitHealthy(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		res := p.c.send(request{method: http.MethodGet, target: "/health"})
		if res.err == nil && res.status == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server at %s did not answer GET /health within %s: %d %v", p.c.host, within, res.status, res.err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// replayFiles sends saved requests as they are and prints what came back.
func replayFiles(c client, files []string) int {
	status := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "blackbox:", err)
			status = 2
			continue
		}
		method, _, _ := strings.Cut(string(raw[:min(len(raw), 16)]), " ")
		res := c.sendRaw(raw, method)
		fmt.Printf("%s: %s\n", f, answer(res))
	}
	return status
}
