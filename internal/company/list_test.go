package company_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/db/dbtest"
)

// listed is a company as the list test knows it.
type listed struct {
	ID        int64
	Name      string
	Email     string
	CreatedAt time.Time
	ProjectID string
	Status    string
}

// seedList inserts n companies. Every three share a signup time, so that
// the id must break ties; names are letters and digits in mixed case, so
// that their order does not depend on the collation; every 10th has no
// project, every 15th failed.
func seedList(t *testing.T, pool *pgxpool.Pool, n int) []listed {
	t.Helper()
	prefixes := []string{"Acme", "beta", "GAMMA", "Delta", "epsiLon"}
	start := time.Date(2025, 1, 1, 0, 0, 0, 123456000, time.UTC)
	out := make([]listed, n)
	rows := make([]dbtest.CompanyOpts, n)
	for k := range rows {
		i := k + 1
		c := listed{
			Name: fmt.Sprintf("%s%04d", prefixes[i%5], (i*37)%n), Email: fmt.Sprintf("Owner%d@Example.com", i),
			CreatedAt: start.Add(time.Duration(i/3) * time.Second), ProjectID: fmt.Sprintf("proj_list%d", i), Status: "provisioned",
		}
		switch {
		case i%15 == 0:
			c.ProjectID, c.Status = "", "failed"
		case i%10 == 0:
			c.ProjectID, c.Status = "", "skipped"
		}
		out[k] = c
		rows[k] = dbtest.CompanyOpts{Name: c.Name, ContactName: fmt.Sprintf("Contact %d", i), ContactEmail: c.Email,
			CreatedAt: c.CreatedAt, ProjectID: c.ProjectID, Status: c.Status}
	}
	for k, id := range dbtest.InsertCompanies(t, pool, rows) {
		out[k].ID = id
	}
	return out
}

// expectedOrder sorts cs as the list does.
func expectedOrder(cs []listed, sort company.ListSort) []int64 {
	cs = slices.Clone(cs)
	slices.SortFunc(cs, func(a, b listed) int {
		switch sort {
		case company.SortName:
			if c := strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)); c != 0 {
				return c
			}
			return cmpInt(a.ID, b.ID)
		case company.SortOldest:
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return cmpInt(a.ID, b.ID)
		}
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return cmpInt(b.ID, a.ID)
	})
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func pageIDs(p company.Page) []int64 {
	ids := make([]int64, len(p.Companies))
	for i, c := range p.Companies {
		ids[i] = c.ID
	}
	return ids
}

// walkForward follows Next from the first page and returns every page.
func walkForward(t *testing.T, svc *company.Service, p company.ListParams) []company.Page {
	t.Helper()
	var pages []company.Page
	for {
		page, err := svc.List(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, page)
		if page.Next == "" {
			return pages
		}
		if len(pages) > 1000 {
			t.Fatal("pagination does not end")
		}
		p.After, p.Before = page.Next, ""
	}
}

