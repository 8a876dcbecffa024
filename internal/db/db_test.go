package db_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbtest"
)

func TestMigrate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)

	if err := db.CheckMigrated(ctx, pool); err != nil {
		t.Fatalf("CheckMigrated on a migrated database = %v, want nil", err)
	}
	// Running again is a no-op, as several processes may start at once.
	if err := db.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("second Migrate = %v", err)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM goose_db_version WHERE version_id = 20251029"); err != nil {
		t.Fatal(err)
	}
	if err := db.CheckMigrated(ctx, pool); !errors.Is(err, db.ErrNotMigrated) {
		t.Fatalf("CheckMigrated with a pending migration = %v, want ErrNotMigrated", err)
	}
}

func TestCreateIfMissing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.URL(t) // an existing database: nothing to do
	if err := db.CreateIfMissing(ctx, url); err != nil {
		t.Fatalf("CreateIfMissing(existing) = %v", err)
	}
}
