package db

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/namekey"
)

// lookAlikeMark separates a marked look-alike's key from its id.
const lookAlikeMark = "\u200b"

// nameKeyBatch is how many companies keyNames reads and updates at once.
const nameKeyBatch = 1000

// keyNames fills companies.name_key for rows that have none: rows from
// before the column existed, or written by SQL outside the app. The key
// is Go code (internal/namekey), so no SQL migration can compute it.
//
// Existing look-alikes cannot share a key under the unique index. The
// oldest company keeps the plain key, so that new signups of any
// look-alike are refused; each later one gets the key with a zero-width
// space and its id appended (Key removes every zero-width space, so no
// real key can collide with it) and is logged so that staff can review
// it. Nothing is deleted or renamed.
func keyNames(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	var after int64
	for {
		rows, err := pool.Query(ctx, `SELECT id, name FROM companies WHERE name_key IS NULL AND id > $1 ORDER BY id LIMIT $2`, after, nameKeyBatch)
		if err != nil {
			return fmt.Errorf("key company names: %w", err)
		}
		type named struct {
			id   int64
			name string
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (named, error) {
			var n named
			return n, r.Scan(&n.id, &n.name)
		})
		if err != nil {
			return fmt.Errorf("key company names: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		after = batch[len(batch)-1].id
		ids := make([]int64, len(batch))
		keys := make([]string, len(batch))
		for i, n := range batch {
			ids[i], keys[i] = n.id, namekey.Key(n.name)
		}
		// Keys already taken, by keyed rows or earlier in this batch.
		taken := map[string]bool{}
		rows, err = pool.Query(ctx, `SELECT name_key FROM companies WHERE name_key = ANY($1)`, keys)
		if err != nil {
			return fmt.Errorf("key company names: %w", err)
		}
		existing, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("key company names: %w", err)
		}
		for _, k := range existing {
			taken[k] = true
		}
		for i := range keys {
			if taken[keys[i]] {
				logger.Warn("company name looks like an older company's; kept, marked as a look-alike for review",
					slog.Int64("company_id", ids[i]), slog.String("name", batch[i].name))
				keys[i] += lookAlikeMark + strconv.FormatInt(ids[i], 10)
			}
			taken[keys[i]] = true
		}
		if _, err := pool.Exec(ctx, `UPDATE companies c SET name_key = k.key
			FROM unnest($1::bigint[], $2::text[]) AS k(id, key)
			WHERE c.id = k.id AND c.name_key IS NULL`, ids, keys); err != nil {
			return fmt.Errorf("key company names: %w", err)
		}
	}
}
