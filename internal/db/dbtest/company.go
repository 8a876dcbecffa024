package dbtest

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// CompanyOpts describe a company row for InsertCompany. Zero fields take
// the defaults below (or the column's), so a test names only what it is
// about, the way River's testfactory and pkgsite's MustInsertModule do.
type CompanyOpts struct {
	Name         string // required
	Industry     string // default "Software"
	ContactName  string // default "Test"
	ContactEmail string // default "test@example.com"
	Website      string
	CompanySize  string
	Country      string
	Description  string // project_description
	ProjectID    string // "" for none (NULL)
	Status       string // provisioning_status; default "pending"
	Error        string // provisioning_error
	SignupToken  string // "" for none (NULL)
	CreatedAt    time.Time
}

// InsertCompany inserts one company row directly, bypassing signup (no
// job, no attempt, no audit entry), and returns its id.
func InsertCompany(t testing.TB, pool *pgxpool.Pool, o CompanyOpts) int64 {
	t.Helper()
	return InsertCompanies(t, pool, []CompanyOpts{o})[0]
}

// InsertCompanies inserts the rows in one statement, in order, and returns
// their ids in the same order.
func InsertCompanies(t testing.TB, pool *pgxpool.Pool, rows []CompanyOpts) []int64 {
	t.Helper()
	n := len(rows)
	names, industries, contacts, emails := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	websites, sizes, countries, descs := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	projectIDs, statuses, errs, tokens := make([]*string, n), make([]string, n), make([]string, n), make([]*string, n)
	createdAt := make([]*time.Time, n)
	for i, o := range rows {
		names[i], industries[i] = o.Name, orDefault(o.Industry, "Software")
		contacts[i], emails[i] = orDefault(o.ContactName, "Test"), orDefault(o.ContactEmail, "test@example.com")
		websites[i], sizes[i], countries[i], descs[i] = o.Website, o.CompanySize, o.Country, o.Description
		projectIDs[i], statuses[i], errs[i], tokens[i] = orNull(o.ProjectID), orDefault(o.Status, "pending"), o.Error, orNull(o.SignupToken)
		if !o.CreatedAt.IsZero() {
			createdAt[i] = &o.CreatedAt
		}
	}
	// One statement however many rows, so a list test can seed hundreds.
	dbRows, err := pool.Query(context.Background(), `
		INSERT INTO companies (name, industry, contact_name, contact_email, website, company_size, country,
		                       project_description, openai_project_id, provisioning_status, provisioning_error,
		                       signup_token, created_at)
		SELECT name, industry, contact_name, contact_email, website, company_size, country,
		       description, project_id, status, error, signup_token, coalesce(created_at, now())
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		            $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[])
		     WITH ORDINALITY AS r(name, industry, contact_name, contact_email, website, company_size, country,
		                          description, project_id, status, error, signup_token, created_at, ord)
		ORDER BY ord
		RETURNING id`,
		names, industries, contacts, emails, websites, sizes, countries, descs, projectIDs, statuses, errs, tokens, createdAt)
	if err != nil {
		t.Fatalf("dbtest: insert companies: %v", err)
	}
	defer dbRows.Close()
	ids := make([]int64, 0, n)
	for dbRows.Next() {
		var id int64
		if err := dbRows.Scan(&id); err != nil {
			t.Fatalf("dbtest: insert companies: %v", err)
		}
		ids = append(ids, id)
	}
	if err := dbRows.Err(); err != nil {
		t.Fatalf("dbtest: insert companies: %v", err)
	}
	// A sequence hands out ids in insertion order, which is rows' order.
	slices.Sort(ids)
	if len(ids) != n {
		t.Fatalf("dbtest: inserted %d companies, want %d", len(ids), n)
	}
	return ids
}

// InsertNumberedCompanies inserts n companies named "prefix 1" … "prefix n"
// with o's other fields, and returns their ids.
func InsertNumberedCompanies(t testing.TB, pool *pgxpool.Pool, prefix string, n int, o CompanyOpts) []int64 {
	t.Helper()
	rows := make([]CompanyOpts, n)
	for i := range rows {
		rows[i] = o
		rows[i].Name = prefix + " " + strconv.Itoa(i+1)
	}
	return InsertCompanies(t, pool, rows)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func orNull(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}
