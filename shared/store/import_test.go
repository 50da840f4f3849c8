package store_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/domain"
)

func row(line int, id int64, username, email string) domain.ImportRow {
	r := domain.ImportRow{Line: line, Username: username, Email: email}
	if id != 0 {
		r.ID = &id
	}
	return r
}

// importChunks imports one file whose rows come in the given chunks, and sums what the
// chunks did.
func importChunks(t *testing.T, db testDB, chunks ...[]domain.ImportRow) domain.ImportChunk {
	t.Helper()
	var sum domain.ImportChunk
	err := db.ImportUsersInChunks(t.Context(), func(imp domain.UserImporter) error {
		for _, rows := range chunks {
			res, err := imp.Add(t.Context(), rows)
			if err != nil {
				return err
			}
			sum.Imported += res.Imported
			sum.Skipped = append(sum.Skipped, res.Skipped...)
			sum.Audits = append(sum.Audits, res.Audits...)
			sum.Stale = append(sum.Stale, res.Stale...)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("import failed as a whole (kind %v): %v", domain.KindOf(err), err)
	}
	return sum
}

// importRows imports one file of one chunk.
func importRows(t *testing.T, db testDB, rows ...domain.ImportRow) domain.ImportChunk {
	t.Helper()
	res, err := db.ImportUsers(t.Context(), rows)
	if err != nil {
		t.Fatalf("import failed as a whole (kind %v): %v", domain.KindOf(err), err)
	}
	return res
}

func skippedLines(res domain.ImportChunk) []int {
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
	first := []domain.ImportRow{
		row(2, 10, "ten", "ten@example.com"),
		row(3, 20, "twenty", "twenty@example.com"),
		row(4, 0, "noid", "noid@example.com"),
		row(5, 30, "ten", "thirty@example.com"), // duplicate usernames are fine
	}
	first[1].CreatedAt = &created

	t.Run("Inserts", func(t *testing.T) {
		res := importRows(t, db, first...)
		if res.Imported != 4 || len(res.Skipped) != 0 {
			t.Fatalf("imported %d, skipped %v; want 4, none", res.Imported, res.Skipped)
		}
		if len(res.Audits) != 4 || len(res.Stale) != 0 {
			t.Fatalf("audits %d, stale %v; want 4 and none (new users have no cached copy)", len(res.Audits), res.Stale)
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
			uW, err := db.FindUserByID(ctx, want.id)
			u := uW.Value
			if err != nil || u.Username != want.name || u.Email != want.email {
				t.Errorf("user %d = %+v, %v; want the imported row with its id", want.id, u, err)
			}
		}
		uW, _ := db.FindUserByID(ctx, 20)
		u := uW.Value
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
		res := importRows(t, db, first...)
		if res.Imported != 4 || len(res.Skipped) != 0 || len(res.Audits) != 0 || len(res.Stale) != 0 {
			t.Fatalf("re-import: imported %d, skipped %v, audits %d, stale %v; want 4, none, 0, none",
				res.Imported, res.Skipped, len(res.Audits), res.Stale)
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
		res := importRows(t, db,
			row(2, 40, "forty", "TEN@example.com"),       // owned by 10 in the database
			row(3, 0, "someone", "twenty@example.com"),   // id-less, owned by 20 under another name
			row(4, 50, "fifty", "fifty@example.com"),     // fine
			row(5, 60, "sixty", "Fifty@Example.com"),     // used by line 4, earlier in the file
			row(6, 0, "anon", "fifty@example.com"),       // the same, id-less
			row(7, 10, "ten-renamed", "ten@example.com"), // used by line 2, skipped as it was
			row(8, 30, "thirty", "thirty@example.com"),   // fine: update of 30
		)
		if got := skippedLines(res); !slices.Equal(got, []int{2, 3, 5, 6, 7}) {
			t.Errorf("skipped lines %v, want [2 3 5 6 7]", got)
		}
		if len(res.Skipped) == 5 && res.Skipped[4].Error != "email already used on line 2" {
			t.Errorf("line 7: %q, want the line that used its email first", res.Skipped[4].Error)
		}
		if res.Imported != 2 {
			t.Errorf("imported %d, want 2", res.Imported)
		}
		if u, _ := db.FindUserByID(ctx, 30); u.Value.Username != "thirty" {
			t.Errorf("user 30 = %+v, want the update of line 8", u)
		}
		for _, id := range []int64{40, 60} {
			if _, err := db.FindUserByID(ctx, id); domain.KindOf(err) != domain.NotFound {
				t.Errorf("skipped user %d was stored (%v)", id, err)
			}
		}
	})
	t.Run("UpdateListsChangedFields", func(t *testing.T) {
		verW, _ := db.FindUserByID(ctx, 20)
		ver := verW.Version
		res := importRows(t, db, row(2, 20, "twenty", "TWENTY@example.com"))
		if len(res.Audits) != 1 || len(res.Stale) != 1 || res.Stale[0] != (domain.UserRef{ID: 20, Version: ver + 1}) {
			t.Fatalf("audits %v, stale %v", res.Audits, res.Stale)
		}
		wantAudit(t, res.Audits[0], domain.EventUserUpdated, nil, ptr(int64(20)), map[string]any{"fields": []string{"email"}})
		uW, _ := db.FindUserByID(ctx, 20)
		u := uW.Value
		if u.Email != "TWENTY@example.com" || !u.CreatedAt.Equal(created) {
			t.Errorf("user 20 = %+v, want new email and the old created_at", u)
		}
	})
	t.Run("RevivesDeletedID", func(t *testing.T) {
		if _, err := db.DeleteUser(ctx, 30); err != nil {
			t.Fatal(err)
		}
		v10, _ := db.FindUserByID(ctx, 10) // any live user: only the revived one is stale
		ver := v10.Version
		res := importRows(t, db, row(2, 30, "back", "back@example.com"), row(3, 10, "ten", "ten@example.com"))
		if res.Imported != 2 || len(res.Audits) != 1 || len(res.Stale) != 1 || res.Stale[0].ID != 30 {
			t.Fatalf("imported %d, audits %d, stale %v; want 2, 1 and user 30", res.Imported, len(res.Audits), res.Stale)
		}
		uW, err := db.FindUserByID(ctx, 30)
		u := uW.Value
		if err != nil || u.Email != "back@example.com" {
			t.Errorf("user 30 = %+v, %v", u, err)
		}
		if v, _ := db.FindUserByID(ctx, 10); v.Version != ver {
			t.Errorf("unchanged user 10 went from version %d to %d", ver, v.Version)
		}
	})
}

// TestImportUsersIDOneThenCreate: a file whose ids start at 1 on an empty database, as
// the seed's users.csv does; the next POST /users must still get a free id.
func TestImportUsersIDOneThenCreate(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	if res := importRows(t, db, row(2, 1, "one", "one@example.com")); res.Imported != 1 {
		t.Fatalf("import: %+v", res)
	}
	uW, err := db.CreateUser(t.Context(), "two", "two@example.com")
	u := uW.Value
	if err != nil {
		t.Fatalf("CreateUser after importing id 1: %v (kind %v)", err, domain.KindOf(err))
	}
	if u.ID <= 1 {
		t.Errorf("CreateUser got id %d, want above 1", u.ID)
	}
}

// TestImportUsersMaxIDThenCreate: the largest id a client may give is imported, and
// creating a user still works afterwards; an id above it is a skipped row, not a file
// that fails or a sequence at its end.
func TestImportUsersMaxIDThenCreate(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	res := importRows(t, db,
		row(2, domain.MaxClientID, "top", "top@example.com"),
		row(3, domain.MaxClientID+1, "over", "over@example.com"),
		row(4, math.MaxInt64, "max", "max@example.com"),
	)
	if res.Imported != 1 || !slices.Equal(skippedLines(res), []int{3, 4}) {
		t.Fatalf("imported %d, skipped %v; want 1 and lines 3, 4", res.Imported, res.Skipped)
	}
	uW, err := db.CreateUser(t.Context(), "next", "next@example.com")
	u := uW.Value
	if err != nil {
		t.Fatalf("CreateUser after importing id %d: %v (kind %v)", int64(domain.MaxClientID), err, domain.KindOf(err))
	}
	if u.ID != domain.MaxClientID+1 {
		t.Errorf("CreateUser got id %d, want %d", u.ID, int64(domain.MaxClientID+1))
	}
}

// TestImportUsersUnstorableTextIsSkippedRow: NUL bytes and invalid UTF-8 reach the store
// only if a caller let them through; they cost the row, not the file.
func TestImportUsersUnstorableTextIsSkippedRow(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	res := importRows(t, db,
		row(2, 0, "nul\x00", "nul@example.com"),
		row(3, 0, "bad", "bad\xff@example.com"),
		row(4, 0, "fine", "fine@example.com"),
	)
	if res.Imported != 1 || !slices.Equal(skippedLines(res), []int{2, 3}) {
		t.Fatalf("imported %d, skipped %v; want 1 and lines 2, 3", res.Imported, res.Skipped)
	}
}

// TestImportUsersChunksSeeEarlierChunks: the checks against earlier rows of the file hold
// across chunks, where those rows are no longer in memory.
func TestImportUsersChunksSeeEarlierChunks(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	res := importChunks(t, db,
		[]domain.ImportRow{row(2, 0, "ann", "ann@example.com"), row(3, 7, "bo", "bo@example.com")},
		[]domain.ImportRow{
			row(4, 0, "ann", "ANN@example.com"),   // the email of line 2
			row(5, 7, "bo2", "bo2@example.com"),   // the id of line 3
			row(6, 80, "cy", "cy@example.com"),    // fine
			row(7, 0, "ann", "cy@example.com"),    // the email of line 6, same chunk
			row(8, 90, "dee", "Dee@example.com"),  // fine
			row(9, 90, "dee", "dee2@example.com"), // the id of line 8, same chunk
			row(10, 8, "eve", "eve@example.com"),  // the user line 2 made (7 moved the sequence to 8)
			row(11, 8, "eve", "eve2@example.com"), // the id of line 10
			row(12, 10, "ten", "ten@example.com"), // fine
		},
	)
	if res.Imported != 5 {
		t.Errorf("imported %d, want 5", res.Imported)
	}
	want := []domain.RowError{
		{Row: 4, Error: "email already used on line 2"},
		{Row: 5, Error: "id already used on line 3"},
		{Row: 7, Error: "email already used on line 6"},
		{Row: 9, Error: "id already used on line 8"},
		{Row: 10, Error: "the email of user 8 was used on line 2"},
		{Row: 11, Error: "id already used on line 10"},
	}
	if !slices.Equal(res.Skipped, want) {
		t.Errorf("skipped %v, want %v", res.Skipped, want)
	}
	if u, err := db.FindUserByID(t.Context(), 7); err != nil || u.Value.Username != "bo" {
		t.Errorf("user 7 = %+v, %v; want line 3's row", u, err)
	}
}

// TestImportUsersIDlessRowBeforeExplicitID: a row without an id takes its id from the
// sequence; an explicit id further on in the same chunk must not be handed out to it.
func TestImportUsersIDlessRowBeforeExplicitID(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	res := importRows(t, db, row(2, 0, "auto", "auto@example.com"), row(3, 1, "one", "one@example.com"), row(4, 2, "two", "two@example.com"))
	if res.Imported != 3 || len(res.Skipped) != 0 {
		t.Fatalf("imported %d, skipped %v", res.Imported, res.Skipped)
	}
	users, _, err := db.FindUsers(t.Context(), domain.Page{})
	if err != nil || len(users) != 3 {
		t.Fatalf("users %v, %v; want 3", users, err)
	}
	if users[0].Email != "one@example.com" || users[1].Email != "two@example.com" || users[2].Email != "auto@example.com" || users[2].ID <= 2 {
		t.Errorf("users %v: want 1 and 2 as given, the id-less row above them", users)
	}
}

// TestImportUsersEmailMovesWithinChunk: one row gives up an email and a later row of the
// same chunk takes it.
func TestImportUsersEmailMovesWithinChunk(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	a, b := db.user(t, "a", "a@example.com"), db.user(t, "b", "b@example.com")
	res := importRows(t, db,
		row(2, a.ID, "a", "c@example.com"), // frees a@
		row(3, b.ID, "b", "a@example.com"), // takes a@, frees b@
		row(4, 0, "new", "b@example.com"),  // takes b@
	)
	if res.Imported != 3 || len(res.Skipped) != 0 {
		t.Fatalf("imported %d, skipped %v; want 3, none", res.Imported, res.Skipped)
	}
	for id, email := range map[int64]string{a.ID: "c@example.com", b.ID: "a@example.com"} {
		if u, err := db.FindUserByID(t.Context(), id); err != nil || u.Value.Email != email {
			t.Errorf("user %d = %+v, %v; want %s", id, u, err, email)
		}
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
	if _, err := db.DeleteUser(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	owner := db.user(t, "owner", "shared@example.com")
	res := importRows(t, db,
		row(2, old.ID, "old", "moved@example.com"), // revives the deleted user under a new email
		row(3, 500, "thief", "shared@example.com"), // still owned by owner: skipped
	)
	if res.Imported != 1 || !slices.Equal(skippedLines(res), []int{3}) {
		t.Errorf("imported %d, skipped %v; want 1 and [3]", res.Imported, skippedLines(res))
	}
	if u, err := db.FindUserByID(ctx, owner.ID); err != nil || u.Value.Email != "shared@example.com" {
		t.Errorf("owner = %+v, %v", u, err)
	}
}

// TestImportUsersFailureStoresNothing: a file that fails after some chunks went in, or
// whose deadline passes between chunks, leaves no user and no outbox row behind.
func TestImportUsersFailureStoresNothing(t *testing.T) {
	t.Parallel()
	boom := errors.New("the upload broke")
	for _, c := range []struct {
		name string
		ctx  func(context.Context) (context.Context, context.CancelFunc)
		then func(ctx context.Context) error
		want error
	}{
		{"ErrorAfterAChunk", func(ctx context.Context) (context.Context, context.CancelFunc) { return context.WithCancel(ctx) },
			func(context.Context) error { return boom }, boom},
		{"DeadlineAfterAChunk", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Second)
		}, func(ctx context.Context) error { <-ctx.Done(); return nil }, context.DeadlineExceeded},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db := newDB(t)
			ctx, cancel := c.ctx(t.Context())
			defer cancel()
			err := db.ImportUsersInChunks(ctx, func(imp domain.UserImporter) error {
				if _, err := imp.Add(ctx, []domain.ImportRow{row(2, 5, "five", "five@example.com"), row(3, 0, "x", "x@example.com")}); err != nil {
					return err
				}
				return c.then(ctx)
			})
			if !errors.Is(err, c.want) {
				t.Fatalf("import = %v, want %v", err, c.want)
			}
			if n := db.count(t, `SELECT count(*) FROM users`); n != 0 {
				t.Errorf("%d users stored by a failed import", n)
			}
			if p := db.pending(t); p != 0 {
				t.Errorf("%d outbox rows left by a failed import", p)
			}
			if u, err := db.CreateUser(t.Context(), "after", "five@example.com"); err != nil {
				t.Errorf("CreateUser after the failed import: %+v, %v", u, err)
			}
		})
	}
}

// TestImportUsersUserNamedTwiceChangesOnce: a file that names one user by email and then
// by id keeps the first and skips the second, so importing it again changes nothing.
func TestImportUsersUserNamedTwiceChangesOnce(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ann := db.user(t, "ann", "ann@example.com")
	rows := []domain.ImportRow{
		row(2, 0, "ann", "ann@example.com"),    // ann, found by email
		row(3, ann.ID, "bo", "bo@example.com"), // ann again, by id
		row(4, 0, "cy", "cy@example.com"),      // a new user
		row(5, 0, "cy", "dee@example.com"),     // fine: another new user
	}
	for i := range 2 {
		res := importRows(t, db, rows...)
		if res.Imported != 3 || !slices.Equal(skippedLines(res), []int{3}) {
			t.Fatalf("import %d: imported %d, skipped %v; want 3 and line 3", i+1, res.Imported, res.Skipped)
		}
		if want := 2 * (1 - i); len(res.Audits) != want {
			t.Errorf("import %d wrote %d events, want %d", i+1, len(res.Audits), want)
		}
	}
	if u, _ := db.FindUserByID(t.Context(), ann.ID); u.Value.Email != "ann@example.com" {
		t.Errorf("ann = %+v, want her as she was", u)
	}
}
