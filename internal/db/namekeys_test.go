package db_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/namekey"
)

// Rows from before the name key (or written by plain SQL) get their key at
// the next migrate; existing look-alikes all survive, the oldest holding
// the plain key so that a new look-alike signup is refused.
func TestMigrate_KeysExistingNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	names := []string{"Acme Corp", "A\u0441me Corp", "Globex", "ACME\u200b CORP"}
	ids := make([]int64, len(names))
	for i, n := range names {
		if err := pool.QueryRow(ctx, `INSERT INTO companies (name, industry, contact_name, contact_email)
			VALUES ($1, 'Software', 'Ada', 'ada@example.com') RETURNING id`, n).Scan(&ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("Migrate = %v", err)
	}
	keys := map[int64]string{}
	rows, err := pool.Query(ctx, `SELECT id, name_key FROM companies`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var key *string
		if err := rows.Scan(&id, &key); err != nil {
			t.Fatal(err)
		}
		if key == nil {
			t.Fatalf("company %d has no name key after Migrate", id)
		}
		keys[id] = *key
	}
	if len(keys) != len(names) {
		t.Fatalf("%d companies after Migrate, want %d (none may be lost)", len(keys), len(names))
	}
	acme := namekey.Key("Acme Corp")
	if keys[ids[0]] != acme || keys[ids[2]] != namekey.Key("Globex") {
		t.Errorf("keys = %v, want the oldest Acme with the plain key %q", keys, acme)
	}
	for _, i := range []int{1, 3} {
		if keys[ids[i]] == acme {
			t.Errorf("look-alike %q took the plain key", names[i])
		}
	}
	// A new company with a look-alike name is refused by the index.
	_, err = pool.Exec(ctx, `INSERT INTO companies (name, industry, contact_name, contact_email, name_key)
		VALUES ($1, 'Software', 'Ada', 'ada@example.com', $2)`, "\uff21cme Corp", namekey.Key("\uff21cme Corp"))
	if !db.IsUniqueViolation(err, "companies_name_key_key") {
		t.Errorf("insert of a look-alike = %v, want a violation of companies_name_key_key", err)
	}
}
