// Package web is the HTTP edge every function shares: JSON decoding with the spec's
// status codes, the one table that maps error kinds to statuses, query parsing and the
// router that wraps each route with metrics and a log line.
package web

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/urlshort/shortener/shared/domain"
)

// statusOf is the one place error kinds become HTTP statuses.
var statusOf = map[domain.Kind]int{
	domain.BadRequest:   http.StatusBadRequest,
	domain.Invalid:      http.StatusUnprocessableEntity,
	domain.NotFound:     http.StatusNotFound,
	domain.Conflict:     http.StatusConflict,
	domain.TooLarge:     http.StatusRequestEntityTooLarge,
	domain.Unavailable:  http.StatusServiceUnavailable,
	domain.Internal:     http.StatusInternalServerError,
	domain.NotAllowed:   http.StatusMethodNotAllowed,
	domain.Unauthorized: http.StatusUnauthorized,
	domain.Forbidden:    http.StatusForbidden,
	domain.RateLimited:  http.StatusTooManyRequests,
}

// retryAfter is the Retry-After, in seconds, of a 503.
const retryAfter = "1"

// StatusClientClosed is what the logs and metrics show for a request whose client went
// away before it was answered (nginx's 499): nobody reads the answer, and it is no failure
// of ours, so it is neither a 500 nor logged as an internal error.
const StatusClientClosed = 499

type errorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

// JSON writes v with the status.
func JSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	Raw(w, status, b)
}

// Raw writes an already encoded JSON body.
func Raw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Error writes err as the spec's JSON error. Internal errors are logged with the request
// id and shown to the client only as "internal error"; dependency failures are logged too.
func Error(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		slog.DebugContext(r.Context(), "client went away", "err", err, "request_id", RequestID(r))
		w.WriteHeader(StatusClientClosed)
		return
	}
	kind := domain.KindOf(err)
	status := statusOf[kind]
	body := errorBody{Error: "internal error"}
	var e *domain.Error
	if errors.As(err, &e) && kind != domain.Internal {
		body = errorBody{Error: e.Message, Fields: e.Fields}
	}
	switch kind {
	case domain.Internal:
		slog.ErrorContext(r.Context(), "internal error", "err", err, "request_id", RequestID(r))
	case domain.Unavailable:
		slog.WarnContext(r.Context(), "dependency unavailable", "err", err, "request_id", RequestID(r))
		w.Header().Set("Retry-After", retryAfter)
	case domain.Unauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="shortener"`)
	}
	JSON(w, status, body)
}
