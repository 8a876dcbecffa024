package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
)

const backfillCLIKey = "sk-admin-fake-cli-backfill"

// backfillCLI is the command on a fresh database with n companies without a
// project, against a fake OpenAI.
type backfillCLI struct {
	env  map[string]string
	pool *pgxpool.Pool
	fake *openaitest.Server
}

func newBackfillCLI(t *testing.T, companies int) *backfillCLI {
	t.Helper()
	pool, url := dbtest.NewPoolURL(t)
	fake := openaitest.New(openaitest.Options{AdminKey: backfillCLIKey})
	t.Cleanup(fake.Close)
	dbtest.InsertNumberedCompanies(t, pool, "Company", companies, dbtest.CompanyOpts{})
	return &backfillCLI{pool: pool, fake: fake, env: map[string]string{
		"APP_ENV": "test", "DATABASE_URL": url,
		"OPENAI_ADMIN_KEY": backfillCLIKey, "OPENAI_BASE_URL": fake.URL, "OPENAI_TIMEOUT": "3s",
		"PROVISION_BACKOFF_BASE": "20ms", "PROVISION_BACKOFF_MAX": "200ms", "PROVISION_SETTLE_DELAY": "300ms",
	}}
}

func (b *backfillCLI) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, append([]string{"backfill"}, args...), func(k string) string { return b.env[k] }, strings.NewReader(""), &stdout, io.Discard)
	return stdout.String(), err
}

func (b *backfillCLI) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	if err := b.pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestBackfillCommand_DryRun(t *testing.T) {
	t.Parallel()
	b := newBackfillCLI(t, 12)
	out, err := b.run(t, "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"12 companies have no OpenAI project; the first of them:", "  Company 1\n", "  Company 10\n", "… and 2 more"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Company 11") {
		t.Errorf("output lists more than 10 names:\n%s", out)
	}
	// It reads OpenAI's project list (for the possible matches) and sends
	// nothing else.
	if n := len(b.fake.Requests()) - b.fake.Count(openaitest.EndpointList); n != 0 {
		t.Errorf("the dry run sent %d requests to OpenAI besides listing", n)
	}
	if !strings.Contains(out, "0 companies would be linked to a project their own earlier attempt created.") {
		t.Errorf("output lacks the automatic links:\n%s", out)
	}
	if n := b.count(t, `SELECT count(*) FROM backfill_runs`); n != 0 {
		t.Errorf("the dry run stored %d runs", n)
	}
}

func TestBackfillCommand_Run(t *testing.T) {
	t.Parallel()
	b := newBackfillCLI(t, 30)
	b.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusForbidden})
	out, err := b.run(t)
	if err != nil {
		t.Fatalf("backfill: %v\n%s", err, out)
	}
	for _, want := range []string{
		"Started backfill run 1 for 30 companies (concurrency 4).",
		"[" + strings.Repeat("#", progressBarWidth) + "] 30/30 done, 1 failed",
		"Backfill run 1 finished: 29 created, 0 linked existing, 1 failed, 0 skipped.",
		"failed: Company ",
		"the admin key may not create projects (403)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") {
		t.Errorf("output to a non-terminal redraws with \\r:\n%q", out)
	}
	if n := b.count(t, `SELECT count(*) FROM companies WHERE openai_project_id IS NOT NULL`); n != 29 {
		t.Errorf("%d companies provisioned, want 29", n)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = 'backfill.start' AND actor_email = 'command line'`); n != 1 {
		t.Errorf("%d start audit entries by the command line, want 1", n)
	}
	// The next backfill picks up the failed company, and only it.
	out, err = b.run(t)
	if err != nil || !strings.Contains(out, "Backfill run 2 finished: 1 created, 0 linked existing, 0 failed, 0 skipped.") {
		t.Errorf("second backfill: %v\n%s", err, out)
	}
	out, err = b.run(t)
	if err != nil || !strings.Contains(out, "nothing to backfill") {
		t.Errorf("third backfill: %v\n%s", err, out)
	}
}

func TestBackfillCommand_NotConfigured(t *testing.T) {
	t.Parallel()
	b := newBackfillCLI(t, 2)
	delete(b.env, "OPENAI_ADMIN_KEY")
	out, err := b.run(t, "--dry-run")
	if err != nil || !strings.Contains(out, "2 companies have no OpenAI project:") || !strings.Contains(out, "set OPENAI_ADMIN_KEY") {
		t.Errorf("dry run without a key: %v\n%s", err, out)
	}
	if _, err := b.run(t); err == nil || !strings.Contains(err.Error(), "OPENAI_ADMIN_KEY") {
		t.Errorf("backfill without a key: err = %v, want one naming OPENAI_ADMIN_KEY", err)
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	run := provision.Run{Status: provision.RunRunning, Total: 2000, Done: 1000, Failed: 5, Rate: 91.24, ETA: 7200 * time.Millisecond}
	want := "[###############---------------] 1000/2000 done, 5 failed, 91.2/s, ETA 8s"
	if got := progressLine(run); got != want {
		t.Errorf("progressLine = %q, want %q", got, want)
	}
}
