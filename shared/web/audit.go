package web

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/urlshort/shortener/shared/domain"
)

// Cached sets X-Cache for a read-through answer.
func Cached(w http.ResponseWriter, hit bool) {
	if hit {
		w.Header()["X-Cache"] = cacheHit
	} else {
		w.Header()["X-Cache"] = cacheMiss
	}
}

// The X-Cache values are shared, never modified slices: no allocation per response.
var cacheHit, cacheMiss = []string{"HIT"}, []string{"MISS"}

// List writes a list body; a paginated one carries the total in X-Total-Count.
func List(w http.ResponseWriter, body []byte, total int64, paged bool) {
	if paged {
		w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	}
	Raw(w, http.StatusOK, body)
}

// LogAudits logs the ids of the audit events a mutation emitted, so a request can be
// followed into the audit log.
func LogAudits(r *http.Request, audits []domain.Audit) {
	if len(audits) == 0 {
		return
	}
	ids := make([]string, len(audits))
	for i, a := range audits {
		ids[i] = a.EventID
	}
	slog.InfoContext(r.Context(), "audit events emitted", "request_id", RequestID(r), "event_ids", ids)
}