func TestService_List(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newDashBundle(t, dashOpts{})
	all := seedList(t, b.pool, 120)

	t.Run("PagesEachSort", func(t *testing.T) {
		t.Parallel()
		for _, sort := range []company.ListSort{company.SortNewest, company.SortOldest, company.SortName} {
			for _, limit := range []int{0, 7} { // 0: the real page size, 50
				p := company.ListParams{Sort: sort, Limit: limit}
				pages := walkForward(t, b.svc, p)
				size := limit
				if size == 0 {
					size = company.PageSize
				}
				var got []int64
				for i, page := range pages {
					if i < len(pages)-1 && len(page.Companies) != size {
						t.Errorf("%s/%d: page %d has %d companies, want %d", sort, limit, i, len(page.Companies), size)
					}
					if (i == 0) == page.HasPrev || (i == 0) != (page.Prev == "") {
						t.Errorf("%s/%d: page %d HasPrev=%v Prev=%q", sort, limit, i, page.HasPrev, page.Prev)
					}
					got = append(got, pageIDs(page)...)
				}
				if want := expectedOrder(all, sort); !slices.Equal(got, want) {
					t.Errorf("%s/%d: walked %d companies in order\n%v\nwant %d\n%v", sort, limit, len(got), got, len(want), want)
				}

				// Back from the last page, Prev gives the same pages.
				back := company.ListParams{Sort: sort, Limit: limit}
				for i := len(pages) - 1; i > 0; i-- {
					back.Before, back.After = pages[i].Prev, ""
					prev, err := b.svc.List(ctx, back)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(pageIDs(prev), pageIDs(pages[i-1])) {
						t.Errorf("%s/%d: Prev of page %d = %v, want %v", sort, limit, i, pageIDs(prev), pageIDs(pages[i-1]))
					}
					if prev.Next != pages[i-1].Next {
						t.Errorf("%s/%d: Prev of page %d has Next %q, want %q", sort, limit, i, prev.Next, pages[i-1].Next)
					}
					if (i == 1) != (prev.Prev == "") {
						t.Errorf("%s/%d: page %d reached backwards has Prev %q", sort, limit, i-1, prev.Prev)
					}
				}
			}
		}
	})

	t.Run("Filters", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			filter company.ListFilter
			keep   func(listed) bool
		}{
			{company.FilterAll, func(listed) bool { return true }},
			{company.FilterMissing, func(c listed) bool { return c.ProjectID == "" }},
			{company.FilterFailed, func(c listed) bool { return c.Status == "failed" }},
		} {
			var want []listed
			for _, c := range all {
				if tt.keep(c) {
					want = append(want, c)
				}
			}
			var got []int64
			for _, page := range walkForward(t, b.svc, company.ListParams{Filter: tt.filter, Sort: company.SortName, Limit: 9}) {
				got = append(got, pageIDs(page)...)
			}
			if !slices.Equal(got, expectedOrder(want, company.SortName)) {
				t.Errorf("filter %s: got %d companies %v, want %d", tt.filter, len(got), got, len(want))
			}
		}
	})

	t.Run("Search", func(t *testing.T) {
		t.Parallel()
		none := func(listed) bool { return false }
		for _, tt := range []struct {
			name  string
			query string
			want  func(listed) bool // nil: nothing matches
		}{
			{"NameFragmentAnyCase", "AMMA00", func(c listed) bool { return strings.Contains(strings.ToLower(c.Name), "amma00") }},
			{"NameWhole", "  acme0065 ", func(c listed) bool { return strings.EqualFold(c.Name, "Acme0065") }},
			{"ShortQueryMatchesStart", "De", func(c listed) bool { return strings.HasPrefix(c.Name, "Delta") }},
			{"ShortQueryNotInside", "lt", nil},
			{"EmailAnyCase", "owner42@EXAMPLE.COM", func(c listed) bool { return c.Email == "Owner42@Example.com" }},
			{"EmailFragmentIsNotEnough", "owner42@", nil},
			{"ProjectID", "proj_list77", func(c listed) bool { return c.ProjectID == "proj_list77" }},
			{"LikeMetacharactersAreLiteral", "a%0", nil},
			{"Underscore", "_", nil},
			{"NoMatch", "zzzz", nil},
		} {
			match := tt.want
			if match == nil {
				match = none
			}
			var want []listed
			for _, c := range all {
				if match(c) {
					want = append(want, c)
				}
			}
			if (len(want) == 0) != (tt.want == nil) {
				t.Fatalf("%s: the fixture has %d matches", tt.name, len(want))
			}
			page, err := b.svc.List(ctx, company.ListParams{Query: tt.query, Limit: 500})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := pageIDs(page), expectedOrder(want, company.SortNewest); !slices.Equal(got, want) {
				t.Errorf("%s: q=%q found %v, want %v", tt.name, tt.query, got, want)
			}
		}
	})

	t.Run("ErrInvalidCursor", func(t *testing.T) {
		t.Parallel()
		first, err := b.svc.List(ctx, company.ListParams{Sort: company.SortName, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []company.ListParams{
			{After: "not a cursor"},
			{Before: "bm90IGpzb24"},
			{Sort: company.SortNewest, After: first.Next}, // a cursor of another sort
		} {
			if _, err := b.svc.List(ctx, p); !errors.Is(err, company.ErrInvalidCursor) {
				t.Errorf("List(%+v) err = %v, want ErrInvalidCursor", p, err)
			}
		}
	})

	t.Run("Totals", func(t *testing.T) {
		t.Parallel()
		var want company.Totals
		for _, c := range all {
			want.Companies++
			if c.ProjectID == "" {
				want.Missing++
			} else {
				want.WithProject++
			}
			if c.Status == "failed" {
				want.Failed++
			}
		}
		got, err := b.svc.Totals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Totals = %+v, want %+v", got, want)
		}
		if want.Missing == 0 || want.Failed == 0 || want.WithProject == 0 {
			t.Fatalf("the fixture should have every kind of company: %+v", want)
		}
	})
}

