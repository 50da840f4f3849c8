package store_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/domain"
)

func TestCreateUser(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()

	t.Run("Stored", func(t *testing.T) {
		uW, err := db.CreateUser(ctx, "alice", "Alice@Example.com")
		u, audits := uW.Value, uW.Audits
		if err != nil {
			t.Fatal(err)
		}
		if u.ID < 1 || u.Username != "alice" || u.Email != "Alice@Example.com" {
			t.Errorf("user = %+v", u)
		}
		if len(audits) != 1 {
			t.Fatalf("audits = %d, want 1", len(audits))
		}
		wantAudit(t, audits[0], domain.EventUserCreated, nil, &u.ID, map[string]any{})
		gotW, err := db.FindUserByID(ctx, u.ID)
		got, ver := gotW.Value, gotW.Version
		if err != nil {
			t.Fatal(err)
		}
		if ver != 1 {
			t.Errorf("version = %d, want 1", ver)
		}
		// Every read shows the same timestamp string as the write that made it.
		if got != u || got.CreatedAt.Format(time.RFC3339Nano) != u.CreatedAt.Format(time.RFC3339Nano) {
			t.Errorf("read %+v, wrote %+v", got, u)
		}
		if u.CreatedAt.Location() != time.UTC {
			t.Errorf("created_at location = %v, want UTC", u.CreatedAt.Location())
		}
	})
	t.Run("UsernamesNotUnique", func(t *testing.T) {
		db.user(t, "bob", "bob1@example.com")
		db.user(t, "bob", "bob2@example.com")
	})
	t.Run("DuplicateEmailCaseInsensitive", func(t *testing.T) {
		db.user(t, "carol", "carol@example.com")
		before := db.pending(t)
		for _, email := range []string{"carol@example.com", "CAROL@example.COM"} {
			auditsW, err := db.CreateUser(ctx, "other", email)
			audits := auditsW.Audits
			wantKind(t, err, domain.Conflict)
			if audits != nil {
				t.Errorf("a failed create returned audits %v", audits)
			}
		}
		if after := db.pending(t); after != before {
			t.Errorf("outbox grew from %d to %d on failed creates", before, after)
		}
	})
	t.Run("FindUnknownIsNotFound", func(t *testing.T) {
		_, err := db.FindUserByID(ctx, 999999)
		wantKind(t, err, domain.NotFound)
	})
}

// TestCreateUserRace: of two concurrent creates with the same email (in different case),
// exactly one wins and the other is a Conflict.
func TestCreateUserRace(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	for round := range 10 {
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errs  = make([]error, 2)
		)
		for i, email := range []string{fmt.Sprintf("race%d@example.com", round), fmt.Sprintf("RACE%d@Example.com", round)} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = db.CreateUser(t.Context(), "racer", email)
			}()
		}
		close(start)
		wg.Wait()
		wins, conflicts := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case domain.KindOf(err) == domain.Conflict:
				conflicts++
			default:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if wins != 1 || conflicts != 1 {
			t.Fatalf("round %d: %d wins, %d conflicts; want 1 and 1", round, wins, conflicts)
		}
	}
	if n := db.count(t, `SELECT count(*) FROM users`); n != 10 {
		t.Errorf("%d users stored, want 10", n)
	}
}

