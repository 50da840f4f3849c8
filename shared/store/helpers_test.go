package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
	"github.com/urlshort/shortener/shared/store/storetest"
)

const source = "/shortener/test"

// testDB is a store on a fresh database plus a raw connection to the same database, for
// the checks and nudges (making outbox rows due) that the store has no method for.
type testDB struct {
	*store.Store
	conn *pgx.Conn
}

func newDB(t *testing.T) testDB {
	t.Helper()
	url := storetest.URL(t)
	st, err := store.Open(t.Context(), store.Options{URL: url, MaxConns: 20}, events.NewAuditor("test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return testDB{st, conn}
}

// exec runs raw SQL and returns the rows it affected.
func (db testDB) exec(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	tag, err := db.conn.Exec(t.Context(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag.RowsAffected()
}

// count runs a count query.
func (db testDB) count(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// makeDue lets a relay or drain take every outbox row now, instead of after the grace
// period left to the writing process.
func (db testDB) makeDue(t *testing.T) {
	t.Helper()
	db.exec(t, `UPDATE outbox SET next_attempt_at = now()`)
}

func (db testDB) pending(t *testing.T) int64 {
	t.Helper()
	n, _, err := db.OutboxStats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (db testDB) user(t *testing.T, name, email string) domain.User {
	t.Helper()
	uW, err := db.CreateUser(t.Context(), name, email)
	u := uW.Value
	if err != nil {
		t.Fatalf("CreateUser(%s, %s): %v", name, email, err)
	}
	return u
}

func (db testDB) url(t *testing.T, userID int64, original string) domain.URL {
	t.Helper()
	uW, err := db.CreateURL(t.Context(), domain.NewURL{UserID: userID, OriginalURL: original})
	u := uW.Value
	if err != nil {
		t.Fatalf("CreateURL(%d, %s): %v", userID, original, err)
	}
	return u
}

// wantKind fails unless err has kind k.
func wantKind(t *testing.T, err error, k domain.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want kind %v", k)
	}
	if got := domain.KindOf(err); got != k {
		t.Fatalf("kind = %v (%v), want %v", got, err, k)
	}
}

// wantAudit checks one audit event: its type, ids and details.
func wantAudit(t *testing.T, a domain.Audit, eventType string, urlID, userID *int64, details any) {
	t.Helper()
	if a.EventType != eventType {
		t.Errorf("event_type = %q, want %q", a.EventType, eventType)
	}
	if a.Source != source {
		t.Errorf("source = %q, want %q", a.Source, source)
	}
	if len(a.EventID) != 36 {
		t.Errorf("event id %q is not a UUID", a.EventID)
	}
	if a.Timestamp.IsZero() || a.Timestamp.Location().String() != "UTC" {
		t.Errorf("timestamp = %v, want a UTC time", a.Timestamp)
	}
	if !equalID(a.URLID, urlID) {
		t.Errorf("url_id = %v, want %v", show(a.URLID), show(urlID))
	}
	if !equalID(a.UserID, userID) {
		t.Errorf("user_id = %v, want %v", show(a.UserID), show(userID))
	}
	var got, want any
	if err := json.Unmarshal(a.Details, &got); err != nil {
		t.Fatalf("details %s: %v", a.Details, err)
	}
	b, _ := json.Marshal(details)
	_ = json.Unmarshal(b, &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("details = %s, want %s", a.Details, b)
	}
}

func equalID(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func show(p *int64) string {
	if p == nil {
		return "null"
	}
	return fmt.Sprint(*p)
}

func ptr[T any](v T) *T { return &v }
