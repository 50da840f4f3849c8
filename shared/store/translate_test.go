package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

// TestServerErrorsClassifiedByCause sends the server what it refuses and checks that each
// refusal comes back as the kind its cause calls for: the client's values are a 4xx, the
// server's inability to serve is Unavailable, never an unclassified (500) error.
func TestServerErrorsClassifiedByCause(t *testing.T) {
	db := newDB(t)
	ctx := t.Context()
	u := db.user(t, "ada", "ada@example.com")
	l := db.url(t, u.ID, "https://example.com/")

	t.Run("NULInTextIsBadRequest", func(t *testing.T) {
		_, err := db.CreateUser(ctx, "a\x00b", "nul@example.com")
		wantKind(t, err, domain.BadRequest)
	})
	t.Run("InvalidUTF8IsBadRequest", func(t *testing.T) {
		_, err := db.FindRedirect(ctx, "\xff\xfe")
		wantKind(t, err, domain.BadRequest)
	})
	t.Run("NULInFilterIsBadRequest", func(t *testing.T) {
		_, _, err := db.FindEvents(ctx, domain.EventFilter{EventType: "\x00"})
		wantKind(t, err, domain.BadRequest)
	})
	t.Run("NumberPostgresCannotHoldIsBadRequest", func(t *testing.T) {
		_, err := db.CreateEvent(ctx, domain.NewEvent{EventType: "x", URLID: l.ID, Details: json.RawMessage(`{"n":1e999999}`)})
		wantKind(t, err, domain.BadRequest)
	})
	t.Run("EscapedNULInJSONIsBadRequest", func(t *testing.T) {
		_, err := db.CreateEvent(ctx, domain.NewEvent{EventType: "x", URLID: l.ID, Details: json.RawMessage(`{"k":"\u0000"}`)})
		wantKind(t, err, domain.BadRequest)
	})
	t.Run("TooManyConnectionsIsUnavailable", func(t *testing.T) {
		// A role allowed no connections gets the server's too_many_connections (53300),
		// the answer a server at max_connections gives.
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		role := "limited_" + hex.EncodeToString(b)
		db.exec(t, `CREATE ROLE `+role+` LOGIN CONNECTION LIMIT 0`)
		t.Cleanup(func() { _, _ = db.conn.Exec(context.Background(), `DROP ROLE IF EXISTS `+role) })
		cu, err := url.Parse(storetest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		cu.User = url.User(role)
		st, err := store.Open(ctx, store.Options{URL: cu.String()}, events.NewAuditor("test"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		_, err = st.FindUserByID(ctx, 1)
		wantKind(t, err, domain.Unavailable)
	})
	t.Run("CallerGoneIsNotUnavailable", func(t *testing.T) {
		gone, cancel := context.WithCancel(ctx)
		cancel()
		_, err := db.FindUserByID(gone, u.ID)
		if k := domain.KindOf(err); k == domain.Unavailable || err == nil {
			t.Fatalf("cancelled call: kind %v, err %v; want the cancellation itself", k, err)
		}
	})
}