func TestFindUsersPaging(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	var ids []int64
	for i := range 5 {
		ids = append(ids, db.user(t, "u", fmt.Sprintf("u%d@example.com", i)).ID)
	}
	gone := db.user(t, "gone", "gone@example.com")
	if _, err := db.DeleteUser(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		page domain.Page
		want []int64
	}{
		{"Everything", domain.Page{}, ids},
		{"FirstPage", domain.Page{Number: 1, PerPage: 2}, ids[:2]},
		{"SecondPage", domain.Page{Number: 2, PerPage: 2}, ids[2:4]},
		{"LastPartialPage", domain.Page{Number: 3, PerPage: 2}, ids[4:]},
		{"PastTheEnd", domain.Page{Number: 4, PerPage: 2}, nil},
		{"FarPastTheEnd", domain.Page{Number: 1000, PerPage: 1000}, nil},
		{"OnePageHoldsAll", domain.Page{Number: 1, PerPage: 1000}, ids},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			users, total, err := db.FindUsers(ctx, tc.page)
			if err != nil {
				t.Fatal(err)
			}
			if total != 5 {
				t.Errorf("total = %d, want 5 (deleted users not counted)", total)
			}
			got := make([]int64, len(users))
			for i, u := range users {
				got[i] = u.ID
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("ids = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("EmptyTable", func(t *testing.T) {
		empty := newDB(t)
		users, total, err := empty.FindUsers(ctx, domain.Page{Number: 2, PerPage: 10})
		if err != nil || len(users) != 0 || total != 0 {
			t.Errorf("got %v, %d, %v; want nothing", users, total, err)
		}
	})
}

func TestUpdateUser(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	u := db.user(t, "dave", "dave@example.com")
	db.user(t, "erin", "erin@example.com")

	t.Run("NoOpWritesNothing", func(t *testing.T) {
		before := db.pending(t)
		for _, p := range []domain.UserPatch{{}, {Username: ptr("dave")}, {Email: ptr("dave@example.com"), Username: ptr("dave")}} {
			gotW, err := db.UpdateUser(ctx, u.ID, p)
			got, ver, audits := gotW.Value, gotW.Version, gotW.Audits
			if err != nil {
				t.Fatal(err)
			}
			if len(audits) != 0 {
				t.Errorf("no-op %+v returned audits %v", p, audits)
			}
			if ver != 1 || got != u {
				t.Errorf("no-op %+v: got %+v version %d, want %+v version 1", p, got, ver, u)
			}
		}
		if after := db.pending(t); after != before {
			t.Errorf("outbox grew from %d to %d on no-ops", before, after)
		}
	})
	t.Run("ChangedFieldsListed", func(t *testing.T) {
		cases := []struct {
			name   string
			patch  domain.UserPatch
			fields []string
		}{
			{"Username", domain.UserPatch{Username: ptr("David")}, []string{"username"}},
			{"Email", domain.UserPatch{Email: ptr("david@example.com")}, []string{"email"}},
			{"EmailCaseOnly", domain.UserPatch{Email: ptr("David@example.com")}, []string{"email"}},
			{"Both", domain.UserPatch{Username: ptr("D"), Email: ptr("d@example.com")}, []string{"username", "email"}},
			{"OnlyOneOfTwoChanged", domain.UserPatch{Username: ptr("D"), Email: ptr("dd@example.com")}, []string{"email"}},
		}
		ver := int64(1)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				gotW, err := db.UpdateUser(ctx, u.ID, tc.patch)
				got, newVer, audits := gotW.Value, gotW.Version, gotW.Audits
				if err != nil {
					t.Fatal(err)
				}
				if newVer != ver+1 {
					t.Errorf("version = %d, want %d", newVer, ver+1)
				}
				ver = newVer
				if len(audits) != 1 {
					t.Fatalf("audits = %v, want one user_updated", audits)
				}
				wantAudit(t, audits[0], domain.EventUserUpdated, nil, &u.ID, map[string]any{"fields": tc.fields})
				readW, err := db.FindUserByID(ctx, u.ID)
				read, readVer := readW.Value, readW.Version
				if err != nil || read != got || readVer != newVer {
					t.Errorf("read %+v v%d (%v), update returned %+v v%d", read, readVer, err, got, newVer)
				}
				if !got.CreatedAt.Equal(u.CreatedAt) {
					t.Errorf("created_at moved from %v to %v", u.CreatedAt, got.CreatedAt)
				}
			})
		}
	})
	t.Run("EmailOfOtherUserIsConflict", func(t *testing.T) {
		beforeW, _ := db.FindUserByID(ctx, u.ID)
		before := beforeW.Value
		auditsW, err := db.UpdateUser(ctx, u.ID, domain.UserPatch{Username: ptr("changed"), Email: ptr("ERIN@example.com")})
		audits := auditsW.Audits
		wantKind(t, err, domain.Conflict)
		if audits != nil {
			t.Errorf("audits = %v on a failed update", audits)
		}
		afterW, _ := db.FindUserByID(ctx, u.ID)
		after := afterW.Value
		if after != before {
			t.Errorf("a failed update changed %+v to %+v", before, after)
		}
	})
	t.Run("UnknownIsNotFound", func(t *testing.T) {
		_, err := db.UpdateUser(ctx, 999999, domain.UserPatch{Username: ptr("x")})
		wantKind(t, err, domain.NotFound)
	})
	t.Run("DeletedIsNotFound", func(t *testing.T) {
		g := db.user(t, "gone", "gone@example.com")
		if _, err := db.DeleteUser(ctx, g.ID); err != nil {
			t.Fatal(err)
		}
		_, err := db.UpdateUser(ctx, g.ID, domain.UserPatch{Username: ptr("x")})
		wantKind(t, err, domain.NotFound)
	})
}

