package store_test

import (
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/domain"
)

func TestCreateURL(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	owner := db.user(t, "alice", "alice@example.com")

	t.Run("GeneratedCode", func(t *testing.T) {
		generated := regexp.MustCompile(`^[A-Za-z0-9]{6}$`)
		seen := map[string]bool{}
		for range 20 {
			// The same original URL twice gets two rows with two codes.
			uW, err := db.CreateURL(ctx, domain.NewURL{UserID: owner.ID, OriginalURL: "https://example.com/same"})
			u, ver, audits := uW.Value, uW.Version, uW.Audits
			if err != nil {
				t.Fatal(err)
			}
			if !generated.MatchString(u.ShortCode) {
				t.Errorf("code %q is not 6 of [A-Za-z0-9]", u.ShortCode)
			}
			if domain.IsReservedCode(u.ShortCode) || seen[u.ShortCode] {
				t.Errorf("code %q reserved or repeated", u.ShortCode)
			}
			seen[u.ShortCode] = true
			if ver != 1 || !u.IsActive || u.UserID != owner.ID || u.Title != nil || !u.CreatedAt.Equal(u.UpdatedAt) {
				t.Errorf("url = %+v version %d", u, ver)
			}
			if len(audits) != 1 {
				t.Fatalf("audits = %d, want 1", len(audits))
			}
			wantAudit(t, audits[0], domain.EventCreated, &u.ID, &owner.ID,
				map[string]string{"short_code": u.ShortCode, "original_url": "https://example.com/same"})
		}
	})
	t.Run("CustomCodeAndTitle", func(t *testing.T) {
		uW, err := db.CreateURL(ctx, domain.NewURL{UserID: owner.ID, OriginalURL: "https://example.com/c", ShortCode: "my-Code_1", Title: ptr("Mine")})
		u := uW.Value
		if err != nil {
			t.Fatal(err)
		}
		if u.ShortCode != "my-Code_1" || u.Title == nil || *u.Title != "Mine" {
			t.Errorf("url = %+v", u)
		}
		readW, err := db.FindURLByID(ctx, u.ID)
		read, ver := readW.Value, readW.Version
		if err != nil || ver != domain.URLItemVersion(1, 0) || read.ShortCode != u.ShortCode || *read.Title != "Mine" ||
			read.CreatedAt.Format(time.RFC3339Nano) != u.CreatedAt.Format(time.RFC3339Nano) {
			t.Errorf("read %+v v%d (%v), wrote %+v", read, ver, err, u)
		}
	})
	t.Run("CustomCodeTakenIsConflict", func(t *testing.T) {
		before := db.pending(t)
		auditsW, err := db.CreateURL(ctx, domain.NewURL{UserID: owner.ID, OriginalURL: "https://example.com/d", ShortCode: "my-Code_1"})
		audits := auditsW.Audits
		wantKind(t, err, domain.Conflict)
		if audits != nil || db.pending(t) != before {
			t.Errorf("a refused create wrote audits")
		}
	})
	t.Run("CodeOfDeletedURLStaysTaken", func(t *testing.T) {
		uW, err := db.CreateURL(ctx, domain.NewURL{UserID: owner.ID, OriginalURL: "https://example.com/e", ShortCode: "oldcode"})
		u := uW.Value
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.DeleteURL(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.CreateURL(ctx, domain.NewURL{UserID: owner.ID, OriginalURL: "https://evil.example/", ShortCode: "oldcode"})
		wantKind(t, err, domain.Conflict)
	})
	t.Run("UnknownUserIsNotFound", func(t *testing.T) {
		_, err := db.CreateURL(ctx, domain.NewURL{UserID: 999999, OriginalURL: "https://example.com/"})
		wantKind(t, err, domain.NotFound)
	})
	t.Run("DeletedUserIsNotFound", func(t *testing.T) {
		g := db.user(t, "gone", "gone@example.com")
		if _, err := db.DeleteUser(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		_, err := db.CreateURL(ctx, domain.NewURL{UserID: g.ID, OriginalURL: "https://example.com/"})
		wantKind(t, err, domain.NotFound)
	})
}

func TestFindURLs(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	a := db.user(t, "a", "a@example.com")
	b := db.user(t, "b", "b@example.com")
	// a: 1 active, 2 inactive, 3 active, 4 deleted; b: 5 active, 6 inactive.
	var ids []int64
	for i, spec := range []struct {
		owner  int64
		active bool
	}{{a.ID, true}, {a.ID, false}, {a.ID, true}, {a.ID, true}, {b.ID, true}, {b.ID, false}} {
		u := db.url(t, spec.owner, fmt.Sprintf("https://example.com/%d", i))
		if !spec.active {
			if _, err := db.UpdateURL(ctx, u.ID, domain.URLPatch{IsActive: ptr(false)}); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, u.ID)
	}
	if _, err := db.DeleteURL(ctx, ids[3]); err != nil {
		t.Fatal(err)
	}
	pick := func(i ...int) []int64 {
		out := []int64{}
		for _, x := range i {
			out = append(out, ids[x])
		}
		return out
	}
	cases := []struct {
		name   string
		filter domain.URLFilter
		want   []int64
		total  int64
	}{
		{"Everything", domain.URLFilter{}, pick(0, 1, 2, 4, 5), 5},
		{"ByUser", domain.URLFilter{UserID: &a.ID}, pick(0, 1, 2), 3},
		{"Active", domain.URLFilter{IsActive: ptr(true)}, pick(0, 2, 4), 3},
		{"Inactive", domain.URLFilter{IsActive: ptr(false)}, pick(1, 5), 2},
		{"UserAndActive", domain.URLFilter{UserID: &b.ID, IsActive: ptr(true)}, pick(4), 1},
		{"UnknownUser", domain.URLFilter{UserID: ptr(int64(99999))}, pick(), 0},
		{"FirstPage", domain.URLFilter{Page: domain.Page{Number: 1, PerPage: 2}}, pick(0, 1), 5},
		{"LastPage", domain.URLFilter{Page: domain.Page{Number: 3, PerPage: 2}}, pick(5), 5},
		{"PastTheEnd", domain.URLFilter{Page: domain.Page{Number: 4, PerPage: 2}}, pick(), 5},
		{"FilteredPastTheEnd", domain.URLFilter{UserID: &a.ID, Page: domain.Page{Number: 2, PerPage: 3}}, pick(), 3},
		{"FilteredPage", domain.URLFilter{UserID: &a.ID, Page: domain.Page{Number: 2, PerPage: 2}}, pick(2), 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			urls, total, err := db.FindURLs(ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
			got := []int64{}
			for _, u := range urls {
				got = append(got, u.ID)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || total != tc.total {
				t.Errorf("ids = %v total %d, want %v total %d", got, total, tc.want, tc.total)
			}
		})
	}
}

func TestUpdateURL(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	owner := db.user(t, "a", "a@example.com")
	orig := db.url(t, owner.ID, "https://example.com/orig")

	t.Run("NoOpChangesNothing", func(t *testing.T) {
		before := db.pending(t)
		for _, p := range []domain.URLPatch{{}, {IsActive: ptr(true)}, {OriginalURL: ptr("https://example.com/orig")}} {
			gotW, err := db.UpdateURL(ctx, orig.ID, p)
			got, ver, audits := gotW.Value, gotW.Version, gotW.Audits
			if err != nil {
				t.Fatal(err)
			}
			if len(audits) != 0 || ver != 1 || !got.UpdatedAt.Equal(orig.UpdatedAt) {
				t.Errorf("no-op %+v: audits %v, version %d, updated_at %v (was %v)", p, audits, ver, got.UpdatedAt, orig.UpdatedAt)
			}
		}
		if db.pending(t) != before {
			t.Error("a no-op wrote to the outbox")
		}
	})

	type change struct{ field, value string }
	cases := []struct {
		name    string
		patch   domain.URLPatch
		changes []change
	}{
		{"Title", domain.URLPatch{Title: ptr("Hello")}, []change{{"title", "Hello"}}},
		{"SameTitleIsNoOp", domain.URLPatch{Title: ptr("Hello")}, nil},
		{"EmptyTitle", domain.URLPatch{Title: ptr("")}, []change{{"title", ""}}},
		{"Deactivate", domain.URLPatch{IsActive: ptr(false)}, []change{{"is_active", "false"}}},
		{"Reactivate", domain.URLPatch{IsActive: ptr(true)}, []change{{"is_active", "true"}}},
		{"OriginalURL", domain.URLPatch{OriginalURL: ptr("https://example.com/new")}, []change{{"original_url", "https://example.com/new"}}},
		{"AllThree", domain.URLPatch{Title: ptr("T"), IsActive: ptr(false), OriginalURL: ptr("https://example.com/3")},
			[]change{{"title", "T"}, {"is_active", "false"}, {"original_url", "https://example.com/3"}}},
		{"OnlyChangedOnesLogged", domain.URLPatch{Title: ptr("T"), IsActive: ptr(true), OriginalURL: ptr("https://example.com/3")},
			[]change{{"is_active", "true"}}},
	}
	prev, ver := orig, int64(1)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gotW, err := db.UpdateURL(ctx, orig.ID, tc.patch)
			got, newVer, audits := gotW.Value, gotW.Version, gotW.Audits
			if err != nil {
				t.Fatal(err)
			}
			if len(audits) != len(tc.changes) {
				t.Fatalf("audits = %d, want %d", len(audits), len(tc.changes))
			}
			for i, c := range tc.changes {
				wantAudit(t, audits[i], domain.EventUpdated, &orig.ID, &owner.ID, map[string]string{"field": c.field, "new_value": c.value})
				if !audits[i].Timestamp.Equal(got.UpdatedAt) {
					t.Errorf("audit at %v, update at %v", audits[i].Timestamp, got.UpdatedAt)
				}
			}
			if len(tc.changes) == 0 {
				if newVer != ver || !got.UpdatedAt.Equal(prev.UpdatedAt) {
					t.Errorf("no-op moved version %d→%d or updated_at %v→%v", ver, newVer, prev.UpdatedAt, got.UpdatedAt)
				}
			} else {
				if newVer != ver+1 {
					t.Errorf("version = %d, want %d (one step per update)", newVer, ver+1)
				}
				if !got.UpdatedAt.After(prev.UpdatedAt) {
					t.Errorf("updated_at %v did not move past %v", got.UpdatedAt, prev.UpdatedAt)
				}
			}
			if !got.CreatedAt.Equal(orig.CreatedAt) || got.ShortCode != orig.ShortCode {
				t.Errorf("update changed created_at or short_code: %+v", got)
			}
			readW, err := db.FindURLByID(ctx, orig.ID)
			read, readVer := readW.Value, readW.Version
			if err != nil || readVer != domain.URLItemVersion(newVer, 0) || read.UpdatedAt.Format(time.RFC3339Nano) != got.UpdatedAt.Format(time.RFC3339Nano) ||
				read.IsActive != got.IsActive || read.OriginalURL != got.OriginalURL || *read.Title != *got.Title {
				t.Errorf("read %+v v%d (%v), update returned %+v v%d", read, readVer, err, got, newVer)
			}
			r, err := db.FindRedirect(ctx, orig.ShortCode)
			if err != nil || r.Version != newVer || r.Location != got.OriginalURL || r.Active != got.IsActive {
				t.Errorf("redirect %+v (%v) does not follow the update %+v v%d", r, err, got, newVer)
			}
			prev, ver = got, newVer
		})
	}
	t.Run("UnknownIsNotFound", func(t *testing.T) {
		_, err := db.UpdateURL(ctx, 999999, domain.URLPatch{Title: ptr("x")})
		wantKind(t, err, domain.NotFound)
	})
	t.Run("DeletedIsNotFound", func(t *testing.T) {
		u := db.url(t, owner.ID, "https://example.com/del")
		if _, err := db.DeleteURL(ctx, u.ID); err != nil {
			t.Fatal(err)
		}
		_, err := db.UpdateURL(ctx, u.ID, domain.URLPatch{Title: ptr("x")})
		wantKind(t, err, domain.NotFound)
	})
}

