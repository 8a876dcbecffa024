package demo_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/demo"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

func TestSeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)

	n, err := demo.Seed(ctx, pool, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n < 24 {
		t.Fatalf("seeded %d companies, want a few dozen", n)
	}
	count := func(query string) int {
		t.Helper()
		var c int
		if err := pool.QueryRow(ctx, query).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		what  string
		query string
		check func(int) bool
	}{
		{"companies", `SELECT count(*) FROM companies`, func(c int) bool { return c == n }},
		{"provisioned", `SELECT count(*) FROM companies WHERE openai_project_id IS NOT NULL AND provisioning_status = 'provisioned'`, func(c int) bool { return c >= n/2 }},
		{"missing", `SELECT count(*) FROM companies WHERE openai_project_id IS NULL AND provisioning_status = 'skipped'`, func(c int) bool { return c >= 3 }},
		{"failed with a reason", `SELECT count(*) FROM companies WHERE provisioning_status = 'failed' AND provisioning_error <> '' AND openai_project_id IS NULL`, func(c int) bool { return c == 1 }},
		{"with history", `SELECT count(DISTINCT company_id) FROM provision_attempts`, func(c int) bool { return c == n }},
		{"history of provisioned companies naming their project", `SELECT count(*) FROM companies c WHERE openai_project_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM provision_attempts a WHERE a.company_id = c.id AND a.project_id = c.openai_project_id)
			AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.company_id = c.id AND l.after = c.openai_project_id)`, func(c int) bool { return c == 0 }},
		{"retried attempts", `SELECT count(*) FROM provision_attempts WHERE outcome IN ('retryable', 'uncertain')`, func(c int) bool { return c >= 1 }},
		{"manual assignments in the audit log", `SELECT count(*) FROM audit_log WHERE action = 'project_id.assign'`, func(c int) bool { return c >= 1 }},
	} {
		if got := count(tt.query); !tt.check(got) {
			t.Errorf("%s: %d", tt.what, got)
		}
	}
	idPattern := regexp.MustCompile(`^proj_[A-Za-z0-9]{24}$`)
	rows, err := pool.Query(ctx, `SELECT openai_project_id FROM companies WHERE openai_project_id IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if !idPattern.MatchString(id) {
			t.Errorf("project ID %q does not look like OpenAI's", id)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	// A database with companies is left alone.
	again, err := demo.Seed(ctx, pool, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if again != 0 || count(`SELECT count(*) FROM companies`) != n {
		t.Errorf("second seed added %d companies; want none", again)
	}
}

func TestLoadSandbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	if _, err := demo.Seed(ctx, pool, time.Now()); err != nil {
		t.Fatal(err)
	}
	fake := openaitest.New(openaitest.Options{})
	t.Cleanup(fake.Close)

	n, err := demo.LoadSandbox(ctx, pool, fake)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(ctx, `SELECT name, openai_project_id FROM companies WHERE openai_project_id IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	linked := 0
	for rows.Next() {
		var name, id string
		if err := rows.Scan(&name, &id); err != nil {
			t.Fatal(err)
		}
		linked++
		p, ok := fake.Project(id)
		if !ok || p.Name != name || p.Status != "active" {
			t.Errorf("sandbox project %s = %+v, %v; want the active project of %s", id, p, ok, name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != linked || len(fake.Projects()) != linked {
		t.Errorf("loaded %d, sandbox holds %d; want the %d linked projects", n, len(fake.Projects()), linked)
	}
	// Loading twice (a restart with the same fake) adds nothing.
	if _, err := demo.LoadSandbox(ctx, pool, fake); err != nil {
		t.Fatal(err)
	}
	if got := len(fake.Projects()); got != linked {
		t.Errorf("after a second load the sandbox holds %d projects, want %d", got, linked)
	}
}

func TestResetStaff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.NewPool(t)
	svc, err := auth.NewService(pool, auth.Options{Secret: "demo-test-session-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}

	first, err := demo.ResetStaff(ctx, pool, svc)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]auth.Role{}
	for _, c := range first {
		roles[c.Email] = c.Role
		u, _, err := svc.Login(ctx, c.Email, c.Password, "127.0.0.1")
		if err != nil {
			t.Fatalf("log in as %s with the printed password: %v", c.Email, err)
		}
		if u.Role != c.Role {
			t.Errorf("%s has role %s, want %s", c.Email, u.Role, c.Role)
		}
	}
	if roles[demo.AdminEmail] != auth.RoleAdmin || roles[demo.SupportEmail] != auth.RoleSupport {
		t.Fatalf("demo staff %v; want an admin and a support user", roles)
	}

	// Someone disabled the support user and changed the admin's role in
	// the demo; a restart puts both back, with new passwords.
	if _, err := pool.Exec(ctx, `UPDATE staff_users SET disabled = (email = $1), role = 'support'`, demo.SupportEmail); err != nil {
		t.Fatal(err)
	}
	second, err := demo.ResetStaff(ctx, pool, svc)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range second {
		if c.Password == first[i].Password {
			t.Errorf("%s kept its password", c.Email)
		}
		if _, _, err := svc.Login(ctx, c.Email, first[i].Password, "127.0.0.2"); err == nil {
			t.Errorf("%s: the old password still works", c.Email)
		}
		u, _, err := svc.Login(ctx, c.Email, c.Password, "127.0.0.3")
		if err != nil {
			t.Fatalf("log in as %s with the new password: %v", c.Email, err)
		}
		if u.Role != c.Role {
			t.Errorf("%s has role %s after the reset, want %s", c.Email, u.Role, c.Role)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM staff_users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d staff users, want 2", n)
	}
}
