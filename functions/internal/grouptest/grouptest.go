// Package grouptest mounts one route group, as the function serves it, on a fresh
// PostgreSQL database and Valkey key prefix, with the real store, cache, metrics and a
// publisher that delivers in-process, so a group's tests drive it over HTTP and read back
// the audit events each request wrote. It is the one place that builds each group's Deps:
// a change of a Deps type is an edit here, not in every test.
//
// Every exchange through Do, Send and Fixture is checked against the OpenAPI document
// (shared/openapi) with kin-openapi's request and response validation: an answer the
// document does not allow, or a success for a request the document calls invalid, fails
// the test. So the document stays true by the tests that already run.
package grouptest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/urlshort/shortener/functions/events"
	"github.com/urlshort/shortener/functions/health"
	"github.com/urlshort/shortener/functions/redirect"
	"github.com/urlshort/shortener/functions/urls"
	"github.com/urlshort/shortener/functions/users"
	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/cache/cachetest"
	"github.com/urlshort/shortener/shared/domain"
	sharedevents "github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/openapi/openapitest"
	"github.com/urlshort/shortener/shared/routing"
	"github.com/urlshort/shortener/shared/store/storetest"
	"github.com/urlshort/shortener/shared/web"
)

// Options changes how a group is mounted; the zero value is the default configuration
// with PostgreSQL and Valkey both up.
type Options struct {
	// NoCache runs without Valkey, as a function whose VALKEY_URL is unset.
	NoCache bool
	// CacheURL points the cache at this server instead of the test one; an address
	// nothing listens on is Valkey down.
	CacheURL string
	// BlockPrivateTargets is BLOCK_PRIVATE_TARGETS of the urls group.
	BlockPrivateTargets bool
}

// The function's limits, as its configuration's defaults set them.
const (
	bodyLimit   = 1 << 20
	bulkLimit   = 10 << 20
	bulkTimeout = time.Minute
)

// Clicks are flushed in small, quick batches so a test waits milliseconds for them.
const (
	clickBatch    = 64
	clickInterval = 5 * time.Millisecond
)

// settleTimeout bounds how long Settle waits for background deliveries.
const settleTimeout = 10 * time.Second

// quietLogs turns the default logger down once per test binary.
var quietLogs sync.Once

// Env is one mounted route group and the dependencies behind it.
type Env struct {
	srv *httptest.Server // the group under test, alone on its router
	aux *httptest.Server // users, urls and events on the same dependencies, for fixtures

	pub    *sharedevents.Publisher
	m      *metrics.Metrics
	outbox metrics.OutboxStats
	close  func() // closes the store

	// checks holds, by host, the OpenAPI check of each server's exchanges.
	checks map[string]*openapitest.Validator
}

