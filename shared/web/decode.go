package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/urlshort/shortener/shared/domain"
)

// Object is a decoded JSON object body whose fields are read one by one, so that every
// missing or mistyped field is reported in one 422.
type Object struct {
	fields map[string]json.RawMessage
	errs   domain.FieldErrors
}

// DecodeObject reads a JSON object body of at most limit bytes. It answers the spec's 400
// for anything that is not a JSON object sent as application/json, and 413 past the limit.
func DecodeObject(w http.ResponseWriter, r *http.Request, limit int64) (*Object, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, domain.Errorf(domain.BadRequest, "Content-Type must be application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, domain.Errorf(domain.TooLarge, "body larger than %d bytes", limit)
		}
		return nil, domain.Errorf(domain.BadRequest, "could not read the body")
	}
	if !utf8.Valid(body) {
		// encoding/json would quietly turn the bad bytes into U+FFFD; JSON is UTF-8.
		return nil, domain.Errorf(domain.BadRequest, "body must be UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, domain.Errorf(domain.BadRequest, "body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, domain.Errorf(domain.BadRequest, "body must be a single JSON object")
	}
	return &Object{fields: fields, errs: domain.FieldErrors{}}, nil
}

// Has reports whether the body has the field at all.
func (o *Object) Has(name string) bool { _, ok := o.fields[name]; return ok }

// Err returns a 422 naming every field that was wrong, or nil.
func (o *Object) Err() error { return o.errs.Err() }

// Invalid records a field that is present and well-typed but invalid.
func (o *Object) Invalid(name, msg string) { o.errs.Add(name, msg) }

// field returns the raw value of a field, recording "is required" when a required field is
// missing and "must not be null" for an explicit null (a listed field sent as null is a
// wrong type).
func (o *Object) field(name string, required bool) (json.RawMessage, bool) {
	raw, ok := o.fields[name]
	if !ok {
		if required {
			o.errs.Add(name, "is required")
		}
		return nil, false
	}
	if string(raw) == "null" {
		o.errs.Add(name, "must not be null")
		return nil, false
	}
	return raw, true
}

// String reads a string field; nil when absent or wrong.
func (o *Object) String(name string, required bool) *string {
	raw, ok := o.field(name, required)
	if !ok {
		return nil
	}
	var s string
	if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		o.errs.Add(name, "must be a string")
		return nil
	}
	if msg := checkText(s); msg != "" {
		o.errs.Add(name, msg)
		return nil
	}
	return &s
}

// Int reads an integer field (a JSON number without fraction or exponent).
func (o *Object) Int(name string, required bool) *int64 {
	raw, ok := o.field(name, required)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		o.errs.Add(name, "must be an integer")
		return nil
	}
	return &n
}

// maxStrings bounds the elements of a string array field.
const maxStrings = 100

// Strings reads a field that must be an array of strings (at most 100); nil when absent or
// wrong, an empty slice for [].
func (o *Object) Strings(name string, required bool) []string {
	raw, ok := o.field(name, required)
	if !ok {
		return nil
	}
	var ss []string
	if raw[0] != '[' || json.Unmarshal(raw, &ss) != nil {
		o.errs.Add(name, "must be an array of strings")
		return nil
	}
	if len(ss) > maxStrings {
		o.errs.Add(name, "must have at most "+strconv.Itoa(maxStrings)+" elements")
		return nil
	}
	for _, s := range ss {
		if msg := checkText(s); msg != "" {
			o.errs.Add(name, msg)
			return nil
		}
	}
	if ss == nil {
		ss = []string{}
	}
	return ss
}

// Time reads an RFC 3339 timestamp field ("2026-11-21T08:15:00Z", fractions and offsets
// allowed), returned in UTC at the microsecond precision the database stores.
func (o *Object) Time(name string, required bool) *time.Time {
	s := o.String(name, required)
	if s == nil {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		o.errs.Add(name, "must be an RFC 3339 timestamp such as 2026-11-21T08:15:00Z")
		return nil
	}
	// Go reads the year 0000 (1 BC), which PostgreSQL has no name for; years past 9999
	// cannot be written back in RFC 3339.
	if t = t.UTC().Truncate(time.Microsecond); t.Year() < 1 || t.Year() > 9999 {
		o.errs.Add(name, "must be between the years 0001 and 9999")
		return nil
	}
	return &t
}

