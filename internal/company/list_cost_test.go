package company_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/db/dbtest"
)

// TestList_SortCost: the list by month-to-date cost walks keyset pages
// forwards and back, highest first, ties by id, with no company skipped or
// repeated; filters and search still apply; a cursor of another sort is
// refused.
func TestList_SortCost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	svc := company.NewService(pool, nil, nil, time.Second, slog.New(slog.DiscardHandler))
	costs := []string{"12.5", "0", "7.000001", "12.5", "0", "100", "0.1", "7"}
	var want []int64
	type co struct {
		id  int64
		mtd string
	}
	var all []co
	for i, c := range costs {
		var id int64
		var pid *string
		if i%2 == 0 {
			p := fmt.Sprintf("proj_lc%d", i)
			pid = &p
		}
		if err := pool.QueryRow(ctx, `INSERT INTO companies (name, industry, contact_name, contact_email, openai_project_id)
			VALUES ($1, 'Software', 'Ann', 'ann@example.com', $2) RETURNING id`, fmt.Sprint("Cost Co ", i), pid).Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE company_costs SET month = date_trunc('month', now())::date, mtd = $2::numeric WHERE company_id = $1`, id, c); err != nil {
			t.Fatal(err)
		}
		all = append(all, co{id, c})
	}
	slices.SortFunc(all, func(a, b co) int {
		var x, y float64 // test data only
		fmt.Sscan(a.mtd, &x)
		fmt.Sscan(b.mtd, &y)
		switch {
		case x > y:
			return -1
		case x < y:
			return 1
		case a.id > b.id:
			return -1
		}
		return 1
	})
	for _, c := range all {
		want = append(want, c.id)
	}

	var got []int64
	p := company.ListParams{Sort: company.SortCost, Limit: 3}
	var pages []company.Page
	for {
		page, err := svc.List(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
		for _, c := range page.Companies {
			got = append(got, c.ID)
		}
		if page.Next == "" {
			break
		}
		p.After = page.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("order %v, want %v", got, want)
	}
	// Back from the last page.
	last := pages[len(pages)-1]
	back, err := svc.List(ctx, company.ListParams{Sort: company.SortCost, Limit: 3, Before: last.Prev})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Companies) != 3 || back.Companies[0].ID != want[3] {
		t.Errorf("previous page starts at %v, want %d", back.Companies, want[3])
	}
	// Filter: only companies without a project, still by cost.
	missing, err := svc.List(ctx, company.ListParams{Sort: company.SortCost, Filter: company.FilterMissing})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range missing.Companies {
		if c.OpenAIProjectID != "" {
			t.Errorf("filter missing returned %d", c.ID)
		}
	}
	if len(missing.Companies) != 4 {
		t.Errorf("%d missing companies, want 4", len(missing.Companies))
	}
	if _, err := svc.List(ctx, company.ListParams{Sort: company.SortCost, After: pages[0].Next + "x"}); !errors.Is(err, company.ErrInvalidCursor) {
		t.Errorf("damaged cursor: %v", err)
	}
	newest, _ := svc.List(ctx, company.ListParams{Sort: company.SortNewest, Limit: 3})
	if _, err := svc.List(ctx, company.ListParams{Sort: company.SortCost, After: newest.Next}); !errors.Is(err, company.ErrInvalidCursor) {
		t.Errorf("cursor of another sort: %v", err)
	}
}