// Mount serves the named route group (one of the routing names but the events-writer)
// on a fresh database and key prefix. Its audit events are delivered into the log
// in-process, as the all-in-one server without a sink does (NewPublisher("", st, st, m)),
// and its clicks go through the real click batcher, so tests can assert both.
func Mount(t testing.TB, group string, o Options) *Env {
	t.Helper()
	quietLogs.Do(func() {
		// A line per request would bury a failure's messages; warnings and internal
		// errors still show. Set before the first router, which keeps the default logger.
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	})
	st := storetest.New(t, group)
	m := metrics.New()
	m.RegisterDB(func() metrics.PoolStats { return st.Stat() }, st.OutboxStats)
	var c *cache.Cache
	switch {
	case o.NoCache:
	case o.CacheURL != "":
		var err error
		if c, err = cache.New(cache.Options{URL: o.CacheURL, KeyPrefix: cachetest.Prefix(), TTL: 30 * time.Second}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
	default:
		c = cachetest.New(t)
	}
	st.OnCount(c.URLsCounted) // as the function does: items and lists show visits
	c.SetObserver(m.CacheResult)
	c.SetLocalHitObserver(m.ClientSideHits.Inc)
	c.SetInvalidationObserver(m.CacheInvalidations())
	pub, err := sharedevents.NewPublisher("", st, st, m)
	if err != nil {
		t.Fatal(err)
	}
	clicks := sharedevents.NewClicks(st, sharedevents.NewAuditor(group), pub, m, clickBatch, clickInterval)
	t.Cleanup(func() {
		// Runs after the servers closed (cleanups run last first) and before the store
		// and cache close: what is queued is written while they still answer.
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		clicks.Close(ctx)
		pub.Wait(ctx)
	})

	// routes builds a group's routes as the function does: the one place each group's
	// Deps are written.
	routes := func(group string) []web.Route {
		switch group {
		case routing.Health:
			return health.Routes(health.Deps{DB: st, Cache: c, Metrics: m.Handler(), Observe: m.SetUp})
		case routing.Users:
			return users.Routes(users.Deps{Store: st, Keys: st, Cache: c, Publisher: pub, BodyLimit: bodyLimit, BulkLimit: bulkLimit, BulkTimeout: bulkTimeout})
		case routing.URLs:
			return urls.Routes(urls.Deps{Store: st, Cache: c, Publisher: pub, BodyLimit: bodyLimit, BlockPrivateTargets: o.BlockPrivateTargets})
		case routing.Redirect:
			return redirect.Routes(redirect.Deps{Store: st, Cache: c, Clicks: clicks, Metrics: m})
		case routing.Events:
			return events.Routes(events.Deps{Store: st, BodyLimit: bodyLimit})
		}
		t.Fatalf("grouptest: no route group %q", group)
		return nil
	}
	groupRoutes := routes(group)
	// The fixtures' router counts on metrics of its own, so that the group's /metrics
	// shows only the requests the test sent to the group.
	auxRoutes := slices.Concat(routes(routing.Users), routes(routing.URLs), routes(routing.Events))
	e := &Env{
		srv: serve(t, m, group, groupRoutes),
		aux: serve(t, metrics.New(), "fixtures", auxRoutes),
		pub: pub, m: m, outbox: st.OutboxStats, close: st.Close,
	}
	e.checkOpenAPI(t, e.srv, groupRoutes)
	e.checkOpenAPI(t, e.aux, auxRoutes)
	return e
}

func serve(t testing.TB, m *metrics.Metrics, name string, rs []web.Route) *httptest.Server {
	rt := web.NewRouter(m, name)
	rt.Handle(rs...)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv
}

// checkOpenAPI checks every exchange with srv, which serves routes, against the OpenAPI
// document.
func (e *Env) checkOpenAPI(t testing.TB, srv *httptest.Server, routes []web.Route) {
	t.Helper()
	doc, err := openapitest.Document()
	if err != nil {
		t.Fatal(err)
	}
	patterns := make([]string, len(routes))
	for i, r := range routes {
		patterns[i] = r.Pattern
	}
	if e.checks == nil {
		e.checks = map[string]*openapitest.Validator{}
	}
	e.checks[srv.Listener.Addr().String()] = openapitest.New(doc, patterns)
}

// maxCheckedBody bounds the request body kept for the OpenAPI check; a larger one is
// sent whole but not validated (its answer still is).
const maxCheckedBody = 16 << 20

// bodyCopy keeps what a request body sent, up to maxCheckedBody bytes.
type bodyCopy struct {
	io.ReadCloser
	mu       sync.Mutex
	buf      bytes.Buffer
	overflow bool
}

func (b *bodyCopy) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.mu.Lock()
	if b.buf.Len()+n > maxCheckedBody {
		b.overflow = true
	} else {
		b.buf.Write(p[:n])
	}
	b.mu.Unlock()
	return n, err
}

// sent returns the bytes read so far, or nil and false past maxCheckedBody.
func (b *bodyCopy) sent() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()), !b.overflow
}

// Reply is an HTTP answer, its body read.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v, failing the test when it does not fit.
func (r Reply) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("body %q does not decode into %T: %v", r.Body, v, err)
	}
}

// Object is the body as a JSON object.
func (r Reply) Object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.Decode(t, &m)
	return m
}

// String shows the status and body, for failure messages.
func (r Reply) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// URL is the base URL of the group under test, for requests built by hand (Send).
func (e *Env) URL() string { return e.srv.URL }

// Do sends a request to the group under test. A body that is []byte or string is sent
// as it is, anything else but nil as JSON; either way with Content-Type application/json.
func (e *Env) Do(t testing.TB, method, path string, body any) Reply {
	t.Helper()
	return e.Send(t, newRequest(t, method, e.srv.URL+path, body))
}