// TestService_ListStableWhileSigningUp checks that companies signing up
// between two pages neither repeat a company nor skip one.
func TestService_ListStableWhileSigningUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newDashBundle(t, dashOpts{})
	all := seedList(t, b.pool, 30)
	p := company.ListParams{Sort: company.SortNewest, Limit: 10}
	first, err := b.svc.List(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		seedCompany(t, b.pool, fmt.Sprintf("Latecomer%d", i), "", company.StatusPending)
	}
	seen := pageIDs(first)
	p.After = first.Next
	for _, page := range walkForward(t, b.svc, p) {
		seen = append(seen, pageIDs(page)...)
	}
	if want := expectedOrder(all, company.SortNewest); !slices.Equal(seen, want) {
		t.Errorf("walked %v, want %v", seen, want)
	}
}

// sqlRecorder keeps the statements a pool runs, with their arguments.
type sqlRecorder struct {
	mu   sync.Mutex
	seen []recordedQuery
}

type recordedQuery struct {
	SQL  string
	Args []any
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, recordedQuery{SQL: d.SQL, Args: d.Args})
	return ctx
}

func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns and forgets the recorded statements whose sqlc name starts
// with prefix.
func (r *sqlRecorder) take(prefix string) []recordedQuery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recordedQuery
	for _, q := range r.seen {
		if strings.HasPrefix(q.SQL, "-- name: "+prefix) {
			out = append(out, q)
		}
	}
	r.seen = nil
	return out
}

// TestService_ListUsesIndexes runs the list's queries on 100,000 companies
// and checks with EXPLAIN that none reads the whole companies table: every
// shape (first page, deep page, search, filters, totals) has an index.
func TestService_ListUsesIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 100,000 companies")
	}
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := &sqlRecorder{}
	cfg.ConnConfig.Tracer = rec
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	// Like production: nearly all companies have a project, a few failed.
	_, err = pool.Exec(ctx, `
		INSERT INTO companies (name, industry, contact_name, contact_email, created_at, openai_project_id, provisioning_status, signup_token)
		SELECT (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Wonka', 'Tyrell'])[1 + i % 7] || ' ' ||
		       (ARRAY['Labs', 'Systems', 'Holdings', 'Foods', 'Media'])[1 + (i / 7) % 5] || ' ' || i,
		       'Software', 'Contact ' || i, 'user' || i || '@example' || (i % 100) || '.com',
		       now() - i * interval '1 second',
		       CASE WHEN i % 100 < 98 THEN 'proj_' || md5(i::text) END,
		       CASE WHEN i % 100 < 98 THEN 'provisioned' WHEN i % 200 = 198 THEN 'failed' ELSE 'skipped' END,
		       md5('token' || i)
		FROM generate_series(1, 100000) AS i`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE companies`); err != nil {
		t.Fatal(err)
	}
	svc := company.NewService(pool, nil, nil, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))

	// A cursor deep into the list, by walking to it.
	deep := company.ListParams{Limit: 500}
	for range 180 {
		page, err := svc.List(ctx, deep)
		if err != nil {
			t.Fatal(err)
		}
		deep.After = page.Next
	}
	deep.Limit = 0
	rec.take("")

	for _, tt := range []struct {
		name string
		p    company.ListParams
	}{
		{"FirstPage", company.ListParams{}},
		{"FirstPageOldest", company.ListParams{Sort: company.SortOldest}},
		{"FirstPageByName", company.ListParams{Sort: company.SortName}},
		{"DeepPage", deep},
		{"DeepPageBackwards", company.ListParams{Before: deep.After}},
		{"Missing", company.ListParams{Filter: company.FilterMissing}},
		{"MissingByName", company.ListParams{Filter: company.FilterMissing, Sort: company.SortName}},
		{"Failed", company.ListParams{Filter: company.FilterFailed}},
		{"SearchRareFragment", company.ListParams{Query: "hooli labs 12"}},
		{"SearchRareFragmentByName", company.ListParams{Query: "hooli labs 12", Sort: company.SortName}},
		{"SearchCommonFragment", company.ListParams{Query: "hooli"}},
		{"SearchShortNoMatch", company.ListParams{Query: "zz"}},
		{"SearchNoMatch", company.ListParams{Query: "nothing like this"}},
		{"SearchEmail", company.ListParams{Query: "User77@example77.com"}},
		{"SearchProjectID", company.ListParams{Query: "proj_a35fe7f7fe8217b4369a0af4244d1fca"}},
	} {
		if _, err := svc.List(ctx, tt.p); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		queries := rec.take("ListCompanies")
		if len(queries) == 0 {
			t.Fatalf("%s: no list query recorded", tt.name)
		}
		for _, q := range queries {
			if scans := seqScans(t, pool, q); len(scans) > 0 {
				t.Errorf("%s: %s reads the whole table: %v", tt.name, firstLine(q.SQL), scans)
			}
		}
	}

	if _, err := svc.Totals(ctx); err != nil {
		t.Fatal(err)
	}
	// The totals read the 16 counter rows, never the companies.
	for _, q := range rec.take("CompanyTotals") {
		if scans := seqScans(t, pool, q); slices.Contains(scans, "companies") {
			t.Errorf("totals read the whole table: %v", scans)
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// seqScans explains q with its arguments, planned as List plans it, and
// returns the relations it scans sequentially.
func seqScans(t *testing.T, pool *pgxpool.Pool, q recordedQuery) []string {
	t.Helper()
	ctx := context.Background()
	var plan []byte
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('plan_cache_mode', 'force_custom_plan', true)`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+q.SQL, q.Args...).Scan(&plan)
	})
	if err != nil {
		t.Fatalf("explain %s: %v", firstLine(q.SQL), err)
	}
	var doc []struct{ Plan planNode }
	if err := json.Unmarshal(plan, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(n planNode)
	walk = func(n planNode) {
		if n.NodeType == "Seq Scan" {
			out = append(out, n.Relation)
		}
		for _, c := range n.Plans {
			walk(c)
		}
	}
	for _, d := range doc {
		walk(d.Plan)
	}
	return out
}

