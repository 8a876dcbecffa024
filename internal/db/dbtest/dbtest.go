// Package dbtest gives each test its own real, migrated PostgreSQL database,
// cloned from a template that pgtestdb builds once per schema version.
package dbtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver pgtestdb connects with
	"github.com/peterldowns/pgtestdb"

	"github.com/provisioner/provisioner/db/migrations"
	"github.com/provisioner/provisioner/internal/db"
)

// riverSchemaVersion is part of the template hash so that a River upgrade
// (new River migrations) builds a fresh template.
const riverSchemaVersion = "river-v0.51.2"

// URL creates a fresh migrated database for t and returns its URL. The
// database is dropped when t passes and kept for inspection when it fails.
// PGTEST_HOST/PGTEST_PORT override the server (default 127.0.0.1:5432).
func URL(t testing.TB) string {
	t.Helper()
	conf := pgtestdb.Custom(t, pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      envOr("PGTEST_HOST", "127.0.0.1"),
		Port:                      envOr("PGTEST_PORT", "5432"),
		User:                      "postgres",
		Database:                  "postgres",
		Options:                   "sslmode=disable",
		ForceTerminateConnections: true,
	}, migrator{})
	return conf.URL()
}

// NewPool returns a pool on a fresh migrated database for t, closed at the
// end of the test.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, _ := NewPoolURL(t)
	return pool
}

// NewPoolURL is NewPool that also returns the database's URL, for tests
// that hand the same database to a command or a second pool.
func NewPoolURL(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	url := URL(t)
	pool, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, url
}

type migrator struct{}

// Hash identifies the schema: every migration file's name and content.
func (migrator) Hash() (string, error) {
	h := sha256.New()
	h.Write([]byte(riverSchemaVersion))
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// Migrate applies the same migrations as the binary's migrate step.
func (migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	pool, err := db.Open(ctx, conf.URL())
	if err != nil {
		return err
	}
	defer pool.Close()
	return db.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
