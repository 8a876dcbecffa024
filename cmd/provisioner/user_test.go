package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbtest"
)

// userEnv is a getenv for the CLI on a fresh database.
func userEnv(t *testing.T, extra map[string]string) (func(string) string, *pgxpool.Pool) {
	t.Helper()
	url := dbtest.URL(t)
	env := map[string]string{"APP_ENV": "test", "DATABASE_URL": url}
	for k, v := range extra {
		env[k] = v
	}
	pool, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return func(k string) string { return env[k] }, pool
}

// runCLI runs the command with stdin and returns stdout, stderr and the error.
func runCLI(t *testing.T, getenv func(string) string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, getenv, strings.NewReader(stdin), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

type storedStaff struct {
	Role     string
	Hash     string
	Disabled bool
}

func staffByEmail(t *testing.T, pool *pgxpool.Pool, email string) (storedStaff, bool) {
	t.Helper()
	var s storedStaff
	err := pool.QueryRow(context.Background(), `SELECT role, password_hash, disabled FROM staff_users WHERE lower(email) = lower($1)`, email).
		Scan(&s.Role, &s.Hash, &s.Disabled)
	if err != nil {
		return s, false
	}
	return s, true
}

func TestUserAdd(t *testing.T) {
	t.Parallel()
	const pw = "a fine long password"

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		getenv, pool := userEnv(t, nil)
		out, _, err := runCLI(t, getenv, pw+"\nignored second line\n", "user", "add", "--email", "Ops@Example.com", "--role", "admin")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "added Ops@Example.com (admin)") {
			t.Errorf("stdout = %q", out)
		}
		s, ok := staffByEmail(t, pool, "ops@example.com")
		if !ok || s.Role != "admin" || s.Disabled {
			t.Fatalf("stored = %+v, %v", s, ok)
		}
		if !strings.HasPrefix(s.Hash, "$argon2id$") || strings.Contains(s.Hash, pw) {
			t.Errorf("hash = %q", s.Hash)
		}
		var actor string
		if err := pool.QueryRow(context.Background(), `SELECT actor_email FROM audit_log WHERE action = 'staff.add'`).Scan(&actor); err != nil || actor != "command line" {
			t.Errorf("audit actor = %q, %v", actor, err)
		}
	})

	t.Run("PasswordWithoutNewline", func(t *testing.T) {
		t.Parallel()
		getenv, pool := userEnv(t, nil)
		if _, _, err := runCLI(t, getenv, pw, "user", "add", "--email", "ops@example.com", "--role", "support"); err != nil {
			t.Fatal(err)
		}
		if s, ok := staffByEmail(t, pool, "ops@example.com"); !ok || s.Role != "support" {
			t.Errorf("stored = %+v, %v", s, ok)
		}
	})

	t.Run("DuplicateEmail", func(t *testing.T) {
		t.Parallel()
		getenv, _ := userEnv(t, nil)
		if _, _, err := runCLI(t, getenv, pw+"\n", "user", "add", "--email", "ops@example.com", "--role", "admin"); err != nil {
			t.Fatal(err)
		}
		_, _, err := runCLI(t, getenv, pw+"\n", "user", "add", "--email", "OPS@example.com", "--role", "support")
		if err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("err = %v, want already exists", err)
		}
	})

	for _, tt := range []struct {
		name    string
		stdin   string
		args    []string
		wantErr string
	}{
		{"BadRole", pw + "\n", []string{"--email", "ops@example.com", "--role", "root"}, "unknown role"},
		{"NoRole", pw + "\n", []string{"--email", "ops@example.com"}, "unknown role"},
		{"NoEmail", pw + "\n", []string{"--role", "admin"}, "--email is required"},
		{"BadEmail", pw + "\n", []string{"--email", "nope", "--role", "admin"}, "Enter an email address"},
		{"ShortPassword", "short\n", []string{"--email", "ops@example.com", "--role", "admin"}, "at least 12 characters"},
		{"NoPassword", "", []string{"--email", "ops@example.com", "--role", "admin"}, "no password on stdin"},
		// The password never comes from argv: there is no such flag, and a
		// stray argument is refused rather than taken as one.
		{"PasswordFlag", "", []string{"--email", "ops@example.com", "--role", "admin", "--password", pw}, "flag provided but not defined: -password"},
		{"PasswordArg", pw + "\n", []string{"--email", "ops@example.com", "--role", "admin", pw}, "never from the command line"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			getenv, pool := userEnv(t, nil)
			_, _, err := runCLI(t, getenv, tt.stdin, append([]string{"user", "add"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error shows the password: %v", err)
			}
			var n int
			if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM staff_users`).Scan(&n); err != nil || n != 0 {
				t.Errorf("staff users = %d, %v; want 0", n, err)
			}
		})
	}
}

func TestUserListAndDisable(t *testing.T) {
	t.Parallel()
	const pw = "a fine long password"
	getenv, pool := userEnv(t, nil)

	out, _, err := runCLI(t, getenv, "", "user", "list")
	if err != nil || !strings.Contains(out, "no staff users") {
		t.Fatalf("empty list: %q, %v", out, err)
	}
	for _, u := range []struct{ email, role string }{{"boss@example.com", "admin"}, {"ops@example.com", "support"}} {
		if _, _, err := runCLI(t, getenv, pw+"\n", "user", "add", "--email", u.email, "--role", u.role); err != nil {
			t.Fatal(err)
		}
	}
	if out, _, err = runCLI(t, getenv, "", "user", "disable", "--email", "OPS@example.com"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "disabled ops@example.com") {
		t.Errorf("disable stdout = %q", out)
	}
	if s, _ := staffByEmail(t, pool, "ops@example.com"); !s.Disabled {
		t.Error("not disabled")
	}
	if out, _, err = runCLI(t, getenv, "", "user", "disable", "--email", "ops@example.com"); err != nil || !strings.Contains(out, "already disabled") {
		t.Errorf("disable again: %q, %v", out, err)
	}
	if _, _, err = runCLI(t, getenv, "", "user", "disable", "--email", "nobody@example.com"); err == nil || !strings.Contains(err.Error(), "no staff user") {
		t.Errorf("disable unknown: err = %v", err)
	}

	out, _, err = runCLI(t, getenv, "", "user", "list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("list = %q, want a header and two rows", out)
	}
	for i, want := range [][]string{{"boss@example.com", "admin", "active", "never"}, {"ops@example.com", "support", "disabled", "never"}} {
		fields := strings.Fields(lines[i+1])
		// ID EMAIL ROLE STATUS DATE TIME LAST
		if len(fields) != 7 || fields[1] != want[0] || fields[2] != want[1] || fields[3] != want[2] || fields[6] != want[3] {
			t.Errorf("row %d = %q, want %v", i, lines[i+1], want)
		}
	}
}

func TestUser_Usage(t *testing.T) {
	t.Parallel()
	getenv := func(string) string { return "" }
	if _, _, err := runCLI(t, getenv, "", "user"); err == nil {
		t.Error("user without a command succeeded")
	}
	if _, _, err := runCLI(t, getenv, "", "user", "remove"); err == nil || !strings.Contains(err.Error(), "unknown user command") {
		t.Errorf("err = %v", err)
	}
	out, _, err := runCLI(t, getenv, "", "user", "help")
	if err != nil || !strings.Contains(out, "add --email E --role admin|support") {
		t.Errorf("help = %q, %v", out, err)
	}
}

// On start, ADMIN_EMAIL / ADMIN_PASSWORD create the first admin, once.
func TestPrepareStaff_FirstAdmin(t *testing.T) {
	t.Parallel()
	const pw = "first admin password"
	getenv, pool := userEnv(t, map[string]string{"ADMIN_EMAIL": "first@example.com", "ADMIN_PASSWORD": pw})
	var logs bytes.Buffer
	a, err := setup(context.Background(), getenv, &logs, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	for range 2 {
		if err := a.prepareStaff(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if s, ok := staffByEmail(t, pool, "first@example.com"); !ok || s.Role != "admin" {
		t.Fatalf("first admin = %+v, %v", s, ok)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM staff_users`).Scan(&n); err != nil || n != 1 {
		t.Errorf("staff users = %d, %v; want 1", n, err)
	}
	if got := strings.Count(logs.String(), "created the first admin"); got != 1 {
		t.Errorf("logged the creation %d times, want 1:\n%s", got, logs.String())
	}
	if strings.Contains(logs.String(), pw) {
		t.Error("the admin password is in the logs")
	}
	if !strings.Contains(logs.String(), "SESSION_SECRET is not set") {
		t.Error("no warning about the made-up session secret")
	}
}

func TestPrepareStaff_BadAdminPassword(t *testing.T) {
	t.Parallel()
	getenv, _ := userEnv(t, map[string]string{"ADMIN_EMAIL": "first@example.com", "ADMIN_PASSWORD": "short"})
	var logs bytes.Buffer
	a, err := setup(context.Background(), getenv, &logs, false)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	if err := a.prepareStaff(context.Background()); err == nil || !strings.Contains(err.Error(), "ADMIN_PASSWORD") {
		t.Errorf("err = %v, want one naming ADMIN_PASSWORD", err)
	}
}

func TestConfig_SessionSecretInProduction(t *testing.T) {
	t.Parallel()
	getenv := func(k string) string { return map[string]string{"APP_ENV": "production"}[k] }
	_, _, err := runCLI(t, getenv, "", "migrate")
	if err == nil || !strings.Contains(err.Error(), "SESSION_SECRET is required") {
		t.Errorf("err = %v, want SESSION_SECRET is required", err)
	}
}
