package company_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/testenv"
)

const dashTestKey = "sk-admin-fake-dashboard"

// dashBundle is a company.Service on a fresh database, with the fake OpenAI
// behind a real client (unless noKey).
type dashBundle struct {
	env   *testenv.Env
	pool  *pgxpool.Pool
	fake  *openaitest.Server
	prov  *provision.Provisioner
	river *river.Client[pgx.Tx]
	svc   *company.Service
	gov   *openaitest.RecordingGovernor
}

type dashOpts struct {
	noKey bool
	work  bool // run provisioning jobs
}

func newDashBundle(t *testing.T, o dashOpts) *dashBundle {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	gov := openaitest.NewRecordingGovernor(t, 0)
	env := testenv.New(t, testenv.Options{
		AdminKey: dashTestKey, NoKey: o.noKey, Logger: logger, Governor: gov,
		River: provision.ClientOptions{Work: o.work, Workers: 2},
	})
	return &dashBundle{env: env, pool: env.Pool, fake: env.Fake, prov: env.Prov, river: env.River, svc: env.Companies, gov: gov}
}

// seedCompany inserts a company directly, with the given project ID ("" for
// none) and status.
func seedCompany(t *testing.T, pool *pgxpool.Pool, name, projectID string, status company.Status) int64 {
	t.Helper()
	o := dbtest.CompanyOpts{
		Name: name, ContactName: "Ada Lovelace", ContactEmail: strings.ToLower(strings.ReplaceAll(name, " ", "")) + "@example.com",
		ProjectID: projectID, Status: string(status),
	}
	if status == company.StatusFailed {
		o.Error = "OpenAI refused: project limit reached"
	}
	return dbtest.InsertCompany(t, pool, o)
}

type storedState struct {
	ProjectID     string
	Status        string
	Error         string
	NextAttemptAt *time.Time
}

func stored(t *testing.T, pool *pgxpool.Pool, id int64) storedState {
	t.Helper()
	var s storedState
	var pid *string
	err := pool.QueryRow(context.Background(),
		`SELECT openai_project_id, provisioning_status, provisioning_error, next_attempt_at FROM companies WHERE id = $1`, id).
		Scan(&pid, &s.Status, &s.Error, &s.NextAttemptAt)
	if err != nil {
		t.Fatal(err)
	}
	if pid != nil {
		s.ProjectID = *pid
	}
	return s
}

type auditRow struct {
	ActorEmail, Action, CompanyName, Before, After, Detail string
	CompanyID                                              *int64
}

