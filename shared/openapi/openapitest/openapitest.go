// Package openapitest checks HTTP exchanges against the OpenAPI document with kin-openapi
// (openapi3filter.ValidateRequest and ValidateResponse), so that every handler test that
// already runs also keeps the document true. It is for tests only: no function links it.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/urlshort/shortener/shared/openapi"
)

func init() {
	// Bodies the API answers that kin-openapi has no decoder of its own for: read as
	// strings, which is what their schemas say.
	openapi3filter.RegisterBodyDecoder("image/png", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("image/svg+xml", openapi3filter.FileBodyDecoder)
	openapi3filter.RegisterBodyDecoder("application/openmetrics-text", openapi3filter.PlainBodyDecoder)
}

var (
	loadOnce sync.Once
	loaded   *openapi3.T
	loadErr  error
)

// Document loads the embedded document and validates it as OpenAPI 3.1, once per process.
func Document() (*openapi3.T, error) {
	loadOnce.Do(func() { loaded, loadErr = Load(openapi.JSON()) })
	return loaded, loadErr
}

// Load parses data and validates it as an OpenAPI 3.1 document.
func Load(data []byte) (*openapi3.T, error) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapitest: load: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		return nil, fmt.Errorf("openapitest: the document is OpenAPI %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(ctx, openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("openapitest: validate: %w", err)
	}
	return doc, nil
}

// Validator checks the exchanges of one server, whose routes are the ServeMux patterns it
// was made with: each request is matched to a pattern as the server's own mux matches it,
// and checked against that pattern's operation.
type Validator struct {
	doc *openapi3.T
	mux *http.ServeMux
}

var wildcard = regexp.MustCompile(`\{([^}.]+)(\.\.\.)?\}`)

// New returns a validator of doc for a server with the given ServeMux patterns
// ("GET /users/{id}").
func New(doc *openapi3.T, patterns []string) *Validator {
	v := &Validator{doc: doc, mux: http.NewServeMux()}
	for _, p := range patterns {
		var names []string
		for _, m := range wildcard.FindAllStringSubmatch(p, -1) {
			names = append(names, m[1])
		}
		v.mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			m := matched{pattern: p, params: map[string]string{}}
			for _, n := range names {
				m.params[n] = r.PathValue(n)
			}
			*r.Context().Value(matchKey{}).(*matched) = m
		})
	}
	return v
}

type matchKey struct{}

type matched struct {
	pattern string
	params  map[string]string
}

// match returns the pattern the server's mux gives req, "" for none, and its path values.
func (v *Validator) match(req *http.Request) matched {
	var m matched
	probe := req.Clone(context.WithValue(context.Background(), matchKey{}, &m))
	probe.Body = http.NoBody
	v.mux.ServeHTTP(httptest.NewRecorder(), probe)
	return m
}

// Exchange is one request and the answer to it, bodies read.
type Exchange struct {
	Request     *http.Request // its Body is not read: RequestBody is
	RequestBody []byte
	// RequestBodyUnknown says RequestBody is not the whole body (too large to keep), so
	// the request is not validated, only the answer.
	RequestBodyUnknown bool
	Status             int
	Header             http.Header
	Body               []byte
}

// Check returns what about x the document does not allow, or nil:
//   - a request no pattern takes must be answered 404 or 405 (with Allow) with the
//     document's Error body;
//   - a pattern must have an operation, and the answer must be one of its responses
//     (status, headers, body), by openapi3filter.ValidateResponse;
//   - a request the document calls invalid (openapi3filter.ValidateRequest) must not be
//     answered with success: the server must refuse what the document refuses.
func (v *Validator) Check(x Exchange) error {
	req := x.Request
	m := v.match(req)
	if m.pattern == "" {
		return v.checkUnmatched(x)
	}
	_, path, _ := strings.Cut(m.pattern, " ")
	item := v.doc.Paths.Value(path)
	if item == nil {
		return fmt.Errorf("route %q has no path %q in the document", m.pattern, path)
	}
	method := req.Method
	op := item.GetOperation(method)
	if op == nil && method == http.MethodHead {
		// Every GET route answers HEAD; only the redirects describe it on their own.
		method, op = http.MethodGet, item.GetOperation(http.MethodGet)
	}
	if op == nil {
		return fmt.Errorf("route %q has no %s operation in the document", m.pattern, req.Method)
	}
	route := &routers.Route{Spec: v.doc, Path: path, PathItem: item, Method: method, Operation: op}

	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
	vreq.ContentLength = int64(len(x.RequestBody))
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: m.params, Route: route,
		Options: &openapi3filter.Options{
			// The document's security requirements say what a key needs when access
			// control is on; whether it is on is the router's guard's business.
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	var reqErr error
	if !x.RequestBodyUnknown {
		reqErr = openapi3filter.ValidateRequest(context.Background(), in)
	}

	var resErr error
	if req.Method == http.MethodHead {
		// ValidateResponse skips HEAD; its status must still be one the document lists.
		if op.Responses.Status(x.Status) == nil {
			resErr = fmt.Errorf("status %d is not a response of %s %s", x.Status, req.Method, path)
		}
	} else {
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: x.Status, Header: x.Header, Options: in.Options,
		}
		out.SetBodyBytes(x.Body)
		resErr = openapi3filter.ValidateResponse(context.Background(), out)
	}
	switch {
	case resErr != nil:
		return fmt.Errorf("%s answered %d, which the document does not allow: %w", m.pattern, x.Status, resErr)
	case reqErr != nil && x.Status < http.StatusBadRequest:
		return fmt.Errorf("%s answered %d to a request the document calls invalid: %w", m.pattern, x.Status, reqErr)
	}
	return nil
}

// checkUnmatched checks the answer to a request no route takes: the router's JSON 404,
// or 405 with Allow, as the document's components describe them.
func (v *Validator) checkUnmatched(x Exchange) error {
	name := map[int]string{http.StatusNotFound: "NotFound", http.StatusMethodNotAllowed: "MethodNotAllowed"}[x.Status]
	if name == "" {
		return fmt.Errorf("%s %s matches no route but was answered %d, not 404 or 405", x.Request.Method, x.Request.URL.Path, x.Status)
	}
	res := v.doc.Components.Responses[name]
	if res == nil || res.Value == nil {
		return fmt.Errorf("the document has no response component %q", name)
	}
	for h, ref := range res.Value.Headers {
		if ref.Value.Required && x.Header.Get(h) == "" {
			return fmt.Errorf("%s %s answered %d without the header %s", x.Request.Method, x.Request.URL.Path, x.Status, h)
		}
	}
	if x.Request.Method == http.MethodHead {
		return nil
	}
	mt, _, _ := mime.ParseMediaType(x.Header.Get("Content-Type"))
	ct := res.Value.Content.Get(mt)
	if ct == nil {
		return fmt.Errorf("%s %s answered %d as %q, not a content type of the %s response", x.Request.Method, x.Request.URL.Path, x.Status, mt, name)
	}
	var value any
	if err := json.Unmarshal(x.Body, &value); err != nil {
		return fmt.Errorf("%s %s answered %d with a body that is not JSON: %w", x.Request.Method, x.Request.URL.Path, x.Status, err)
	}
	if err := ct.Schema.Value.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse()); err != nil {
		return fmt.Errorf("%s %s answered %d with a body the %s response does not allow: %w", x.Request.Method, x.Request.URL.Path, x.Status, name, err)
	}
	return nil
}
