// Package function is the func-go instanced function of the URL shortener. One image
// serves every route group: the group named by FUNCTION (or Knative's K_SERVICE), or all
// of them when neither is set, which is how the API runs locally.
package function

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/urlshort/shortener/functions/events"
	eventswriter "github.com/urlshort/shortener/functions/events-writer"
	"github.com/urlshort/shortener/functions/health"
	"github.com/urlshort/shortener/functions/redirect"
	"github.com/urlshort/shortener/functions/urls"
	"github.com/urlshort/shortener/functions/users"
	"github.com/urlshort/shortener/shared/access"
	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/config"
	"github.com/urlshort/shortener/shared/domain"
	sharedevents "github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/logging"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/routing"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/web"
)

// Function is the instance func-go runs. func-go serves requests while Start is still
// running, so Handle answers 503 until the dependencies are ready.
type Function struct {
	handler atomic.Pointer[http.Handler]

	mu       sync.Mutex
	store    *store.Store
	cache    *cache.Cache
	pub      *sharedevents.Publisher
	clicks   *sharedevents.Clicks
	logs     *logging.Writer
	stopBg   context.CancelFunc
	bg       sync.WaitGroup
	function string

	logOut io.Writer // where the log goes; os.Stdout unless a test captures it
}

// New returns an instance that is not started yet.
func New() *Function { return &Function{} }

// Handle serves a request with the mounted route group.
func (f *Function) Handle(w http.ResponseWriter, r *http.Request) {
	if h := f.handler.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	w.Header().Set("Retry-After", "1")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	web.JSON(w, http.StatusServiceUnavailable, map[string]string{"error": "starting"})
}