// NullableTime reads a timestamp field that null clears (a link option): Set is false
// when the field is absent, Value nil for null.
func (o *Object) NullableTime(name string) domain.Optional[time.Time] {
	raw, ok := o.fields[name]
	switch {
	case !ok:
		return domain.Optional[time.Time]{}
	case string(raw) == "null":
		return domain.Optional[time.Time]{Set: true}
	}
	t := o.Time(name, false)
	return domain.Optional[time.Time]{Set: t != nil, Value: t}
}

// NullableCount reads a positive integer field that null clears (max_visits): Set is
// false when the field is absent, Value nil for null.
func (o *Object) NullableCount(name string) domain.Optional[int64] {
	raw, ok := o.fields[name]
	switch {
	case !ok:
		return domain.Optional[int64]{}
	case string(raw) == "null":
		return domain.Optional[int64]{Set: true}
	}
	n := o.Int(name, false)
	if n != nil && *n < 1 {
		o.errs.Add(name, "must be at least 1")
		return domain.Optional[int64]{}
	}
	return domain.Optional[int64]{Set: n != nil, Value: n}
}

// Bool reads a boolean field (true or false, not a string).
func (o *Object) Bool(name string, required bool) *bool {
	raw, ok := o.field(name, required)
	if !ok {
		return nil
	}
	var b bool
	if s := string(raw); s != "true" && s != "false" {
		o.errs.Add(name, "must be a boolean")
		return nil
	}
	_ = json.Unmarshal(raw, &b)
	return &b
}

// JSONObject reads a field that must be a JSON object and returns it re-encoded, so that
// what is stored is what was checked: every string and key valid text without NUL (which
// PostgreSQL cannot store), every number a finite 64-bit float (I-JSON, RFC 7493; it
// also keeps numbers inside what PostgreSQL's numeric holds), nesting at most maxDepth.
func (o *Object) JSONObject(name string, required bool) json.RawMessage {
	raw, ok := o.field(name, required)
	if !ok {
		return nil
	}
	if raw[0] != '{' {
		o.errs.Add(name, "must be a JSON object")
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		o.errs.Add(name, "must be a JSON object")
		return nil
	}
	if msg := checkJSON(v, 1); msg != "" {
		o.errs.Add(name, msg)
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		o.errs.Add(name, "must be a JSON object")
		return nil
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// maxDepth bounds the nesting of a JSON value a client stores.
const maxDepth = 32

// maxNumberLen bounds the characters of one JSON number; a longer one says nothing a
// 64-bit float can keep, and exponents past ±maxExponent are refused for the same reason
// (strconv quietly rounds 1e-999999 to 0, PostgreSQL refuses it).
const (
	maxNumberLen = 64
	maxExponent  = 400
)

// checkJSON returns what is wrong with a decoded JSON value, or "".
func checkJSON(v any, depth int) string {
	if depth > maxDepth {
		return fmt.Sprintf("must not nest deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case string:
		return checkText(x)
	case json.Number:
		return checkNumber(string(x))
	case []any:
		for _, e := range x {
			if msg := checkJSON(e, depth+1); msg != "" {
				return msg
			}
		}
	case map[string]any:
		for k, e := range x {
			if msg := checkText(k); msg != "" {
				return "keys " + msg
			}
			if msg := checkJSON(e, depth+1); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// checkText returns what is wrong with a decoded JSON string, or "". The body was valid
// UTF-8, but escapes can still carry a NUL (\u0000) or a lone surrogate (\ud800, which
// decodes to U+FFFD); PostgreSQL stores neither.
func checkText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "must not contain NUL characters"
	}
	return ""
}

func checkNumber(s string) string {
	const msg = "numbers must be finite 64-bit floating-point values"
	if len(s) > maxNumberLen {
		return msg
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return msg
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		if e, err := strconv.Atoi(s[i+1:]); err != nil || e > maxExponent || e < -maxExponent {
			return msg
		}
	}
	return ""
}
