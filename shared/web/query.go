package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urlshort/shortener/shared/domain"
)

// MaxPerPage is the largest page size.
const MaxPerPage = 1000

// PageOf reads ?page=&per_page=. Either alone implies the other's default (page 1, 100 per
// page); neither means the whole list. A malformed or out-of-range value is a 400.
func PageOf(r *http.Request) (domain.Page, error) {
	q := r.URL.Query()
	if !q.Has("page") && !q.Has("per_page") {
		return domain.Page{}, nil
	}
	p := domain.Page{Number: 1, PerPage: 100}
	if q.Has("page") {
		n, err := strconv.Atoi(q.Get("page"))
		if err != nil || n < 1 {
			return p, domain.Errorf(domain.BadRequest, "page must be an integer of at least 1")
		}
		p.Number = n
	}
	if q.Has("per_page") {
		n, err := strconv.Atoi(q.Get("per_page"))
		if err != nil || n < 1 || n > MaxPerPage {
			return p, domain.Errorf(domain.BadRequest, "per_page must be an integer from 1 to 1000")
		}
		p.PerPage = n
	}
	return p, nil
}

// QueryInt reads an optional integer filter; nil when absent.
func QueryInt(r *http.Request, name string) (*int64, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return nil, nil
	}
	n, err := strconv.ParseInt(q.Get(name), 10, 64)
	if err != nil {
		return nil, domain.Errorf(domain.BadRequest, "%s must be an integer", name)
	}
	return &n, nil
}

// QueryString reads an optional text filter of at most max characters; "" when absent.
// Percent-decoding can make any bytes of a query, so the value must be UTF-8 without NUL,
// as every text the database compares is.
func QueryString(r *http.Request, name string, max int) (string, error) {
	v := r.URL.Query().Get(name)
	if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 || utf8.RuneCountInString(v) > max {
		return "", domain.Errorf(domain.BadRequest, "%s must be UTF-8 text of at most %d characters without NUL", name, max)
	}
	return v, nil
}

// QueryBool reads an optional true/false filter; nil when absent.
func QueryBool(r *http.Request, name string) (*bool, error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return nil, nil
	}
	switch q.Get(name) {
	case "true":
		b := true
		return &b, nil
	case "false":
		b := false
		return &b, nil
	}
	return nil, domain.Errorf(domain.BadRequest, "%s must be true or false", name)
}

// PathID reads an integer id path value; anything else names no resource, so it is a 404.
func PathID(r *http.Request, name, what string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n < 1 {
		return 0, domain.Errorf(domain.NotFound, "%s not found", what)
	}
	return n, nil
}

// StatsRangeOf reads ?from= and ?to= (UTC days, YYYY-MM-DD, both optional and inclusive);
// a malformed day or from after to is a 400.
func StatsRangeOf(r *http.Request) (domain.StatsRange, error) {
	var rng domain.StatsRange
	q := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"from", &rng.From}, {"to", &rng.To}} {
		if !q.Has(f.name) {
			continue
		}
		d, err := time.Parse(domain.StatsDayLayout, q.Get(f.name))
		if err != nil || d.Year() < 1 { // PostgreSQL has no year 0
			return rng, domain.Errorf(domain.BadRequest, "%s must be a day as YYYY-MM-DD", f.name)
		}
		*f.dst = &d
	}
	if rng.From != nil && rng.To != nil && rng.From.After(*rng.To) {
		return rng, domain.Errorf(domain.BadRequest, "from must not be after to")
	}
	return rng, nil
}