func TestDeleteURL(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	owner := db.user(t, "a", "a@example.com")
	u := db.url(t, owner.ID, "https://example.com/x")

	dW, err := db.DeleteURL(ctx, u.ID)
	d, audits := dW.Value, dW.Audits
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ReturnsCodeAndVersion", func(t *testing.T) {
		if d.ID != u.ID || d.ShortCode != u.ShortCode || d.Version != 2 {
			t.Errorf("deleted = %+v", d)
		}
	})
	t.Run("Audit", func(t *testing.T) {
		if len(audits) != 1 {
			t.Fatalf("audits = %d, want 1", len(audits))
		}
		wantAudit(t, audits[0], domain.EventDeleted, &u.ID, &owner.ID, map[string]string{"reason": "user_requested"})
	})
	t.Run("HiddenFromReaders", func(t *testing.T) {
		_, err := db.FindURLByID(ctx, u.ID)
		wantKind(t, err, domain.NotFound)
		urls, total, err := db.FindURLs(ctx, domain.URLFilter{UserID: &owner.ID})
		if err != nil || len(urls) != 0 || total != 0 {
			t.Errorf("FindURLs = %v, %d, %v; want nothing", urls, total, err)
		}
	})
	t.Run("RedirectRowKeptInactive", func(t *testing.T) {
		r, err := db.FindRedirect(ctx, u.ShortCode)
		if err != nil {
			t.Fatal(err)
		}
		if r.Active || r.URLID != u.ID || r.UserID != owner.ID || r.Version != 2 || r.Location != u.OriginalURL {
			t.Errorf("redirect = %+v", r)
		}
	})
	t.Run("SecondDeleteIsNotFound", func(t *testing.T) {
		before := db.pending(t)
		auditsW, err := db.DeleteURL(ctx, u.ID)
		audits := auditsW.Audits
		wantKind(t, err, domain.NotFound)
		if audits != nil || db.pending(t) != before {
			t.Error("a refused delete wrote audits")
		}
	})
	t.Run("UnknownIsNotFound", func(t *testing.T) {
		_, err := db.DeleteURL(ctx, 999999)
		wantKind(t, err, domain.NotFound)
	})
}

