// Package openapi holds the OpenAPI 3.1 document of the public API, as the server
// implements it, which the health function serves at GET /openapi.json. The document is
// the committed openapi.json beside this file; the handler tests of every route group
// validate what they receive against it (see openapitest), so it cannot drift from the
// server unnoticed.
package openapi

import _ "embed"

//go:embed openapi.json
var document []byte

// JSON returns the document. The slice is shared: callers must not modify it.
func JSON() []byte { return document }
