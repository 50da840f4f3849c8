package openapitest_test

import (
	"testing"

	"github.com/urlshort/shortener/shared/openapi/openapitest"
)

func TestDocumentIsOpenAPI31(t *testing.T) {
	doc, err := openapitest.Document()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.1" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
}
