package web_test

import (
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

func jsonRequest(body, contentType string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	return r
}

func decode(t *testing.T, body string) *web.Object {
	t.Helper()
	o, err := web.DecodeObject(httptest.NewRecorder(), jsonRequest(body, "application/json"), 1<<20)
	if err != nil {
		t.Fatalf("DecodeObject(%s): %v", body, err)
	}
	return o
}

func TestDecodeObject(t *testing.T) {
	const limit = 64
	cases := []struct {
		name        string
		contentType string
		body        string
		want        domain.Kind // Internal means "no error"
	}{
		{"Object", "application/json", `{"a":1}`, domain.Internal},
		{"EmptyObject", "application/json", `{}`, domain.Internal},
		{"CharsetParameter", "application/json; charset=utf-8", `{}`, domain.Internal},
		{"MediaTypeCaseInsensitive", "Application/JSON", `{}`, domain.Internal},
		{"SurroundingWhitespace", "application/json", " \n{}\n ", domain.Internal},
		{"ExactlyAtLimit", "application/json", `{"a":"` + strings.Repeat("x", limit-8) + `"}`, domain.Internal},
		{"MissingContentType", "", `{}`, domain.BadRequest},
		{"TextPlain", "text/plain", `{}`, domain.BadRequest},
		{"FormContentType", "application/x-www-form-urlencoded", `{}`, domain.BadRequest},
		{"MalformedContentType", "application/json; =", `{}`, domain.BadRequest},
		{"EmptyBody", "application/json", ``, domain.BadRequest},
		{"WhitespaceBody", "application/json", "  ", domain.BadRequest},
		{"NotJSON", "application/json", `hello`, domain.BadRequest},
		{"TruncatedObject", "application/json", `{"a":`, domain.BadRequest},
		{"Array", "application/json", `[{"a":1}]`, domain.BadRequest},
		{"String", "application/json", `"{}"`, domain.BadRequest},
		{"Number", "application/json", `42`, domain.BadRequest},
		{"Null", "application/json", `null`, domain.BadRequest},
		{"True", "application/json", `true`, domain.BadRequest},
		{"TrailingObject", "application/json", `{}{}`, domain.BadRequest},
		{"TrailingGarbage", "application/json", `{} x`, domain.BadRequest},
		{"TrailingComma", "application/json", `{},`, domain.BadRequest},
		{"OverLimit", "application/json", `{"a":"` + strings.Repeat("x", limit) + `"}`, domain.TooLarge},
		{"OverLimitNotJSON", "text/plain", strings.Repeat("x", 2*limit), domain.BadRequest},
		{"InvalidUTF8InString", "application/json", "{\"a\":\"\xff\"}", domain.BadRequest},
		{"OverlongUTF8", "application/json", "{\"a\":\"\xc0\xae\"}", domain.BadRequest},
		{"InvalidUTF8InKey", "application/json", "{\"\xfe\":1}", domain.BadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := web.DecodeObject(httptest.NewRecorder(), jsonRequest(tc.body, tc.contentType), limit)
			if tc.want == domain.Internal {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				if o == nil {
					t.Fatal("object is nil")
				}
				return
			}
			if err == nil {
				t.Fatalf("err = nil, want kind %v", tc.want)
			}
			if got := domain.KindOf(err); got != tc.want {
				t.Fatalf("kind = %v (%v), want %v", got, err, tc.want)
			}
		})
	}
}

// fieldsOf returns the field names of an Invalid error, sorted.
func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	if domain.KindOf(err) != domain.Invalid {
		t.Fatalf("kind = %v (%v), want Invalid", domain.KindOf(err), err)
	}
	var e *domain.Error
	if !errors.As(err, &e) {
		t.Fatalf("%T is not a *domain.Error", err)
	}
	return slices.Sorted(maps.Keys(e.Fields))
}

func TestObjectGettersValid(t *testing.T) {
	o := decode(t, `{"s":"hé","empty":"","i":-42,"big":9223372036854775807,"t":true,"f":false,"o":{"k":[1]},"eo":{}}`)
	if s := o.String("s", true); s == nil || *s != "hé" {
		t.Errorf("String(s) = %v", s)
	}
	if s := o.String("empty", true); s == nil || *s != "" {
		t.Errorf("String(empty) = %v, want a pointer to \"\"", s)
	}
	if n := o.Int("i", true); n == nil || *n != -42 {
		t.Errorf("Int(i) = %v", n)
	}
	if n := o.Int("big", true); n == nil || *n != 1<<63-1 {
		t.Errorf("Int(big) = %v", n)
	}
	if b := o.Bool("t", true); b == nil || !*b {
		t.Errorf("Bool(t) = %v", b)
	}
	if b := o.Bool("f", true); b == nil || *b {
		t.Errorf("Bool(f) = %v", b)
	}
	if raw := o.JSONObject("o", true); string(raw) != `{"k":[1]}` {
		t.Errorf("JSONObject(o) = %s", raw)
	}
	if raw := o.JSONObject("eo", true); string(raw) != `{}` {
		t.Errorf("JSONObject(eo) = %s", raw)
	}
	if err := o.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil", err)
	}
}

