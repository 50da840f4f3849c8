package web_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

type errorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields"`
}

func readError(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var b errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", rec.Body.String(), err)
	}
	if b.Error == "" {
		t.Errorf("error body %q has no error message", rec.Body.String())
	}
	return b
}

func TestErrorStatusPerKind(t *testing.T) {
	cases := []struct {
		kind       domain.Kind
		status     int
		retryAfter bool
	}{
		{domain.BadRequest, http.StatusBadRequest, false},
		{domain.Invalid, http.StatusUnprocessableEntity, false},
		{domain.NotFound, http.StatusNotFound, false},
		{domain.Conflict, http.StatusConflict, false},
		{domain.TooLarge, http.StatusRequestEntityTooLarge, false},
		{domain.Unavailable, http.StatusServiceUnavailable, true},
		{domain.NotAllowed, http.StatusMethodNotAllowed, false},
		{domain.Internal, http.StatusInternalServerError, false},
	}
	for _, tc := range cases {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			rec := httptest.NewRecorder()
			// Wrapped, as errors arrive from the store.
			err := fmt.Errorf("handler: %w", domain.Errorf(tc.kind, "the message"))
			web.Error(rec, httptest.NewRequest(http.MethodGet, "/x", nil), err)
			if rec.Code != tc.status {
				t.Errorf("status = %d, want %d", rec.Code, tc.status)
			}
			if got := rec.Header().Get("Retry-After"); (got != "") != tc.retryAfter {
				t.Errorf("Retry-After = %q, want present: %v", got, tc.retryAfter)
			}
			readError(t, rec)
		})
	}
}

func TestErrorBody(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	t.Run("MessageShown", func(t *testing.T) {
		rec := httptest.NewRecorder()
		web.Error(rec, req, domain.Errorf(domain.NotFound, "url not found"))
		if b := readError(t, rec); b.Error != "url not found" || b.Fields != nil {
			t.Errorf("body = %+v", b)
		}
	})
	t.Run("FieldsShown", func(t *testing.T) {
		f := domain.FieldErrors{}
		f.Add("email", "bad")
		f.Add("username", "empty")
		rec := httptest.NewRecorder()
		web.Error(rec, req, f.Err())
		b := readError(t, rec)
		if rec.Code != http.StatusUnprocessableEntity || len(b.Fields) != 2 || b.Fields["email"] != "bad" {
			t.Errorf("status %d, body = %+v", rec.Code, b)
		}
	})
	t.Run("FieldsOmittedWhenNone", func(t *testing.T) {
		rec := httptest.NewRecorder()
		web.Error(rec, req, domain.Errorf(domain.Conflict, "taken"))
		if strings.Contains(rec.Body.String(), "fields") {
			t.Errorf("body %s has a fields key", rec.Body.String())
		}
	})
	t.Run("UnavailableHidesCause", func(t *testing.T) {
		rec := httptest.NewRecorder()
		web.Error(rec, req, domain.Unavailablef(errors.New("dial tcp 10.0.0.7:5432: secret-host"), "database unavailable"))
		if b := readError(t, rec); b.Error != "database unavailable" {
			t.Errorf("error = %q, want only the message", b.Error)
		}
		if rec.Header().Get("Retry-After") != "1" {
			t.Errorf("Retry-After = %q, want 1", rec.Header().Get("Retry-After"))
		}
	})
}

// TestErrorHidesInternal: an unclassified error may carry SQL or hostnames; the client
// sees only "internal error", and the details go to the log with the request id.
func TestErrorHidesInternal(t *testing.T) {
	cases := map[string]error{
		"PlainError":          errors.New(`pq: relation "users" secret detail`),
		"InternalDomainError": &domain.Error{Kind: domain.Internal, Message: "secret detail", Err: errors.New("secret cause")},
		"WrappedPlain":        fmt.Errorf("store: %w", errors.New("secret detail")),
	}
	for name, err := range cases {
		t.Run(name, func(t *testing.T) {
			logs := captureLogs(t)
			rec := httptest.NewRecorder()
			web.Error(rec, httptest.NewRequest(http.MethodGet, "/x", nil), err)
			if rec.Code != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", rec.Code)
			}
			if strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("body %s leaks the internal error", rec.Body.String())
			}
			if b := readError(t, rec); b.Error != "internal error" {
				t.Errorf("error = %q, want \"internal error\"", b.Error)
			}
			if !strings.Contains(logs.String(), "secret detail") {
				t.Errorf("internal error not logged: %s", logs.String())
			}
		})
	}
}

func TestJSON(t *testing.T) {
	t.Run("Encodes", func(t *testing.T) {
		rec := httptest.NewRecorder()
		web.JSON(rec, http.StatusCreated, map[string]int{"id": 7})
		if rec.Code != http.StatusCreated || rec.Header().Get("Content-Type") != "application/json" || rec.Body.String() != `{"id":7}` {
			t.Errorf("got %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
	})
	t.Run("UnencodableIsInternal", func(t *testing.T) {
		rec := httptest.NewRecorder()
		web.JSON(rec, http.StatusOK, map[string]any{"f": func() {}})
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("status = %d, want 500", rec.Code)
		}
		readError(t, rec)
	})
}

func TestCached(t *testing.T) {
	for _, tc := range []struct {
		hit  bool
		want string
	}{{true, "HIT"}, {false, "MISS"}} {
		t.Run(tc.want, func(t *testing.T) {
			rec := httptest.NewRecorder()
			web.Cached(rec, tc.hit)
			if got := rec.Header().Get("X-Cache"); got != tc.want {
				t.Errorf("X-Cache = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLogAudits(t *testing.T) {
	t.Run("LogsEventIDs", func(t *testing.T) {
		logs := captureLogs(t)
		web.LogAudits(httptest.NewRequest(http.MethodGet, "/x", nil), []domain.Audit{{EventID: "ev-one"}, {EventID: "ev-two"}})
		if !strings.Contains(logs.String(), "ev-one") || !strings.Contains(logs.String(), "ev-two") {
			t.Errorf("log %q lacks the event ids", logs.String())
		}
	})
	t.Run("SilentWithoutAudits", func(t *testing.T) {
		logs := captureLogs(t)
		web.LogAudits(httptest.NewRequest(http.MethodGet, "/x", nil), nil)
		if logs.Len() != 0 {
			t.Errorf("logged %q for no audits", logs.String())
		}
	})
}

// captureLogs sends the default logger to a buffer for the rest of the test.
func captureLogs(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil)))
	t.Cleanup(func() { slog.SetDefault(old) })
	return &buf
}
