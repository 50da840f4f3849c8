package health_test

import (
	"bytes"
	"testing"

	"github.com/urlshort/shortener/functions/internal/grouptest"
	"github.com/urlshort/shortener/shared/openapi"
	"github.com/urlshort/shortener/shared/openapi/openapitest"
	"github.com/urlshort/shortener/shared/routing"
)

// TestOpenAPIDocument checks that GET /openapi.json answers the committed document as
// JSON, and that what it answers is a valid OpenAPI 3.1 document.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	e := grouptest.Mount(t, routing.Health, grouptest.Options{})
	r := e.Do(t, "GET", "/openapi.json", nil)
	if r.Status != 200 {
		t.Fatalf("GET /openapi.json: %.200s", r)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if !bytes.Equal(r.Body, openapi.JSON()) {
		t.Error("the body is not the committed document")
	}
	if _, err := openapitest.Load(r.Body); err != nil {
		t.Errorf("the served document: %v", err)
	}
	// It needs no dependency: it answers with PostgreSQL gone.
	e.CloseStore()
	if r := e.Do(t, "GET", "/openapi.json", nil); r.Status != 200 {
		t.Errorf("GET /openapi.json with PostgreSQL closed: %d", r.Status)
	}
}