func TestDeleteUser(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	owner := db.user(t, "frank", "frank@example.com")
	other := db.user(t, "grace", "grace@example.com")
	live := db.url(t, owner.ID, "https://example.com/1")
	inactive := db.url(t, owner.ID, "https://example.com/2")
	if _, err := db.UpdateURL(ctx, inactive.ID, domain.URLPatch{IsActive: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	already := db.url(t, owner.ID, "https://example.com/3")
	if _, err := db.DeleteURL(ctx, already.ID); err != nil {
		t.Fatal(err)
	}
	kept := db.url(t, other.ID, "https://example.com/4")
	before := db.pending(t)

	goneW, err := db.DeleteUser(ctx, owner.ID)
	gone, ver, audits := goneW.Value.URLs, goneW.Version, goneW.Audits
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ReturnsLiveURLs", func(t *testing.T) {
		if len(gone) != 2 || gone[0].ID != live.ID || gone[1].ID != inactive.ID {
			t.Fatalf("gone = %+v, want urls %d and %d", gone, live.ID, inactive.ID)
		}
		if gone[0].ShortCode != live.ShortCode || gone[0].Version != 2 || gone[1].Version != 3 {
			t.Errorf("gone = %+v, want their codes and bumped versions", gone)
		}
		if ver != 2 {
			t.Errorf("user version = %d, want 2", ver)
		}
	})
	t.Run("Audits", func(t *testing.T) {
		if len(audits) != 3 {
			t.Fatalf("audits = %d, want 2 deleted + 1 user_deleted", len(audits))
		}
		reason := map[string]any{"reason": "user_deleted"}
		wantAudit(t, audits[0], domain.EventDeleted, &live.ID, &owner.ID, reason)
		wantAudit(t, audits[1], domain.EventDeleted, &inactive.ID, &owner.ID, reason)
		wantAudit(t, audits[2], domain.EventUserDeleted, nil, &owner.ID, map[string]any{})
		if after := db.pending(t); after != before+3 {
			t.Errorf("outbox grew by %d, want 3", after-before)
		}
	})
	t.Run("UserGone", func(t *testing.T) {
		_, err := db.FindUserByID(ctx, owner.ID)
		wantKind(t, err, domain.NotFound)
		_, err = db.DeleteUser(ctx, owner.ID)
		wantKind(t, err, domain.NotFound)
	})
	t.Run("URLsGoneEverywhere", func(t *testing.T) {
		for _, u := range []domain.URL{live, inactive, already} {
			if _, err := db.FindURLByID(ctx, u.ID); domain.KindOf(err) != domain.NotFound {
				t.Errorf("FindURLByID(%d) err = %v, want NotFound", u.ID, err)
			}
			r, err := db.FindRedirect(ctx, u.ShortCode)
			if err != nil || r.Active {
				t.Errorf("FindRedirect(%s) = %+v, %v; want inactive", u.ShortCode, r, err)
			}
		}
		urls, total, err := db.FindURLs(ctx, domain.URLFilter{})
		if err != nil || total != 1 || len(urls) != 1 || urls[0].ID != kept.ID {
			t.Errorf("FindURLs = %v, %d, %v; want only the other user's url", urls, total, err)
		}
		_, err = db.CreateURL(ctx, domain.NewURL{UserID: owner.ID, OriginalURL: "https://example.com/5"})
		wantKind(t, err, domain.NotFound)
	})
	t.Run("EventsKeepUserID", func(t *testing.T) {
		db.makeDue(t)
		if _, err := db.DrainOutbox(ctx, 100); err != nil {
			t.Fatal(err)
		}
		events, _, err := db.FindEvents(ctx, domain.EventFilter{UserID: &owner.ID, EventType: domain.EventDeleted})
		if err != nil || len(events) != 3 { // two by the user deletion, one by the earlier URL delete
			t.Errorf("deleted events of the user = %d (%v), want 3", len(events), err)
		}
	})
	t.Run("UnknownIsNotFound", func(t *testing.T) {
		_, err := db.DeleteUser(ctx, 999999)
		wantKind(t, err, domain.NotFound)
	})
}

func TestEmailReusableAfterDelete(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx := t.Context()
	first := db.user(t, "henry", "henry@example.com")
	if _, err := db.DeleteUser(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	second := db.user(t, "henry2", "HENRY@example.com")
	if second.ID == first.ID {
		t.Errorf("new user reused id %d", first.ID)
	}
	// And the new owner is protected again.
	_, err := db.CreateUser(ctx, "x", "henry@example.com")
	wantKind(t, err, domain.Conflict)
	// An email can also move to a user whose previous owner was deleted.
	third := db.user(t, "ivy", "ivy@example.com")
	if _, err := db.DeleteUser(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateUser(ctx, third.ID, domain.UserPatch{Email: ptr("henry@example.com")}); err != nil {
		t.Errorf("UpdateUser to a freed email: %v", err)
	}
}
