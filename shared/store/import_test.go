package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/store"
)

func row(line int, id int64, username, email string) store.ImportRow {
	r := store.ImportRow{Line: line, Username: username, Email: email}
	if id != 0 {
		r.ID = &id
	}
	return r
}

func skippedLines(res store.ImportResult) []int {
	var lines []int
	for _, s := range res.Skipped {
		lines = append(lines, s.Row)
	}
	return lines
}

func TestImportUsers(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	created := time.Date(2025, 7, 18, 23, 45, 12, 0, time.UTC)
	first := []store.ImportRow{
		row(2, 10, "ten", "ten@example.com"),
		row(3, 20, "twenty", "twenty@example.com"),
		row(4, 0, "noid", "noid@example.com"),
		row(5, 30, "ten", "thirty@example.com"), // duplicate usernames are fine
	}
	first[1].CreatedAt = &created

	t.Run("Inserts", func(t *testing.T) {
		res, err := db.ImportUsers(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if res.Imported != 4 || len(res.Skipped) != 0 {
			t.Fatalf("imported %d, skipped %v; want 4, none", res.Imported, res.Skipped)
		}
		if len(res.Audits) != 4 || len(res.Changed) != 4 {
			t.Fatalf("audits %d, changed %d; want 4 and 4", len(res.Audits), len(res.Changed))
		}
		wantAudit(t, res.Audits[0], domain.EventUserCreated, nil, ptr(int64(10)), map[string]string{"source": "bulk_import"})
		if db.pending(t) != 4 {
			t.Errorf("outbox pending = %d, want 4", db.pending(t))
		}
		for _, want := range []struct {
			id    int64
			name  string
			email string
		}{{10, "ten", "ten@example.com"}, {20, "twenty", "twenty@example.com"}, {30, "ten", "thirty@example.com"}} {
			u, _, err := db.FindUserByID(ctx, want.id)
			if err != nil || u.Username != want.name || u.Email != want.email {
				t.Errorf("user %d = %+v, %v; want the imported row with its id", want.id, u, err)
			}
		}
		u, _, _ := db.FindUserByID(ctx, 20)
		if !u.CreatedAt.Equal(created) {
			t.Errorf("created_at = %v, want the file's %v", u.CreatedAt, created)
		}
		users, _, _ := db.FindUsers(ctx, domain.Page{})
		if len(users) != 4 {
			t.Errorf("%d users stored, want 4 (the id-less row included)", len(users))
		}
	})
	t.Run("ReimportChangesNothing", func(t *testing.T) {
		before, _, _ := db.FindUsers(ctx, domain.Page{})
		pending := db.pending(t)
		res, err := db.ImportUsers(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if res.Imported != 4 || len(res.Skipped) != 0 || len(res.Audits) != 0 || len(res.Changed) != 0 {
			t.Fatalf("re-import: imported %d, skipped %v, audits %d, changed %v; want 4, none, 0, none",
				res.Imported, res.Skipped, len(res.Audits), res.Changed)
		}
		after, _, _ := db.FindUsers(ctx, domain.Page{})
		if !slices.Equal(before, after) {
			t.Errorf("users changed:\n%v\n%v", before, after)
		}
		if db.pending(t) != pending {
			t.Error("re-import wrote to the outbox")
		}
	})
	t.Run("CreateUserGetsHigherID", func(t *testing.T) {
		u := db.user(t, "new", "new@example.com")
		if u.ID <= 30 {
			t.Errorf("CreateUser got id %d, want above every imported id (30)", u.ID)
		}
	})
	t.Run("SkipsEmailOfOtherUser", func(t *testing.T) {
		res, err := db.ImportUsers(ctx, []store.ImportRow{
			row(2, 40, "forty", "TEN@example.com"),       // owned by 10 in the database
			row(3, 0, "someone", "twenty@example.com"),   // id-less, owned by 20 under another name
			row(4, 50, "fifty", "fifty@example.com"),     // fine
			row(5, 60, "sixty", "Fifty@Example.com"),     // owned by 50, earlier in the file
			row(6, 0, "anon", "fifty@example.com"),       // the same, id-less
			row(7, 10, "ten-renamed", "ten@example.com"), // fine: update of 10
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := skippedLines(res); !slices.Equal(got, []int{2, 3, 5, 6}) {
			t.Errorf("skipped lines %v, want [2 3 5 6]", got)
		}
		if res.Imported != 2 {
			t.Errorf("imported %d, want 2", res.Imported)
		}
		for _, id := range []int64{40, 60} {
			if _, _, err := db.FindUserByID(ctx, id); domain.KindOf(err) != domain.NotFound {
				t.Errorf("skipped user %d was stored (%v)", id, err)
			}
		}
	})
	t.Run("UpdateListsChangedFields", func(t *testing.T) {
		_, ver, _ := db.FindUserByID(ctx, 20)
		res, err := db.ImportUsers(ctx, []store.ImportRow{row(2, 20, "twenty", "TWENTY@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Audits) != 1 || len(res.Changed) != 1 || res.Changed[0] != (store.Versioned{ID: 20, Version: ver + 1}) {
			t.Fatalf("audits %v, changed %v", res.Audits, res.Changed)
		}
		wantAudit(t, res.Audits[0], domain.EventUserUpdated, nil, ptr(int64(20)), map[string]any{"fields": []string{"email"}})
		u, _, _ := db.FindUserByID(ctx, 20)
		if u.Email != "TWENTY@example.com" || !u.CreatedAt.Equal(created) {
			t.Errorf("user 20 = %+v, want new email and the old created_at", u)
		}
	})
	t.Run("RevivesDeletedID", func(t *testing.T) {
		if _, _, _, err := db.DeleteUser(ctx, 30); err != nil {
			t.Fatal(err)
		}
		res, err := db.ImportUsers(ctx, []store.ImportRow{row(2, 30, "back", "back@example.com")})
		if err != nil {
			t.Fatal(err)
		}
		if res.Imported != 1 || len(res.Audits) != 1 {
			t.Fatalf("imported %d, audits %d; want 1 and 1", res.Imported, len(res.Audits))
		}
		u, _, err := db.FindUserByID(ctx, 30)
		if err != nil || u.Email != "back@example.com" {
			t.Errorf("user 30 = %+v, %v", u, err)
		}
	})
}

// TestImportUsersIDOneThenCreate: a file whose ids start at 1 on an empty database, as
// the seed's users.csv does; the next POST /users must still get a free id.
func TestImportUsersIDOneThenCreate(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	res, err := db.ImportUsers(t.Context(), []store.ImportRow{row(2, 1, "one", "one@example.com")})
	if err != nil || res.Imported != 1 {
		t.Fatalf("import: %+v, %v", res, err)
	}
	u, _, err := db.CreateUser(t.Context(), "two", "two@example.com")
	if err != nil {
		t.Fatalf("CreateUser after importing id 1: %v (kind %v)", err, domain.KindOf(err))
	}
	if u.ID <= 1 {
		t.Errorf("CreateUser got id %d, want above 1", u.ID)
	}
}

// TestImportUsersDeletedOwnerDoesNotFreeLiveEmail: reviving a deleted user whose old
// email now belongs to someone else must not make that email look free to later rows;
// one bad row must never fail the whole file.
func TestImportUsersDeletedOwnerDoesNotFreeLiveEmail(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	old := db.user(t, "old", "shared@example.com")
	if _, _, _, err := db.DeleteUser(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	owner := db.user(t, "owner", "shared@example.com")
	res, err := db.ImportUsers(ctx, []store.ImportRow{
		row(2, old.ID, "old", "moved@example.com"), // revives the deleted user under a new email
		row(3, 500, "thief", "shared@example.com"), // still owned by owner: skipped
	})
	if err != nil {
		t.Fatalf("import failed as a whole (kind %v): %v", domain.KindOf(err), err)
	}
	if res.Imported != 1 || !slices.Equal(skippedLines(res), []int{3}) {
		t.Errorf("imported %d, skipped %v; want 1 and [3]", res.Imported, skippedLines(res))
	}
	if u, _, err := db.FindUserByID(ctx, owner.ID); err != nil || u.Email != "shared@example.com" {
		t.Errorf("owner = %+v, %v", u, err)
	}
}
