package company

import (
	"context"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// readKeyset reads one page of at most limit rows through fetch, in one
// read-only transaction with custom plans (db/queries/dashboard.sql says
// why). fetch reads up to n rows after cur, or before it walking
// backwards; a nil cur starts at an end. With before set, the page is the
// rows before it, put back in order; fewer than a page before the cursor
// means the first page, shown in full.
func readKeyset[R, C any](ctx context.Context, s *Service, limit int, after, before *C,
	fetch func(q *dbgen.Queries, backwards bool, cur *C, n int) ([]R, error),
) (rows []R, hasNext, hasPrev bool, err error) {
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		if err := q.UseCustomPlans(ctx); err != nil {
			return err
		}
		if before != nil {
			back, err := fetch(q, true, before, limit+1)
			if err != nil {
				return err
			}
			if len(back) > limit {
				rows, hasPrev, hasNext = back[:limit], true, true
				slices.Reverse(rows)
				return nil
			}
		}
		var err error
		rows, err = fetch(q, false, after, limit+1)
		if err != nil {
			return err
		}
		hasNext, hasPrev = len(rows) > limit, after != nil
		rows = rows[:min(len(rows), limit)]
		return nil
	})
	return rows, hasNext, hasPrev, err
}

// pageOf is the Page of rows read by readKeyset, with the cursors of its
// first and last rows where there is more to see that way.
func pageOf[R any](rows []R, hasNext, hasPrev bool, company func(R) dbgen.Company, cursor func(R) string) Page {
	page := Page{Companies: make([]Company, len(rows)), HasPrev: hasPrev}
	for i, r := range rows {
		page.Companies[i] = fromRow(company(r))
	}
	if len(rows) > 0 {
		if hasNext {
			page.Next = cursor(rows[len(rows)-1])
		}
		if hasPrev {
			page.Prev = cursor(rows[0])
		}
	}
	return page
}
