package access

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

// Rate is a number of requests per period, such as RATE_LIMIT_WRITES=60/m. The zero Rate
// is no limit.
type Rate struct {
	Limit  int
	Period time.Duration
}

// Bounds of a rate, so that the emission interval (Period/Limit) is at least a
// microsecond, the resolution the shared limiter counts in, and a key never lives in
// Valkey or in memory for more than a day.
const (
	maxRateLimit  = 1_000_000
	maxRatePeriod = 24 * time.Hour
)

// ErrRate is wrapped by every error of ParseRate.
var ErrRate = errors.New("access: invalid rate")

// rateUnits are the units a rate may be counted in.
var rateUnits = map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour}

// ParseRate reads "N/s", "N/m" or "N/h" (N requests per second, minute or hour), or with a
// count before the unit, "N/10s", "N/15m". An empty string is the zero Rate: no limit.
// A limit of zero is refused rather than read as "no limit" or "nothing": either reading
// would surprise someone.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Rate{}, nil
	}
	bad := func(why string) (Rate, error) {
		return Rate{}, fmt.Errorf("%w %q: %s (want N/s, N/m or N/h, such as 60/m, or N/10s)", ErrRate, s, why)
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return bad("no period")
	}
	limit, ok := rateNumber(strings.TrimSpace(n))
	if !ok || limit == 0 {
		return bad("the limit is not a whole number of at least 1")
	}
	if limit > maxRateLimit {
		return bad("the limit is above " + strconv.Itoa(maxRateLimit))
	}
	per = strings.TrimSpace(per)
	if per == "" {
		return bad("no period")
	}
	unit, ok := rateUnits[per[len(per)-1]]
	if !ok {
		return bad("the unit is not s, m or h")
	}
	count := 1
	if digits := per[:len(per)-1]; digits != "" {
		if count, ok = rateNumber(digits); !ok || count == 0 {
			return bad("the period's count is not a whole number of at least 1")
		}
	}
	if count > int(maxRatePeriod/unit) {
		return bad("the period is longer than " + maxRatePeriod.String())
	}
	return Rate{Limit: limit, Period: time.Duration(count) * unit}, nil
}

// rateNumber reads a small decimal number of digits only: no sign, no spaces, no
// underscores, at most seven digits so nothing overflows on the way to the bounds.
func rateNumber(s string) (int, bool) {
	if s == "" || len(s) > 7 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// IsZero reports whether r is no limit.
func (r Rate) IsZero() bool { return r.Limit <= 0 || r.Period <= 0 }

// String returns r as ParseRate reads it.
func (r Rate) String() string {
	if r.IsZero() {
		return ""
	}
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if r.Period%u.d == 0 {
			if r.Period == u.d {
				return strconv.Itoa(r.Limit) + "/" + u.name
			}
			return strconv.Itoa(r.Limit) + "/" + strconv.FormatInt(int64(r.Period/u.d), 10) + u.name
		}
	}
	return strconv.Itoa(r.Limit) + "/" + r.Period.String()
}

// Decision is what a Limiter decided for one request.
type Decision struct {
	Allowed bool
	// Limit is the rate's number of requests; 0 when no limit applies (and no headers
	// are written).
	Limit     int
	Remaining int // requests still allowed at once after this one
	// Reset is how long until the whole limit is available again.
	Reset time.Duration
	// RetryAfter is, for a refused request, how long until one more would pass.
	RetryAfter time.Duration
	// Local says the request was counted by this instance alone, because Valkey was not
	// configured or did not answer.
	Local bool
}

// Limiter limits requests per key (an API key, a client address) to a Rate shared by
// every instance through Valkey, and to the same Rate per instance while Valkey is not
// there. Both count with GCRA (see cache.RateLimit for why), so a request is treated the
// same wherever it is counted. A nil *Limiter allows everything.
type Limiter struct {
	cache *cache.Cache
	name  string
	rate  Rate
	local limitMemory
}

// NewLimiter returns a limiter of rate for the requests named name (such as "writes"),
// counting in c; a nil c counts per instance only. It returns nil, which allows
// everything, for the zero Rate, so callers need not tell a configured limit from none.
func NewLimiter(c *cache.Cache, name string, rate Rate) *Limiter {
	if rate.IsZero() {
		return nil
	}
	return &Limiter{cache: c, name: name + ":", rate: rate}
}

// Rate returns the limiter's rate, the zero Rate for a nil limiter.
func (l *Limiter) Rate() Rate {
	if l == nil {
		return Rate{}
	}
	return l.rate
}

