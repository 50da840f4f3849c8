// Package store is the only package that talks to PostgreSQL. Its methods are domain
// operations with their SQL beside them; every mutation writes its audit events to the
// outbox in the same transaction.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/urlshort/shortener/shared/domain"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store holds the connection pools: rw for writes and reads that must be fresh, ro for
// list reads that tolerate replica lag (the same pool when no replica is configured).
type Store struct {
	rw     *pgxpool.Pool
	ro     *pgxpool.Pool
	audits Auditor
	// onCount is told of the URLs whose visits a commit moved (see OnCount).
	onCount func(context.Context, []domain.URLCount)
}

// Options configures the connections of Open.
type Options struct {
	URL      string
	ROURL    string // optional read replica
	MaxConns int32
}

// Auditor builds the audit events that mutations write to the outbox (shared/events has
// the one every function uses: it knows the event ids and the CloudEvents source).
type Auditor interface {
	Audit(eventType string, urlID, userID *int64, at time.Time, details any) (domain.Audit, error)
}

// Open connects the pools. It does not wait for the server: Ping does. A store opened
// with a nil auditor reads and loads seeds but refuses mutations.
func Open(ctx context.Context, o Options, audits Auditor) (*Store, error) {
	rw, err := newPool(ctx, o.URL, o.MaxConns)
	if err != nil {
		return nil, err
	}
	s := &Store{rw: rw, ro: rw, audits: audits}
	if o.ROURL != "" {
		if s.ro, err = newPool(ctx, o.ROURL, o.MaxConns); err != nil {
			rw.Close()
			return nil, err
		}
	}
	return s, nil
}

func newPool(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	// Every timestamp the API shows is UTC; the codec does it once for every scan.
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		conn.TypeMap().RegisterType(&pgtype.Type{
			Name: "timestamptz", OID: pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open pool: %w", err)
	}
	return pool, nil
}

// Close closes the pools.
func (s *Store) Close() {
	if s.ro != s.rw {
		s.ro.Close()
	}
	s.rw.Close()
}

// Ping checks that the primary answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rw.Ping(ctx); err != nil {
		return domain.Unavailablef(err, "database unavailable")
	}
	return nil
}

// Stat returns the primary pool's statistics.
func (s *Store) Stat() *pgxpool.Stat { return s.rw.Stat() }

// afterMigration holds what a migration needs done in Go, in its transaction.
var afterMigration = map[string]func(context.Context, pgx.Tx) error{
	"0006_visits_stats.sql": backfillStats,
}

// Migrate applies the embedded migrations that have not run yet. An advisory lock makes
// concurrent starts of several instances safe: one applies, the others wait and find
// nothing left to do.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.rw.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("store: migrate lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey) //nolint:errcheck // released with the session anyway

	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`
	if _, err := conn.Exec(ctx, create); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1) ON CONFLICT DO NOTHING`, base)
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			if _, err = tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			if step := afterMigration[base]; step != nil {
				return step(ctx, tx)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
	}
	return nil
}

// mayActOn refuses a request confined to one user (domain.OwnerOf) that names another
// user in its body: Forbidden, as the spec says, rather than a NotFound that would hide
// the mistake.
func mayActOn(ctx context.Context, userID int64) error {
	if owner := domain.OwnerOf(ctx); owner != nil && *owner != userID {
		return domain.Errorf(domain.Forbidden, "this key acts for user %d only, not user %d", *owner, userID)
	}
	return nil
}

// lockKey is an arbitrary constant shared by every instance of the image.
const lockKey int64 = 7_283_914_001

// translate changes driver errors into domain kinds at the boundary, before any wrapping.
// A server error is classified by its SQLSTATE class: what the client sent (a data
// exception) is the client's 4xx, what says the server cannot serve now (connections,
// resources, shutdown, failover) is Unavailable, and only the rest is Internal.
func translate(err error, what string) error {
	var (
		pgErr *pgconn.PgError
		dErr  *domain.Error
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &dErr):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return domain.Errorf(domain.NotFound, "%s not found", what)
	case errors.As(err, &pgErr):
		return translateServer(pgErr, err, what)
	case errors.Is(err, context.Canceled):
		return err // the caller went away: the edge tells that from a failure
	case errors.Is(err, context.DeadlineExceeded):
		return domain.Unavailablef(err, "database did not answer in time")
	default:
		// Anything else is the connection: the database is unreachable.
		return domain.Unavailablef(err, "database unavailable")
	}
}

// translateServer classifies an error the server sent.
func translateServer(pgErr *pgconn.PgError, err error, what string) error {
	switch code := pgErr.Code; {
	case code == "23505":
		return &domain.Error{Kind: domain.Conflict, Message: conflictMessage(pgErr), Err: err}
	case code == "23503":
		return &domain.Error{Kind: domain.NotFound, Message: what + " references a missing row", Err: err}
	case strings.HasPrefix(code, "22"), code == "54000", code == "54001":
		// Data exceptions (invalid text, a number out of range, a bad escape) and values
		// too large or deep to process: the request carried them, so it is the client's
		// to fix. The edge validates first; this keeps anything it missed a 400.
		return &domain.Error{Kind: domain.BadRequest, Message: what + ": value not accepted: " + pgErr.Message, Err: err}
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"),    // insufficient resources: too many connections, disk full
		strings.HasPrefix(code, "57P"),   // shutting down, starting up
		code == "57014",                  // statement cancelled (statement_timeout)
		code == "40001", code == "40P01", // serialization failure, deadlock: retry
		code == "25006": // read-only transaction: a failover left us on a replica
		return domain.Unavailablef(err, "database unavailable")
	}
	return fmt.Errorf("store: %s: %w", what, err)
}

func conflictMessage(e *pgconn.PgError) string {
	switch e.ConstraintName {
	case "users_email_live_key":
		return "email already in use"
	case "urls_short_code_key":
		return "short_code already taken"
	}
	return "already exists"
}
