package web

import (
	"context"
	"net/http"

	"github.com/urlshort/shortener/shared/domain"
)

// Stats answers GET /{what}s/{id}/stats from read (the store's rollups), with ?from= and
// ?to=. It is never cached: every stored click moves the figures, and reading them costs
// the same for a link with ten clicks as for one with ten million.
func Stats(w http.ResponseWriter, r *http.Request, what string, read func(ctx context.Context, id int64, r domain.StatsRange) (domain.Stats, error)) {
	id, err := PathID(r, "id", what)
	if err != nil {
		Error(w, r, err)
		return
	}
	rng, err := StatsRangeOf(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	st, err := read(r.Context(), id, rng)
	if err != nil {
		Error(w, r, err)
		return
	}
	JSON(w, http.StatusOK, st)
}