// Start reads the configuration from args (func-go passes the process environment and
// func.yaml's values; a variable args lacks is read from the environment), logs it once
// with its secrets masked, connects PostgreSQL (retrying until it answers), applies the
// migrations, connects Valkey lazily and mounts the route group.
func (f *Function) Start(ctx context.Context, args map[string]string) error {
	cfg, err := config.LoadFrom(args)
	if err != nil {
		return err
	}
	out := f.logOut
	if out == nil {
		out = os.Stdout
	}
	logs := logging.Setup(out, cfg.LogLevel)
	slog.Info("configuration", "config", cfg)
	gogc, memLimit := config.TuneRuntime(memlimit.FromCgroup)
	name := cfg.Function
	if name != "" && !known(name) {
		return fmt.Errorf("unknown function %q (want one of %s)", name, strings.Join(routing.All, ", "))
	}
	label := name
	if label == "" {
		label = "all"
	}
	m := metrics.NewFor(reports(name))

	audits := sharedevents.NewAuditor(label)
	st, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, ROURL: cfg.DatabaseROURL, MaxConns: cfg.DBMaxConns}, audits)
	if err != nil {
		return err
	}
	if err := migrate(ctx, st); err != nil {
		st.Close()
		return err
	}
	c, err := cache.New(cache.Options{
		URL: cfg.ValkeyURL, SentinelAddrs: cfg.ValkeySentinelAddrs, SentinelMaster: cfg.ValkeySentinelMaster,
		Password: cfg.ValkeyPassword, KeyPrefix: cfg.ValkeyKeyPrefix, TTL: cfg.CacheTTL,
	})
	if err != nil {
		st.Close()
		return err
	}
	st.OnCount(c.URLsCounted) // items and lists show visits
	c.SetObserver(m.CacheResult)
	c.SetLocalHitObserver(m.ClientSideHits.Inc)
	c.SetInvalidationObserver(m.CacheInvalidations())
	m.RegisterDB(func() metrics.PoolStats { return st.Stat() }, st.OutboxStats)

	var local sharedevents.Mover
	if name == "" && cfg.Sink == "" {
		// All in one process: the log is in the same database, so delivery is a move.
		local = st
	}
	var pub *sharedevents.Publisher
	if mutates(name) {
		if pub, err = sharedevents.NewPublisher(cfg.Sink, local, st, m); err != nil {
			st.Close()
			return err
		}
		if pub == nil {
			slog.Warn("no K_SINK: audit events stay in the outbox until the events-writer drains it")
		}
	}
	var clicks *sharedevents.Clicks
	if name == "" || name == routing.Redirect {
		clicks = sharedevents.NewClicks(st, audits, pub, m, cfg.ClickBatchSize, cfg.ClickFlushInterval)
	}

	rt := web.NewRouter(m, label)
	if cfg.AuthMode == "keys" && cfg.AdminAPIKey != "" && len(cfg.AdminAPIKey) < minAdminKey {
		st.Close()
		return fmt.Errorf("ADMIN_API_KEY is %d characters: want at least %d random ones", len(cfg.AdminAPIKey), minAdminKey)
	}
	edge, err := newEdge(cfg, st, c)
	if err != nil {
		st.Close()
		return err
	}
	if edge.guard != nil {
		rt.SetGuard(edge.guard)
	}
	if edge.cors != nil {
		rt.Wrap(edge.cors.Wrap)
	}
	rt.Handle(health.Routes(health.Deps{DB: st, Cache: c, Metrics: m.Handler(), Observe: m.SetUp})...)
	groups := map[string][]web.Route{
		routing.Users:        users.Routes(users.Deps{Store: st, Keys: st, Cache: c, Publisher: pub, BodyLimit: cfg.BodyLimit, BulkLimit: cfg.BulkLimit, BulkTimeout: cfg.BulkTimeout}),
		routing.URLs:         urls.Routes(urls.Deps{Store: st, Cache: c, Publisher: pub, BodyLimit: cfg.BodyLimit, BlockPrivateTargets: cfg.BlockPrivateTargets, PublicBaseURL: cfg.PublicBaseURL}),
		routing.Redirect:     redirect.Routes(redirect.Deps{Store: st, Cache: c, Clicks: clickRecorder(clicks), Metrics: m}),
		routing.Events:       events.Routes(events.Deps{Store: st, BodyLimit: cfg.BodyLimit}),
		routing.EventsWriter: eventswriter.Routes(eventswriter.Deps{Store: st, Metrics: m}),
	}
	for _, g := range Mounted(name) {
		rt.Handle(groups[g]...)
	}

	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f.mu.Lock()
	f.store, f.cache, f.pub, f.clicks, f.stopBg, f.function, f.logs = st, c, pub, clicks, cancel, label, logs
	if relay := sharedevents.NewRelay(st, pub, cfg.OutboxRelayInterval); relay != nil {
		f.bg.Add(1)
		go func() { defer f.bg.Done(); relay.Run(bgCtx) }()
	}
	f.mu.Unlock()

	var h http.Handler = rt
	f.handler.Store(&h)
	slog.Info("function started", "function", label, "cache", c != nil, "sink", cfg.Sink != "" || local != nil,
		"gogc", gogc, "memory_limit", memLimit)
	return nil
}

// edge is what stands in front of every route: the guard (keys, scopes, limits) and CORS.
type edge struct {
	guard *access.Guard
	cors  *access.CORS
}

// newEdge builds the edge the configuration asks for; nil parts are off.
func newEdge(cfg config.Config, st *store.Store, c *cache.Cache) (edge, error) {
	var e edge
	writes, err := access.ParseRate(cfg.RateLimitWrites)
	if err != nil {
		return e, fmt.Errorf("RATE_LIMIT_WRITES: %w", err)
	}
	redirects, err := access.ParseRate(cfg.RateLimitRedirects)
	if err != nil {
		return e, fmt.Errorf("RATE_LIMIT_REDIRECTS: %w", err)
	}
	trusted, err := access.ParseTrusted(cfg.TrustedProxies)
	if err != nil {
		return e, fmt.Errorf("TRUSTED_PROXIES: %w", err)
	}
	o := access.Options{
		Keys: cfg.AuthMode == "keys", AdminKey: cfg.AdminAPIKey, Store: st, Cache: c,
		ClientKey: func(r *http.Request) string { return access.AddrKey(access.ClientAddr(r, trusted)) },
	}
	if !writes.IsZero() || !redirects.IsZero() {
		wl, rl := access.NewLimiter(c, "writes", writes), access.NewLimiter(c, "redirects", redirects)
		o.Limits = func(w http.ResponseWriter, r *http.Request, key string, redirect bool) bool {
			if redirect {
				return rl.Admit(w, r, key)
			}
			return wl.Admit(w, r, key)
		}
	}
	e.guard = access.NewGuard(o)
	e.cors = access.NewCORS(cfg.CORSAllowedOrigins)
	return e, nil
}

