package dbtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/db/dbtest"
)

// The fixture fills the defaults it promises, keeps the rows' order in the
// ids it returns, and writes "" as NULL where the column means "none".
func TestInsertCompanies(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	created := time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)
	ids := dbtest.InsertCompanies(t, pool, []dbtest.CompanyOpts{
		{Name: "Zeta"},
		{Name: "Alpha", ProjectID: "proj_alpha", Status: "provisioned", ContactEmail: "a@example.com", CreatedAt: created},
	})
	for i, want := range []struct {
		name, email, status string
		projectID           *string
		created             bool
	}{
		{"Zeta", "test@example.com", "pending", nil, false},
		{"Alpha", "a@example.com", "provisioned", new("proj_alpha"), true},
	} {
		var name, industry, email, status string
		var projectID, token *string
		var createdAt time.Time
		err := pool.QueryRow(context.Background(), `SELECT name, industry, contact_email, provisioning_status, openai_project_id, signup_token, created_at
			FROM companies WHERE id = $1`, ids[i]).Scan(&name, &industry, &email, &status, &projectID, &token, &createdAt)
		if err != nil {
			t.Fatal(err)
		}
		if name != want.name || industry != "Software" || email != want.email || status != want.status || token != nil {
			t.Errorf("row %d = %q %q %q %q token %v, want %q Software %q %q no token", i, name, industry, email, status, token, want.name, want.email, want.status)
		}
		if (projectID == nil) != (want.projectID == nil) || projectID != nil && *projectID != *want.projectID {
			t.Errorf("row %d project = %v, want %v", i, projectID, want.projectID)
		}
		if got := createdAt.Equal(created); got != want.created {
			t.Errorf("row %d created_at = %v, want given (%v): %v", i, createdAt, created, want.created)
		}
	}
}
