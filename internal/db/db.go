// Package db opens the PostgreSQL pool, applies the schema (goose for ours,
// River's migrator for River's) and tells apart the database errors that the
// domain packages turn into their own.
package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/provisioner/provisioner/db/migrations"
)

// DefaultMaxConns is the pool size used when the URL does not set
// pool_max_conns. pgx's default (the number of CPUs) is too small: each
// provisioning run holds a connection for its advisory lock while it waits
// for OpenAI.
const DefaultMaxConns = 40

// Open connects a pool to url and checks that the server answers.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("reach database %s: %w", Redact(url), err)
	}
	return pool, nil
}

// CreateIfMissing creates the database named in url when it does not exist,
// connecting to the server's "postgres" database to do so.
func CreateIfMissing(ctx context.Context, dbURL string) error {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("parse database url: %w", err)
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("reach database server %s: %w", Redact(dbURL), err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err != nil && !IsCode(err, "42P04") { // created meanwhile by another process
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// migrationLock serialises migrations of several processes starting at once.
const migrationLock = 7_283_001

// Migrate brings the schema up to date: our goose migrations, then River's
// tables. It is safe to run from several processes at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("migrate: take lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck

	provider, err := gooseProvider(pool)
	if err != nil {
		return err
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, r := range results {
		logger.Info("applied migration", slog.String("file", r.Source.Path))
	}
	if err := keyNames(ctx, pool, logger); err != nil {
		return err
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate river: %w", err)
	}
	return nil
}

// ErrNotMigrated is returned by CheckMigrated when migrations are pending.
var ErrNotMigrated = errors.New("database schema is not up to date; run `provisioner migrate`")

// CheckMigrated returns nil when the server answers and every migration is
// applied, ErrNotMigrated when some are pending, or the connection error. It
// is cheap enough for a readiness probe: two small queries.
func CheckMigrated(ctx context.Context, pool *pgxpool.Pool) error {
	want, err := embeddedVersions()
	if err != nil {
		return err
	}
	var have []int64
	var riverReady bool
	err = pool.QueryRow(ctx, `SELECT
		coalesce((SELECT array_agg(DISTINCT version_id) FROM goose_db_version WHERE is_applied AND version_id = ANY($1)), '{}')
			WHERE to_regclass('goose_db_version') IS NOT NULL`, want).Scan(&have)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotMigrated
	}
	if err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if err := pool.QueryRow(ctx, "SELECT to_regclass('river_job') IS NOT NULL").Scan(&riverReady); err != nil {
		return fmt.Errorf("check migrations: %w", err)
	}
	if len(have) < len(want) || !riverReady {
		return ErrNotMigrated
	}
	return nil
}

// embeddedVersions lists the versions of the embedded migrations.
var embeddedVersions = sync.OnceValues(func() ([]int64, error) {
	entries, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, err
	}
	versions := make([]int64, 0, len(entries))
	for _, name := range entries {
		v, err := goose.NumericComponent(name)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", name, err)
		}
		versions = append(versions, v)
	}
	return versions, nil
})

func gooseProvider(pool *pgxpool.Pool) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(pool), migrations.FS,
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// IsUniqueViolation reports whether err is a unique violation, optionally of
// the named constraint or index.
func IsUniqueViolation(err error, constraint string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" {
		return false
	}
	return constraint == "" || pgErr.ConstraintName == constraint
}

// IsCode reports whether err is a PostgreSQL error with the given SQLSTATE.
func IsCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// Redact hides the password of a database URL for messages.
func Redact(dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "(unparseable url)"
	}
	return u.Redacted()
}

// IsUnavailable reports whether err means the database cannot be reached
// right now (connection refused or lost, server shutting down or starting),
// as opposed to a bad query. Such requests answer 503.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P0x: admin shutdown, crash
		// shutdown, cannot connect now.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "closed pool") || strings.Contains(err.Error(), "conn closed")
}