// Send sends req, which may go anywhere, without following redirects.
func (e *Env) Send(t testing.TB, req *http.Request) Reply {
	t.Helper()
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	check := e.checks[req.URL.Host]
	var body *bodyCopy
	if check != nil && req.Body != nil && req.Body != http.NoBody {
		body = &bodyCopy{ReadCloser: req.Body}
		req.Body = body
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %.80s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %.80s: read body: %v", req.Method, req.URL, err)
	}
	if check != nil {
		x := openapitest.Exchange{Request: req, Status: res.StatusCode, Header: res.Header, Body: b}
		if body != nil {
			var complete bool
			x.RequestBody, complete = body.sent()
			x.RequestBodyUnknown = !complete
		}
		if err := check.Check(x); err != nil {
			t.Errorf("OpenAPI: %s %.80s: %v\nanswer: %d %.300s", req.Method, req.URL.RequestURI(), err, res.StatusCode, b)
		}
	}
	return Reply{res.StatusCode, res.Header, b}
}

func newRequest(t testing.TB, method, url string, body any) *http.Request {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case []byte:
		b = v
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// Fixture sends a request to the users, urls and events routes on the same database and
// cache, which is how a test makes what the group under test reads: through the API,
// with the cache kept coherent and the audit events written as in production.
func (e *Env) Fixture(t testing.TB, method, path string, body any) Reply {
	t.Helper()
	return e.Send(t, newRequest(t, method, e.aux.URL+path, body))
}

// CreateUser makes a user with a unique email and returns its id.
func (e *Env) CreateUser(t testing.TB) int64 {
	t.Helper()
	r := e.Fixture(t, "POST", "/users", map[string]any{"username": "u", "email": fmt.Sprintf("u%d@example.com", time.Now().UnixNano())})
	if r.Status != http.StatusCreated {
		t.Fatalf("create user: %v", r)
	}
	var u domain.User
	r.Decode(t, &u)
	return u.ID
}

// CreateURL makes a URL of user's pointing at original.
func (e *Env) CreateURL(t testing.TB, user int64, original string) domain.URL {
	t.Helper()
	r := e.Fixture(t, "POST", "/urls", map[string]any{"user_id": user, "original_url": original})
	if r.Status != http.StatusCreated {
		t.Fatalf("create url: %v", r)
	}
	var u domain.URL
	r.Decode(t, &u)
	return u
}

// Settle waits until every audit event and click handed off so far is in the log: the
// publisher's background deliveries have finished and no click is left in memory.
func (e *Env) Settle(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	e.pub.Wait(ctx)
	for gauge(t, e.m.ClicksBuffered) != 0 {
		if ctx.Err() != nil {
			t.Fatalf("clicks still buffered after %v", settleTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	// A click batch hands its events to the publisher after the gauge went down.
	e.pub.Wait(ctx)
}

func gauge(t testing.TB, g interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// Audits settles, then lists the log's events matching query (GET /events?query), and
// checks that nothing is left in the outbox: every event was delivered, none is waiting.
func (e *Env) Audits(t testing.TB, query string) []domain.Event {
	t.Helper()
	e.Settle(t)
	r := e.Fixture(t, "GET", "/events?"+query, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("list events: %v", r)
	}
	var evs []domain.Event
	r.Decode(t, &evs)
	pending, _, err := e.outbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if pending != 0 {
		t.Errorf("%d audit events left in the outbox, not delivered", pending)
	}
	return evs
}

// WantNotFound checks, in a subtest per name, that GET of each path answers 404 with a
// JSON error.
func (e *Env) WantNotFound(t *testing.T, paths map[string]string) {
	t.Helper()
	for name, p := range paths {
		t.Run(name, func(t *testing.T) {
			if r := e.Do(t, "GET", p, nil); r.Status != 404 || r.Object(t)["error"] == nil {
				t.Errorf("GET %s: %v", p, r)
			}
		})
	}
}

// CloseStore closes the store's connections, which is PostgreSQL gone for the group.
func (e *Env) CloseStore() { e.close() }