func TestFindRedirect(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	owner := db.user(t, "a", "a@example.com")
	u := db.url(t, owner.ID, "https://example.com/a?b=c#d")
	t.Run("Active", func(t *testing.T) {
		r, err := db.FindRedirect(ctx, u.ShortCode)
		want := domain.Redirect{URLID: u.ID, UserID: owner.ID, Location: u.OriginalURL, Active: true, Version: 1}
		if err != nil || r != want {
			t.Errorf("FindRedirect = %+v, %v; want %+v", r, err, want)
		}
	})
	t.Run("CaseSensitive", func(t *testing.T) {
		other := []byte(u.ShortCode)
		for i, c := range other {
			switch {
			case c >= 'a' && c <= 'z':
				other[i] = c - 32
			case c >= 'A' && c <= 'Z':
				other[i] = c + 32
			}
		}
		if string(other) == u.ShortCode {
			t.Skip("code has no letters")
		}
		_, err := db.FindRedirect(ctx, string(other))
		wantKind(t, err, domain.NotFound)
	})
	t.Run("Inactive", func(t *testing.T) {
		if _, err := db.UpdateURL(ctx, u.ID, domain.URLPatch{IsActive: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		r, err := db.FindRedirect(ctx, u.ShortCode)
		if err != nil || r.Active || r.Version != 2 {
			t.Errorf("FindRedirect = %+v, %v; want inactive at version 2", r, err)
		}
	})
	t.Run("UnknownIsNotFound", func(t *testing.T) {
		_, err := db.FindRedirect(ctx, "nosuchcode")
		wantKind(t, err, domain.NotFound)
	})
}