func TestObjectOptionalAbsent(t *testing.T) {
	o := decode(t, `{"other":1}`)
	if o.String("s", false) != nil || o.Int("i", false) != nil || o.Bool("b", false) != nil || o.JSONObject("o", false) != nil {
		t.Error("an absent optional field returned a value")
	}
	if o.Has("s") || !o.Has("other") {
		t.Errorf("Has(s) = %v, Has(other) = %v", o.Has("s"), o.Has("other"))
	}
	if err := o.Err(); err != nil {
		t.Fatalf("Err() = %v, want nil: absent optional fields are fine", err)
	}
}

// TestObjectEveryFieldNamed checks the spec's "a 422 names every invalid field": missing,
// null and mistyped fields of every getter end up in one Invalid error.
func TestObjectEveryFieldNamed(t *testing.T) {
	o := decode(t, `{
		"s_num": 5, "s_null": null, "s_obj": {}, "s_opt_null": null,
		"i_str": "5", "i_frac": 5.0, "i_exp": 1e3, "i_over": 9223372036854775808, "i_bool": true,
		"b_str": "true", "b_num": 1, "b_null": null,
		"o_arr": [], "o_str": "{}", "o_num": 1,
		"extra": "ignored"
	}`)
	for _, f := range []string{"s_num", "s_null", "s_obj", "s_missing"} {
		if o.String(f, true) != nil {
			t.Errorf("String(%s) returned a value", f)
		}
	}
	if o.String("s_opt_null", false) != nil {
		t.Error("String(s_opt_null) returned a value")
	}
	for _, f := range []string{"i_str", "i_frac", "i_exp", "i_over", "i_bool", "i_missing"} {
		if o.Int(f, true) != nil {
			t.Errorf("Int(%s) returned a value", f)
		}
	}
	for _, f := range []string{"b_str", "b_num", "b_null", "b_missing"} {
		if o.Bool(f, true) != nil {
			t.Errorf("Bool(%s) returned a value", f)
		}
	}
	for _, f := range []string{"o_arr", "o_str", "o_num", "o_missing"} {
		if o.JSONObject(f, true) != nil {
			t.Errorf("JSONObject(%s) returned a value", f)
		}
	}
	o.Invalid("custom", "is wrong")
	want := []string{
		"b_missing", "b_null", "b_num", "b_str", "custom",
		"i_bool", "i_exp", "i_frac", "i_missing", "i_over", "i_str",
		"o_arr", "o_missing", "o_num", "o_str",
		"s_missing", "s_null", "s_num", "s_obj", "s_opt_null",
	}
	if got := fieldsOf(t, o.Err()); !slices.Equal(got, want) {
		t.Errorf("fields = %v\nwant     %v", got, want)
	}
}

// TestObjectRefusesWhatTheDatabaseCannotStore covers the values that reached PostgreSQL
// and came back as 500s: each is now a 422 naming its field.
func TestObjectRefusesWhatTheDatabaseCannotStore(t *testing.T) {
	cases := map[string]string{
		"EscapedNULInString":     `{"s":"a\u0000b"}`,
		"EscapedNULInDetailsVal": `{"d":{"k":"\u0000"}}`,
		"EscapedNULInDetailsKey": `{"d":{"\u0000":1}}`,
		"NULDeepInArray":         `{"d":{"a":[1,["\u0000"]]}}`,
		"HugeExponent":           `{"d":{"n":1e999999}}`,
		"TinyExponent":           `{"d":{"n":1e-999999}}`,
		"Overflow":               `{"d":{"n":1e309}}`,
		"ManyDigits":             `{"d":{"n":` + strings.Repeat("1", 200) + `}}`,
		"ManyFractionDigits":     `{"d":{"n":0.` + strings.Repeat("1", 20000) + `}}`,
		"TooDeep":                `{"d":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			o := decode(t, body)
			o.String("s", false)
			o.JSONObject("d", false)
			if got := fieldsOf(t, o.Err()); len(got) != 1 {
				t.Fatalf("fields = %v, want the one bad field", got)
			}
		})
	}
}

func TestJSONObjectStoresWhatWasChecked(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"KeptAsIs":         {`{"d":{"a":1.5,"b":[true,null,"x"]}}`, `{"a":1.5,"b":[true,null,"x"]}`},
		"NumbersVerbatim":  {`{"d":{"n":1e308,"m":-0.000001,"big":12345678901234567890}}`, `{"big":12345678901234567890,"m":-0.000001,"n":1e308}`},
		"LoneSurrogate":    {`{"d":{"k":"\ud800"}}`, "{\"k\":\"\ufffd\"}"}, // as encoding/json decodes it
		"HTMLNotEscaped":   {`{"d":{"k":"<a>&"}}`, `{"k":"<a>&"}`},
		"DepthAtTheLimit":  {`{"d":` + strings.Repeat(`{"a":`, 31) + `1` + strings.Repeat(`}`, 31) + `}`, strings.Repeat(`{"a":`, 31) + `1` + strings.Repeat(`}`, 31)},
		"WhitespaceDrops":  {`{"d": { "a" : 1 } }`, `{"a":1}`},
		"DuplicateKeyLast": {`{"d":{"a":1,"a":2}}`, `{"a":2}`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := decode(t, tc.in)
			got := o.JSONObject("d", true)
			if err := o.Err(); err != nil {
				t.Fatalf("err = %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