type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Plans    []planNode `json:"Plans"`
}

// The trigger-kept totals match a real count after every kind of change:
// single and bulk inserts, status changes, linking, clearing, deletes.
func TestTotals_MatchCount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	svc := company.NewService(pool, nil, nil, time.Second, slog.New(slog.DiscardHandler))
	check := func(step string) {
		t.Helper()
		got, err := svc.Totals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var want company.Totals
		if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE openai_project_id IS NULL),
			count(*) FILTER (WHERE provisioning_status = 'failed') FROM companies`).Scan(&want.Companies, &want.Missing, &want.Failed); err != nil {
			t.Fatal(err)
		}
		want.WithProject = want.Companies - want.Missing
		if got != want {
			t.Fatalf("after %s: totals = %+v, count = %+v", step, got, want)
		}
	}
	check("nothing")
	for _, stmt := range []struct{ step, sql string }{
		{"bulk insert", `INSERT INTO companies (name, industry, contact_name, contact_email, openai_project_id, provisioning_status)
			SELECT 'Bulk ' || i, 'Software', 'C', 'c@example.com', CASE WHEN i % 3 = 0 THEN 'proj_b' || i END,
			       CASE WHEN i % 3 = 0 THEN 'provisioned' WHEN i % 5 = 0 THEN 'failed' ELSE 'pending' END
			FROM generate_series(1, 500) AS i`},
		{"single insert", `INSERT INTO companies (name, industry, contact_name, contact_email) VALUES ('Single', 'Software', 'C', 'c@example.com')`},
		{"fail some", `UPDATE companies SET provisioning_status = 'failed' WHERE openai_project_id IS NULL AND id % 7 = 0`},
		{"link some", `UPDATE companies SET openai_project_id = 'proj_l' || id, provisioning_status = 'provisioned' WHERE openai_project_id IS NULL AND id % 4 = 0`},
		{"clear some", `UPDATE companies SET openai_project_id = NULL, provisioning_status = 'pending' WHERE openai_project_id IS NOT NULL AND id % 9 = 0`},
		{"touch without change", `UPDATE companies SET updated_at = now()`},
		{"delete some", `DELETE FROM companies WHERE id % 11 = 0`},
	} {
		if _, err := pool.Exec(ctx, stmt.sql); err != nil {
			t.Fatalf("%s: %v", stmt.step, err)
		}
		check(stmt.step)
	}
}