// Allow counts one request of key and says whether it may go on. It never fails: when
// Valkey cannot answer within its short deadline, or is known to be down, the request is
// counted in this instance's memory instead.
func (l *Limiter) Allow(ctx context.Context, key string) Decision {
	if l == nil {
		return Decision{Allowed: true}
	}
	if l.cache != nil {
		res, err := l.cache.RateLimit(ctx, l.name+key, l.rate.Limit, l.rate.Period)
		if err == nil {
			return Decision{
				Allowed: res.Allowed, Limit: l.rate.Limit, Remaining: res.Remaining,
				Reset: res.ResetAfter, RetryAfter: res.RetryAfter,
			}
		}
	}
	return l.local.allow(key, time.Now().UnixNano(), l.rate)
}

// Admit is Allow at the HTTP edge: it writes the RateLimit headers, answers a refused
// request with 429 and reports whether the caller should go on serving it.
func (l *Limiter) Admit(w http.ResponseWriter, r *http.Request, key string) bool {
	if l == nil {
		return true
	}
	d := l.Allow(r.Context(), key)
	if !d.Allowed {
		Refuse(w, r, d)
		return false
	}
	WriteHeaders(w, d)
	return true
}

// The RateLimit header fields, as the IETF httpapi draft names them.
const (
	headerLimit      = "RateLimit-Limit"
	headerRemaining  = "RateLimit-Remaining"
	headerReset      = "RateLimit-Reset"
	headerRetryAfter = "Retry-After"
)

// WriteHeaders sets RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (whole
// seconds, rounded up so a client that waits that long finds the limit reset), and
// Retry-After when d refused the request. A decision without a limit writes nothing.
func WriteHeaders(w http.ResponseWriter, d Decision) {
	if d.Limit <= 0 {
		return
	}
	h := w.Header()
	h.Set(headerLimit, strconv.Itoa(d.Limit))
	h.Set(headerRemaining, strconv.Itoa(max(d.Remaining, 0)))
	h.Set(headerReset, strconv.FormatInt(ceilSeconds(d.Reset), 10))
	if !d.Allowed {
		h.Set(headerRetryAfter, strconv.FormatInt(max(ceilSeconds(d.RetryAfter), 1), 10))
	}
}

// Refuse answers a request d refused: 429 with the spec's JSON error, the RateLimit
// headers and Retry-After.
// Retry-After is at least a second, also for a decision without a limit.
func Refuse(w http.ResponseWriter, r *http.Request, d Decision) {
	d.Allowed = false
	WriteHeaders(w, d)
	wait := max(ceilSeconds(d.RetryAfter), 1)
	w.Header().Set(headerRetryAfter, strconv.FormatInt(wait, 10))
	web.Error(w, r, domain.Errorf(domain.RateLimited, "too many requests: retry in %d s", wait))
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Bounds of a limiter's memory: at most limitMaxKeys keys (a few megabytes with their map
// overhead), swept of expired ones whenever the map doubled since the last sweep, so a
// sweep costs O(1) per request over time.
const (
	limitMaxKeys  = 65536
	limitMinSweep = 1024
)

// limitMemory is GCRA in this process's memory: each key's theoretical arrival time, in
// unix nanoseconds. A key whose time has passed is a full allowance, exactly as an absent
// one, so expired keys are dropped without changing any decision. When more keys are live
// than the bound, arbitrary ones are forgotten (they start afresh): this is the fallback
// for a Valkey outage, and it must not grow without bound under a flood of addresses.
type limitMemory struct {
	mu        sync.Mutex
	tat       map[string]int64
	nextSweep int
}

func (m *limitMemory) allow(key string, now int64, r Rate) Decision {
	interval := int64(r.Period) / int64(r.Limit)
	period := int64(r.Period)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tat == nil {
		m.tat = make(map[string]int64)
		m.nextSweep = limitMinSweep
	}
	tat, ok := m.tat[key]
	if !ok || tat < now {
		tat = now
	}
	next := tat + interval
	diff := now - (next - period)
	d := Decision{Limit: r.Limit, Local: true}
	if diff < 0 {
		d.RetryAfter = time.Duration(-diff)
		d.Reset = time.Duration(tat - now)
		return d
	}
	if !ok && len(m.tat) >= m.nextSweep {
		m.sweep(now)
	}
	m.tat[key] = next
	d.Allowed = true
	d.Remaining = int(diff / interval)
	d.Reset = time.Duration(next - now)
	return d
}

// sweep drops the keys whose time has passed, and arbitrary live ones beyond the bound.
func (m *limitMemory) sweep(now int64) {
	for k, t := range m.tat {
		if t <= now {
			delete(m.tat, k)
		}
	}
	for k := range m.tat {
		if len(m.tat) < limitMaxKeys*7/8 {
			break
		}
		delete(m.tat, k)
	}
	m.nextSweep = min(max(2*len(m.tat), limitMinSweep), limitMaxKeys)
}
