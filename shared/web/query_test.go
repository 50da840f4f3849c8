package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/web"
)

func TestPageOf(t *testing.T) {
	cases := []struct {
		name  string
		query string
		want  domain.Page
		bad   bool
	}{
		{"NoneIsEverything", "", domain.Page{}, false},
		{"OtherParamsIgnored", "user_id=5", domain.Page{}, false},
		{"Both", "page=3&per_page=25", domain.Page{Number: 3, PerPage: 25}, false},
		{"PageAloneDefaultsPerPage", "page=2", domain.Page{Number: 2, PerPage: 100}, false},
		{"PerPageAloneDefaultsPage", "per_page=10", domain.Page{Number: 1, PerPage: 10}, false},
		{"PerPageMin", "per_page=1", domain.Page{Number: 1, PerPage: 1}, false},
		{"PerPageMax", "per_page=1000", domain.Page{Number: 1, PerPage: 1000}, false},
		{"FarPage", "page=1000000&per_page=1", domain.Page{Number: 1000000, PerPage: 1}, false},
		{"PageZero", "page=0", domain.Page{}, true},
		{"PageNegative", "page=-1", domain.Page{}, true},
		{"PageNotNumber", "page=two", domain.Page{}, true},
		{"PageEmpty", "page=", domain.Page{}, true},
		{"PageFraction", "page=1.5", domain.Page{}, true},
		{"PerPageZero", "per_page=0", domain.Page{}, true},
		{"PerPageOverMax", "per_page=1001", domain.Page{}, true},
		{"PerPageNotNumber", "per_page=ten", domain.Page{}, true},
		{"PerPageEmpty", "page=1&per_page=", domain.Page{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := web.PageOf(httptest.NewRequest(http.MethodGet, "/x?"+tc.query, nil))
			if tc.bad {
				if domain.KindOf(err) != domain.BadRequest {
					t.Fatalf("err = %v, want BadRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got != tc.want {
				t.Errorf("page = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestQueryInt(t *testing.T) {
	cases := []struct {
		name  string
		query string
		want  *int64
		bad   bool
	}{
		{"Absent", "", nil, false},
		{"Present", "user_id=5", ptr(int64(5)), false},
		{"Negative", "user_id=-5", ptr(int64(-5)), false},
		{"Large", "user_id=99999", ptr(int64(99999)), false},
		{"Empty", "user_id=", nil, true},
		{"NotNumber", "user_id=abc", nil, true},
		{"Fraction", "user_id=1.5", nil, true},
		{"Overflow", "user_id=9223372036854775808", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := web.QueryInt(httptest.NewRequest(http.MethodGet, "/x?"+tc.query, nil), "user_id")
			if tc.bad {
				if domain.KindOf(err) != domain.BadRequest {
					t.Fatalf("err = %v, want BadRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !equalPtr(got, tc.want) {
				t.Errorf("got %v, want %v", deref(got), deref(tc.want))
			}
		})
	}
}

func TestQueryString(t *testing.T) {
	cases := []struct {
		name, query, want string
		ok                bool
	}{
		{"Absent", "", "", true},
		{"Plain", "t=click", "click", true},
		{"Unicode", "t=%C3%A9v%C3%A9", "évé", true},
		{"AtMax", "t=" + strings.Repeat("%C3%A9", 8), strings.Repeat("é", 8), true},
		{"OverMax", "t=" + strings.Repeat("a", 9), "", false},
		{"NUL", "t=%00", "", false},
		{"InvalidUTF8", "t=%FF", "", false},
		{"Overlong", "t=%C0%AE", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/x?"+tc.query, nil)
			got, err := web.QueryString(r, "t", 8)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("QueryString = %q, %v; want %q, ok %v", got, err, tc.want, tc.ok)
			}
			if err != nil && domain.KindOf(err) != domain.BadRequest {
				t.Fatalf("kind = %v, want BadRequest", domain.KindOf(err))
			}
		})
	}
}

func TestQueryBool(t *testing.T) {
	cases := []struct {
		name  string
		query string
		want  *bool
		bad   bool
	}{
		{"Absent", "", nil, false},
		{"True", "is_active=true", ptr(true), false},
		{"False", "is_active=false", ptr(false), false},
		{"Empty", "is_active=", nil, true},
		{"One", "is_active=1", nil, true},
		{"TitleCase", "is_active=True", nil, true},
		{"Yes", "is_active=yes", nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := web.QueryBool(httptest.NewRequest(http.MethodGet, "/x?"+tc.query, nil), "is_active")
			if tc.bad {
				if domain.KindOf(err) != domain.BadRequest {
					t.Fatalf("err = %v, want BadRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !equalPtr(got, tc.want) {
				t.Errorf("got %v, want %v", deref(got), deref(tc.want))
			}
		})
	}
}

// TestPathID goes through a real ServeMux so that the path value is set the way handlers
// see it.
func TestPathID(t *testing.T) {
	cases := []struct {
		name string
		id   string
		want int64 // 0: NotFound
	}{
		{"One", "1", 1},
		{"Large", "9223372036854775807", 1<<63 - 1},
		{"Zero", "0", 0},
		{"Negative", "-1", 0},
		{"NotNumber", "abc", 0},
		{"Fraction", "1.5", 0},
		{"Overflow", "9223372036854775808", 0},
		{"PlusSign", "+1", 1}, // strconv accepts it; it still names user 1
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var (
				got int64
				err error
			)
			mux := http.NewServeMux()
			mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
				got, err = web.PathID(r, "id", "user")
			})
			mux.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/users/"+tc.id, nil))
			if tc.want == 0 {
				if domain.KindOf(err) != domain.NotFound {
					t.Fatalf("err = %v, want NotFound", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("PathID = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