func auditRows(t *testing.T, pool *pgxpool.Pool) []auditRow {
	t.Helper()
	rows, err := pool.Query(context.Background(),
		`SELECT actor_email, action, company_name, before, after, detail, company_id FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (auditRow, error) {
		var a auditRow
		return a, r.Scan(&a.ActorEmail, &a.Action, &a.CompanyName, &a.Before, &a.After, &a.Detail, &a.CompanyID)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var (
	support = audit.Actor{Email: "sam@support.test"}
	admin   = audit.Actor{Email: "ada@admin.test"}
)

func TestService_AssignProjectID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OKVerified", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusFailed)
		pr := b.fake.AddProject("Acme", false)

		res, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: "  " + pr.ID + " ", Actor: support})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Verified || res.Before != "" || res.Unchanged {
			t.Errorf("result = %+v, want verified, no previous ID", res)
		}
		if got := stored(t, b.pool, id); got.ProjectID != pr.ID || got.Status != "provisioned" || got.Error != "" {
			t.Errorf("stored = %+v, want %s provisioned without error", got, pr.ID)
		}
		rows := auditRows(t, b.pool)
		if len(rows) != 1 {
			t.Fatalf("audit rows = %d, want 1", len(rows))
		}
		a := rows[0]
		if a.Action != audit.ActionAssignProjectID || a.ActorEmail != support.Email || a.Before != "" || a.After != pr.ID ||
			a.CompanyName != "Acme" || a.CompanyID == nil || *a.CompanyID != id || !strings.Contains(a.Detail, "verified") {
			t.Errorf("audit row = %+v", a)
		}
		if b.fake.Count(openaitest.EndpointGet) != 1 {
			t.Errorf("OpenAI get calls = %d, want 1", b.fake.Count(openaitest.EndpointGet))
		}
		// A staff member waits for the check: it is interactive.
		if got := b.gov.Calls(); !slices.Equal(got, []string{"assign/interactive"}) {
			t.Errorf("governed calls = %v, want [assign/interactive]", got)
		}
	})

	t.Run("ChangeWithReplace", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		old := b.fake.AddProject("Old", false)
		pr := b.fake.AddProject("Acme", false)
		id := seedCompany(t, b.pool, "Acme", old.ID, company.StatusProvisioned)

		res, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: pr.ID, Actor: admin, Replace: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Before != old.ID {
			t.Errorf("Before = %q, want %q", res.Before, old.ID)
		}
		if got := stored(t, b.pool, id).ProjectID; got != pr.ID {
			t.Errorf("project ID = %q, want %q", got, pr.ID)
		}
		rows := auditRows(t, b.pool)
		if len(rows) != 1 || rows[0].Action != audit.ActionChangeProjectID || rows[0].Before != old.ID || rows[0].After != pr.ID {
			t.Errorf("audit rows = %+v, want one change %s → %s", rows, old.ID, pr.ID)
		}
	})

	t.Run("ErrHasProject", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "proj_existing1", company.StatusProvisioned)
		pr := b.fake.AddProject("Acme", false)

		_, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: pr.ID, Actor: support})
		if !errors.Is(err, company.ErrHasProject) {
			t.Fatalf("err = %v, want ErrHasProject", err)
		}
		if got := stored(t, b.pool, id).ProjectID; got != "proj_existing1" {
			t.Errorf("project ID = %q, want it unchanged", got)
		}
		if n := len(auditRows(t, b.pool)); n != 0 {
			t.Errorf("audit rows = %d, want 0", n)
		}
	})

	t.Run("Unchanged", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "proj_same1", company.StatusProvisioned)
		res, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: "proj_same1", Actor: support})
		if err != nil || !res.Unchanged {
			t.Fatalf("res, err = %+v, %v; want Unchanged", res, err)
		}
		if n := len(auditRows(t, b.pool)); n != 0 {
			t.Errorf("audit rows = %d, want 0", n)
		}
	})

	t.Run("ErrInvalidProjectID", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)
		for _, bad := range []string{"", "proj_", "proj-abc", "PROJ_abc", "proj_abc!", "proj_ab c", "proj_abc\n1", "xproj_abc", "proj_" + strings.Repeat("a", 100)} {
			_, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: bad, Actor: admin})
			if !errors.Is(err, company.ErrInvalidProjectID) {
				t.Errorf("AssignProjectID(%q) err = %v, want ErrInvalidProjectID", bad, err)
			}
		}
		if b.fake.Count(openaitest.EndpointGet) != 0 {
			t.Errorf("OpenAI was asked about a malformed ID")
		}
		if got := stored(t, b.pool, id).ProjectID; got != "" {
			t.Errorf("project ID = %q, want none", got)
		}
	})

	t.Run("ErrProjectLinked", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		pr := b.fake.AddProject("Globex", false)
		holder := seedCompany(t, b.pool, "Globex", pr.ID, company.StatusProvisioned)
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)

		_, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: pr.ID, Actor: admin, Replace: true})
		var linked *company.ErrProjectLinked
		if !errors.As(err, &linked) {
			t.Fatalf("err = %v, want *ErrProjectLinked", err)
		}
		if linked.Company.ID != holder || linked.Company.Name != "Globex" {
			t.Errorf("linked to %d %q, want %d Globex", linked.Company.ID, linked.Company.Name, holder)
		}
		if got := stored(t, b.pool, id).ProjectID; got != "" {
			t.Errorf("project ID = %q, want none", got)
		}
	})

	t.Run("ErrProjectArchived", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		pr := b.fake.AddProject("Acme", true)
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)
		_, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: pr.ID, Actor: admin})
		if !errors.Is(err, company.ErrProjectArchived) {
			t.Fatalf("err = %v, want ErrProjectArchived", err)
		}
		if got := stored(t, b.pool, id).ProjectID; got != "" {
			t.Errorf("project ID = %q, want none", got)
		}
	})

	t.Run("ErrProjectNotFound", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)
		_, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: "proj_doesnotexist", Actor: admin})
		if !errors.Is(err, company.ErrProjectNotFound) {
			t.Fatalf("err = %v, want ErrProjectNotFound", err)
		}
		if got := stored(t, b.pool, id).ProjectID; got != "" {
			t.Errorf("project ID = %q, want none", got)
		}
	})

	t.Run("VerifyErrorTransient", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		pr := b.fake.AddProject("Acme", false)
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)
		// The SDK retries a 5xx on a read; fail every try.
		for range 5 {
			b.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointGet, Status: http.StatusServiceUnavailable})
		}
		_, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: pr.ID, Actor: admin})
		var ve *company.VerifyError
		if !errors.As(err, &ve) || !ve.Transient() {
			t.Fatalf("err = %v, want a transient *VerifyError", err)
		}
		if got := stored(t, b.pool, id).ProjectID; got != "" {
			t.Errorf("project ID = %q, want none", got)
		}
	})

	t.Run("UnverifiedWithoutKey", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{noKey: true})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusSkipped)
		res, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: "proj_unverified42", Actor: support})
		if err != nil {
			t.Fatal(err)
		}
		if res.Verified {
			t.Error("Verified = true without an admin key")
		}
		if got := stored(t, b.pool, id); got.ProjectID != "proj_unverified42" || got.Status != "provisioned" {
			t.Errorf("stored = %+v", got)
		}
		rows := auditRows(t, b.pool)
		if len(rows) != 1 || !strings.Contains(rows[0].Detail, "without verification") {
			t.Errorf("audit rows = %+v, want one saying it was not verified", rows)
		}
		if n := len(b.fake.Requests()); n != 0 {
			t.Errorf("OpenAI requests = %d, want 0", n)
		}
	})

	t.Run("ErrCompanyBusy", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		pr := b.fake.AddProject("Acme", false)
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)
		// A provisioning attempt holds the company's lock meanwhile.
		err := b.prov.WithCompanyLock(ctx, id, func() error {
			_, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: pr.ID, Actor: admin})
			return err
		})
		if !errors.Is(err, provision.ErrCompanyBusy) {
			t.Fatalf("err = %v, want provision.ErrCompanyBusy", err)
		}
		if got := stored(t, b.pool, id).ProjectID; got != "" {
			t.Errorf("project ID = %q, want none", got)
		}
		if n := len(auditRows(t, b.pool)); n != 0 {
			t.Errorf("audit rows = %d, want 0", n)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		_, err := b.svc.AssignProjectID(ctx, company.AssignParams{CompanyID: 424242, ProjectID: "proj_abc", Actor: admin})
		if !errors.Is(err, company.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestService_ClearProjectID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "proj_clearme1", company.StatusProvisioned)
		before, err := b.svc.ClearProjectID(ctx, id, admin)
		if err != nil {
			t.Fatal(err)
		}
		if before != "proj_clearme1" {
			t.Errorf("before = %q", before)
		}
		if got := stored(t, b.pool, id); got.ProjectID != "" || got.Status != "pending" {
			t.Errorf("stored = %+v, want no ID, pending", got)
		}
		rows := auditRows(t, b.pool)
		if len(rows) != 1 || rows[0].Action != audit.ActionClearProjectID || rows[0].Before != "proj_clearme1" || rows[0].After != "" ||
			rows[0].ActorEmail != admin.Email {
			t.Errorf("audit rows = %+v", rows)
		}
		// Clearing queues nothing: projects are created only when asked for.
		if n := countJobs(t, b.pool, id); n != 0 {
			t.Errorf("provisioning jobs = %d, want 0", n)
		}
	})

	t.Run("ErrNoProject", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)
		if _, err := b.svc.ClearProjectID(ctx, id, admin); !errors.Is(err, company.ErrNoProject) {
			t.Fatalf("err = %v, want ErrNoProject", err)
		}
		if n := len(auditRows(t, b.pool)); n != 0 {
			t.Errorf("audit rows = %d, want 0", n)
		}
	})

	t.Run("ErrCompanyBusy", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "proj_busy1", company.StatusProvisioned)
		err := b.prov.WithCompanyLock(ctx, id, func() error {
			_, err := b.svc.ClearProjectID(ctx, id, admin)
			return err
		})
		if !errors.Is(err, provision.ErrCompanyBusy) {
			t.Fatalf("err = %v, want provision.ErrCompanyBusy", err)
		}
		if got := stored(t, b.pool, id).ProjectID; got != "proj_busy1" {
			t.Errorf("project ID = %q, want it kept", got)
		}
	})
}

func countJobs(t *testing.T, pool *pgxpool.Pool, companyID int64) int {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(),
		`SELECT count(*) FROM river_job WHERE kind = $1 AND (args->>'company_id')::bigint = $2`,
		provision.ProjectArgs{}.Kind(), companyID).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestService_RequestProvisioning(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OKOneJobForDoubleClicks", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusFailed)
		if _, err := b.pool.Exec(ctx, `UPDATE companies SET next_attempt_at = now() + interval '1 hour' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		first, err := b.svc.RequestProvisioning(ctx, id, support)
		if err != nil {
			t.Fatal(err)
		}
		second, err := b.svc.RequestProvisioning(ctx, id, support)
		if err != nil {
			t.Fatal(err)
		}
		if first != second {
			t.Errorf("job ids = %d, %d; want one shared job", first, second)
		}
		// RequireInserted fails unless exactly one provisioning job exists.
		job := rivertest.RequireInserted(ctx, t, b.env.Driver, &provision.ProjectArgs{}, nil)
		if job.ID != first || job.Args.CompanyID != id {
			t.Errorf("job %d for company %d, want job %d for company %d", job.ID, job.Args.CompanyID, first, id)
		}
		if trigger, actor := job.Args.Trigger, job.Args.Actor; trigger != provision.TriggerManual || actor != support.Email {
			t.Errorf("job args trigger, actor = %q, %q", trigger, actor)
		}
		if got := stored(t, b.pool, id); got.Status != "pending" || got.Error != "" || got.NextAttemptAt != nil {
			t.Errorf("stored = %+v, want pending, no error, due now", got)
		}
		rows := auditRows(t, b.pool)
		if len(rows) != 2 || rows[0].Action != audit.ActionRetryProvision || rows[0].Before != "failed" || rows[0].After != "pending" {
			t.Errorf("audit rows = %+v, want two retries, the first failed → pending", rows)
		}
	})

	t.Run("HurriesSnoozedJob", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)
		res, err := b.river.Insert(ctx, provision.ProjectArgs{CompanyID: id, Trigger: provision.TriggerSignup},
			&river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		jobID, err := b.svc.RequestProvisioning(ctx, id, support)
		if err != nil {
			t.Fatal(err)
		}
		if jobID != res.Job.ID {
			t.Fatalf("job id = %d, want the queued job %d", jobID, res.Job.ID)
		}
		job := rivertest.RequireInserted(ctx, t, b.env.Driver, &provision.ProjectArgs{}, nil)
		if job.ID != jobID {
			t.Fatalf("job %d, want %d", job.ID, jobID)
		}
		if state, scheduled := job.State, job.ScheduledAt; state != rivertype.JobStateAvailable || scheduled.After(time.Now().Add(time.Minute)) {
			t.Errorf("job state %s scheduled %v, want available now", state, scheduled)
		}
	})

	t.Run("RunsAndRecordsWhoAsked", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme Manual", "", company.StatusFailed)
		jobID, err := b.svc.RequestProvisioning(ctx, id, support)
		if err != nil {
			t.Fatal(err)
		}
		// The job that was asked for, worked once without a running client.
		if res := b.env.WorkProjectJob(ctx, t, jobID); res.Job.State != rivertype.JobStateCompleted {
			t.Fatalf("job state = %s, want completed", res.Job.State)
		}
		if got := stored(t, b.pool, id); got.Status != "provisioned" {
			t.Fatalf("company still %+v", got)
		}
		if n := b.fake.CountByName("Acme Manual"); n != 1 {
			t.Errorf("projects named Acme Manual = %d, want 1", n)
		}
		hist, err := b.svc.History(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 || hist[0].Trigger != provision.TriggerManual || hist[0].Actor != support.Email || hist[0].Outcome != "created" {
			t.Fatalf("history = %+v, want one manual attempt by %s that created the project", hist, support.Email)
		}
		if d, ok := hist[0].Duration(); !ok || d < 0 {
			t.Errorf("duration = %v, %v", d, ok)
		}
	})

	t.Run("ErrHasProject", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		id := seedCompany(t, b.pool, "Acme", "proj_have1", company.StatusProvisioned)
		if _, err := b.svc.RequestProvisioning(ctx, id, support); !errors.Is(err, company.ErrHasProject) {
			t.Fatalf("err = %v, want ErrHasProject", err)
		}
		if n := countJobs(t, b.pool, id); n != 0 {
			t.Errorf("provisioning jobs = %d, want 0", n)
		}
		if n := len(auditRows(t, b.pool)); n != 0 {
			t.Errorf("audit rows = %d, want 0", n)
		}
	})

	t.Run("ErrNotConfigured", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{noKey: true})
		id := seedCompany(t, b.pool, "Acme", "", company.StatusSkipped)
		if _, err := b.svc.RequestProvisioning(ctx, id, support); !errors.Is(err, company.ErrNotConfigured) {
			t.Fatalf("err = %v, want ErrNotConfigured", err)
		}
		if got := stored(t, b.pool, id).Status; got != "skipped" {
			t.Errorf("status = %s, want it unchanged", got)
		}
		if n := countJobs(t, b.pool, id); n != 0 {
			t.Errorf("provisioning jobs = %d, want 0", n)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		t.Parallel()
		b := newDashBundle(t, dashOpts{})
		if _, err := b.svc.RequestProvisioning(ctx, 424242, support); !errors.Is(err, company.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestService_History(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newDashBundle(t, dashOpts{})
	id := seedCompany(t, b.pool, "Acme", "", company.StatusPending)
	_, err := b.pool.Exec(ctx, `
		INSERT INTO provision_attempts (company_id, trigger, actor, started_at, finished_at, outcome, error, http_status, openai_request_id)
		VALUES ($1, 'signup', '', now() - interval '2 minutes', now() - interval '2 minutes' + interval '1500 milliseconds', 'retryable', 'OpenAI answered 503', 503, 'req_1'),
		       ($1, 'manual', 'sam@support.test', now() - interval '1 minute', NULL, 'started', '', NULL, '')`, id)
	if err != nil {
		t.Fatal(err)
	}
	hist, err := b.svc.History(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 {
		t.Fatalf("history has %d attempts, want 2", len(hist))
	}
	got := fmt.Sprintf("%s/%s/%s|%s/%d/%s/%s", hist[0].Trigger, hist[0].Actor, hist[0].Outcome,
		hist[1].Trigger, hist[1].HTTPStatus, hist[1].OpenAIRequestID, hist[1].Error)
	if want := "manual/sam@support.test/started|signup/503/req_1/OpenAI answered 503"; got != want {
		t.Errorf("history = %s, want %s (newest first)", got, want)
	}
	if _, ok := hist[0].Duration(); ok {
		t.Error("an unfinished attempt has a duration")
	}
	if d, ok := hist[1].Duration(); !ok || d != 1500*time.Millisecond {
		t.Errorf("duration = %v, %v; want 1.5s", d, ok)
	}
}
