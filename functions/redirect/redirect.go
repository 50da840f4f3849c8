// Package redirect serves the hot path: a short code to a 302. A cache hit is answered
// from this process's memory (valkey-go's client-side cache), and the click is queued,
// not written, before the function returns.
package redirect

import (
	"context"
	"net/http"
	"time"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/metrics"
	"github.com/urlshort/shortener/shared/web"
)

// Store finds what a short code points to.
type Store interface {
	FindRedirect(ctx context.Context, code string) (domain.Redirect, error)
	// VisitsLeft says whether a limited link has a visit left (for a HEAD).
	VisitsLeft(ctx context.Context, urlID int64) (bool, error)
}

// ClickRecorder takes the clicks. Record, for a link without max_visits, comes after the
// redirect was answered and must return at once whatever happens to PostgreSQL: it queues
// the click or, when it cannot keep it, drops it and counts it lost; it never waits for
// room or for I/O. Take, for a limited link, comes before: it takes one visit and stores
// the click with it, and false means none is left.
type ClickRecorder interface {
	Record(c domain.Click)
	Take(ctx context.Context, c domain.Click) (bool, error)
}

// Deps is what the redirect routes need. Cache may be nil.
type Deps struct {
	Store   Store
	Cache   *cache.Cache
	Clicks  ClickRecorder
	Metrics *metrics.Metrics
}

type handlers struct{ Deps }

// Routes returns the redirect routes. GET patterns answer HEAD too, without a body. They
// are Quiet: each redirect is recorded as a click event in the audit log, so its
// access-log line is at debug level; a refused redirect still logs at info.
func Routes(d Deps) []web.Route {
	h := handlers{d}
	return []web.Route{
		{Pattern: "GET /{short_code}", Handler: h.redirect, Quiet: true},
		{Pattern: "GET /urls/{short_code}/redirect", Handler: h.redirect, Quiet: true},
	}
}

// cacheControl lets no shared cache keep the redirect, so a deactivation takes effect at
// once. A shared slice set straight into the header map spares an allocation per redirect.
var cacheControl = []string{"private, max-age=0"}

func (h handlers) redirect(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("short_code")
	if !domain.IsPossibleCode(code) {
		// Nothing of this shape is ever stored: answer before any look-up, so that no
		// cache or database work (and no "missing" entry) is spent on it.
		h.Metrics.Redirect(false)
		web.Error(w, r, domain.Errorf(domain.NotFound, "short code not found"))
		return
	}
	rd, hit, err := h.find(r.Context(), code)
	if err != nil {
		web.Error(w, r, err)
		return
	}
	web.Cached(w, hit)
	if !rd.Active {
		h.Metrics.Redirect(false)
		web.Error(w, r, domain.Errorf(domain.NotFound, "short code not found"))
		return
	}
	// The window is checked against the clock at each request, from whatever entry
	// answered, so a link starts and stops at its instant on every instance with no write
	// and no cache expiry in between.
	if msg := outsideWindow(rd, time.Now()); msg != "" {
		h.Metrics.Redirect(false)
		web.Error(w, r, domain.Errorf(domain.NotFound, "%s", msg))
		return
	}
	click := domain.Click{
		URLID: rd.URLID, UserID: rd.UserID, ShortCode: code,
		Referrer: r.Referer(), UserAgent: r.UserAgent(), At: time.Now(),
	}
	if rd.Limited && !h.takeVisit(w, r, click) {
		return
	}
	h.Metrics.Redirect(true)
	// Set directly: http.Redirect would rewrite the stored URL, and it must go out exactly.
	hd := w.Header()
	hd["Location"] = []string{rd.Location}
	hd["Cache-Control"] = cacheControl
	w.WriteHeader(http.StatusFound)
	if r.Method == http.MethodHead || rd.Limited {
		return // a HEAD is a check of the link (a crawler, a preview), not a visit; a limited link's click is stored
	}
	h.Clicks.Record(click)
}

// visitLimit is the answer past a link's max_visits.
const visitLimit = "short code reached its visit limit"

// takeVisit takes one of a limited link's visits (a HEAD only checks one is left) and
// answers the refusal itself when it cannot: the limit is exact, so without PostgreSQL a
// limited link answers 503 rather than a redirect it could not count.
func (h handlers) takeVisit(w http.ResponseWriter, r *http.Request, click domain.Click) bool {
	var ok bool
	var err error
	if r.Method == http.MethodHead {
		ok, err = h.Store.VisitsLeft(r.Context(), click.URLID)
	} else {
		ok, err = h.Clicks.Take(r.Context(), click)
	}
	switch {
	case err != nil:
		h.Metrics.Redirect(false)
		web.Error(w, r, domain.Unavailablef(err, "could not count the visit"))
	case !ok:
		h.Metrics.Redirect(false)
		web.Error(w, r, domain.Errorf(domain.NotFound, "%s", visitLimit))
	}
	return err == nil && ok
}

// find looks the code up through the cache, which goes to the store on a miss, fills
// itself and records the look-up in its metrics. Unknown codes come back inactive.
func (h handlers) find(ctx context.Context, code string) (domain.Redirect, bool, error) {
	return h.Cache.ReadRedirect(ctx, code, h.Store.FindRedirect)
}

// outsideWindow says why a link does not redirect at now, or "" when it does.
func outsideWindow(rd domain.Redirect, now time.Time) string {
	switch {
	case rd.ValidSince != nil && now.Before(*rd.ValidSince):
		return "short code not yet valid"
	case rd.ExpiresAt != nil && !now.Before(*rd.ExpiresAt):
		return "short code expired"
	}
	return ""
}