// minAdminKey is the shortest ADMIN_API_KEY accepted: 16 characters of a random string
// are about 96 bits; install.sh makes 43 (256 bits).
const minAdminKey = 16

// Mounted lists the route groups a function serves besides health: its own, or every
// public one when name is empty. The events-writer is never public.
func Mounted(name string) []string {
	switch name {
	case "":
		return []string{routing.Users, routing.URLs, routing.Redirect, routing.Events}
	case routing.Health:
		return nil
	}
	return []string{name}
}

func known(name string) bool {
	for _, n := range routing.All {
		if n == name {
			return true
		}
	}
	return false
}

// mutates reports whether a function writes audit events and so needs a publisher.
func mutates(name string) bool {
	return name == "" || name == routing.Users || name == routing.URLs || name == routing.Redirect
}

// reports names the metric families a function reports besides the common ones: those of
// the work its routes and background loops do. The outbox is counted (a query on every
// scrape) by the events-writer alone, which drains it, not by every function that shares
// the database; and by the all-in-one server, which has no writer and delivers the
// outbox itself.
func reports(name string) metrics.Part {
	switch name {
	case "":
		return metrics.All &^ metrics.Writer
	case routing.Users, routing.URLs:
		return metrics.CacheReads | metrics.CacheWrites | metrics.Events
	case routing.Redirect:
		return metrics.Redirects | metrics.CacheWrites | metrics.Events | metrics.Clicks
	case routing.EventsWriter:
		return metrics.Writer | metrics.Outbox
	}
	return metrics.Common // health, events: their reads are in the HTTP metrics
}

// clickRecorder keeps a nil *Clicks from becoming a non-nil interface.
func clickRecorder(c *sharedevents.Clicks) redirect.ClickRecorder {
	if c == nil {
		return discardClicks{}
	}
	return c
}

type discardClicks struct{}

func (discardClicks) Record(domain.Click) {}

func (discardClicks) Take(context.Context, domain.Click) (bool, error) {
	return false, errors.New("this function records no clicks")
}

// migrate applies the schema, retrying while PostgreSQL is not up yet (a pod may start
// before the database) until ctx ends.
func migrate(ctx context.Context, st *store.Store) error {
	wait := 200 * time.Millisecond
	for {
		err := st.Migrate(ctx)
		if err == nil {
			return nil
		}
		if domain.KindOf(err) != domain.Unavailable || ctx.Err() != nil {
			return err
		}
		slog.Warn("database not ready, retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// Stop flushes queued clicks and in-flight events, then closes the connections. func-go
// calls it after the HTTP server stopped taking requests (SIGTERM on scale-down).
func (f *Function) Stop(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopBg == nil {
		return nil
	}
	if f.clicks != nil {
		f.clicks.Close(ctx)
	}
	f.pub.Wait(ctx)
	f.stopBg()
	f.bg.Wait()
	f.cache.Close()
	f.store.Close()
	f.stopBg = nil
	slog.Info("function stopped", "function", f.function)
	return f.logs.Close()
}

// Ready reports whether the function is started and, for the groups that cannot answer
// anything without it, whether PostgreSQL answers. Knative takes an unready pod out of
// the Service, so the redirect group stays ready while PostgreSQL is down (its cache hits
// still answer), and so does health (its /ready is what reports the outage).
func (f *Function) Ready(ctx context.Context) (bool, error) {
	f.mu.Lock()
	st, name := f.store, f.function
	f.mu.Unlock()
	if f.handler.Load() == nil || st == nil {
		return false, nil
	}
	if name == routing.Redirect || name == routing.Health {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return st.Ping(ctx) == nil, nil
}

// Alive reports that the process serves; it calls no dependency.
func (f *Function) Alive(context.Context) (bool, error) { return true, nil }
