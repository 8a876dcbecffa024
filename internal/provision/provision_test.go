package provision_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/testenv"
)

const testKey = "sk-admin-fake-provision"

type bundle struct {
	pool      *pgxpool.Pool
	fake      *openaitest.Server
	prov      *provision.Provisioner
	river     *river.Client[pgx.Tx]
	companies *company.Service
	gov       *openaitest.RecordingGovernor
}

type setupOpts struct {
	signupTimeout time.Duration
	maxAttempts   int
	work          bool
}

func setup(t *testing.T, o setupOpts) *bundle {
	t.Helper()
	if o.maxAttempts == 0 {
		o.maxAttempts = 10
	}
	gov := openaitest.NewRecordingGovernor(t, 0)
	env := testenv.New(t, testenv.Options{
		Governor: gov, AdminKey: testKey, SignupTimeout: o.signupTimeout, Logger: slog.New(slog.NewTextHandler(testLog{t}, nil)),
		Settings: provision.Settings{
			MaxAttempts: o.maxAttempts, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
			SettleDelay: 300 * time.Millisecond, LockWaitBusy: 50 * time.Millisecond,
		},
		River: provision.ClientOptions{Work: o.work, Workers: 4, JobTimeout: 15 * time.Second, RescueAfter: 20 * time.Second},
	})
	return &bundle{pool: env.Pool, fake: env.Fake, prov: env.Prov, river: env.River, companies: env.Companies, gov: gov}
}

func (b *bundle) signup(t *testing.T, name string) company.Company {
	t.Helper()
	res, err := b.companies.CreateCompanyFromSignup(context.Background(), company.SignupParams{
		Name: name, Industry: "Software", ContactName: "Grace Hopper", ContactEmail: "grace@example.com",
	})
	if err != nil {
		t.Fatalf("signup %q: %v", name, err)
	}
	return res.Company
}

// waitFinal polls until the company is provisioned or failed.
func (b *bundle) waitFinal(t *testing.T, id int64, within time.Duration) company.Company {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c, err := b.companies.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status == company.StatusProvisioned || c.Status == company.StatusFailed {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("company %d still %s after %v (last error %q)", id, c.Status, within, c.LastError)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type attemptRow struct {
	Trigger, Outcome, Error string
	StartedAt               time.Time
}

func (b *bundle) attempts(t *testing.T, id int64) []attemptRow {
	t.Helper()
	rows, err := b.pool.Query(context.Background(),
		`SELECT trigger, outcome, error, started_at FROM provision_attempts WHERE company_id = $1 ORDER BY started_at, id`, id)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (attemptRow, error) {
		var a attemptRow
		return a, r.Scan(&a.Trigger, &a.Outcome, &a.Error, &a.StartedAt)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPriorities: the signup's own call is interactive, the job that
// retries it background, and a staff member's "Create project now"
// interactive again.
func TestPriorities(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{work: true})
	b.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusInternalServerError})
	c := b.signup(t, "Priority Co")
	if got := b.waitFinal(t, c.ID, 20*time.Second); got.Status != company.StatusProvisioned {
		t.Fatalf("status %s, want provisioned", got.Status)
	}
	calls := b.gov.Calls()
	if len(calls) < 2 || calls[0] != "signup/interactive" {
		t.Fatalf("governed calls = %v, want the signup's first, interactive", calls)
	}
	for _, c := range calls[1:] {
		if c != "job/background" {
			t.Errorf("governed calls = %v, want the retries' all job/background", calls)
			break
		}
	}

	// A company left without a project, then "Create project now".
	var id int64
	if err := b.pool.QueryRow(context.Background(),
		`INSERT INTO companies (name, industry, contact_name, contact_email, website, company_size, country, project_description, provisioning_status)
		 VALUES ('Later Co', 'Software', 'A', 'a@example.com', '', '', '', 'Project for Later Co', 'failed') RETURNING id`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	before := len(b.gov.Calls())
	if _, err := b.companies.RequestProvisioning(context.Background(), id, audit.Actor{Email: "staff@example.com"}); err != nil {
		t.Fatal(err)
	}
	b.waitFinal(t, id, 20*time.Second)
	manual := b.gov.Calls()[before:]
	if len(manual) == 0 || manual[0] != "manual/interactive" {
		t.Errorf("governed calls of Create project now = %v, want manual/interactive", manual)
	}
}

// TestFaults is the fault table: each injected OpenAI failure during signup,
// then the background job, ends in one final state with at most one project.
func TestFaults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		faults     []openaitest.Fault
		maxTries   int
		wantStatus company.Status
		wantCount  int // projects with the company's name on OpenAI
		wantLinked bool
	}{
		{name: "SlowerThanSignupTimeout", faults: []openaitest.Fault{{Endpoint: "create", Latency: 1200 * time.Millisecond}},
			wantStatus: company.StatusProvisioned, wantCount: 1, wantLinked: true},
		{name: "RateLimitedWithRetryAfter", faults: []openaitest.Fault{{Endpoint: "create", Status: 429, RetryAfter: "1"}, {Endpoint: "create", Status: 429, RetryAfter: "1"}},
			wantStatus: company.StatusProvisioned, wantCount: 1},
		{name: "ServerError", faults: []openaitest.Fault{{Endpoint: "create", Status: 500}, {Endpoint: "create", Status: 503}},
			wantStatus: company.StatusProvisioned, wantCount: 1},
		{name: "Unauthorized", faults: []openaitest.Fault{{Endpoint: "create", Status: 401}},
			wantStatus: company.StatusFailed, wantCount: 0},
		// OpenAI's project limit makes the company wait, not fail:
		// TestGate_ProjectLimitErrorWaits (gate_test.go).
		{name: "MalformedJSON", faults: []openaitest.Fault{{Endpoint: "create", Malformed: true}},
			wantStatus: company.StatusProvisioned, wantCount: 1, wantLinked: true},
		{name: "ConnectionReset", faults: []openaitest.Fault{{Endpoint: "create", Reset: true}},
			wantStatus: company.StatusProvisioned, wantCount: 1},
		{name: "CreatedThenResponseLost", faults: []openaitest.Fault{{Endpoint: "create", CreateThenDrop: true}},
			wantStatus: company.StatusProvisioned, wantCount: 1, wantLinked: true},
		{name: "LostTwiceThenListFails", faults: []openaitest.Fault{{Endpoint: "create", CreateThenDrop: true}, {Endpoint: "list", Status: 500}, {Endpoint: "list", Status: 500}, {Endpoint: "list", Status: 500}},
			wantStatus: company.StatusProvisioned, wantCount: 1, wantLinked: true},
		{name: "AlwaysFailingGivesUp", maxTries: 3, faults: []openaitest.Fault{{Endpoint: "create", Status: 500}, {Endpoint: "create", Status: 500}, {Endpoint: "create", Status: 500}, {Endpoint: "create", Status: 500}},
			wantStatus: company.StatusFailed, wantCount: 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{signupTimeout: 300 * time.Millisecond, maxAttempts: tt.maxTries, work: true})
			b.fake.Inject(tt.faults...)
			name := "Fault " + tt.name
			c := b.signup(t, name)
			if c.OpenAIProjectID != "" {
				t.Fatalf("signup got project %s despite the fault", c.OpenAIProjectID)
			}
			final := b.waitFinal(t, c.ID, 20*time.Second)
			// Give a slow create still in flight at the fake time to land, so
			// that a duplicate could show.
			time.Sleep(1500 * time.Millisecond)
			if final.Status != tt.wantStatus {
				t.Fatalf("final status = %s (error %q), want %s", final.Status, final.LastError, tt.wantStatus)
			}
			if got := b.fake.CountByName(name); got != tt.wantCount {
				t.Errorf("projects named %q on OpenAI = %d, want %d", name, got, tt.wantCount)
			}
			attempts := b.attempts(t, c.ID)
			last := attempts[len(attempts)-1]
			switch tt.wantStatus {
			case company.StatusProvisioned:
				p, ok := b.fake.Project(final.OpenAIProjectID)
				if !ok || p.Name != name {
					t.Errorf("linked project %q is not the company's project on OpenAI", final.OpenAIProjectID)
				}
				if want := map[bool]string{true: "linked", false: "created"}[tt.wantLinked]; last.Outcome != want {
					t.Errorf("last attempt outcome = %s, want %s", last.Outcome, want)
				}
			case company.StatusFailed:
				if final.LastError == "" {
					t.Error("failed without a reason")
				}
				if final.OpenAIProjectID != "" {
					t.Errorf("failed company has project %s", final.OpenAIProjectID)
				}
			}
			if tt.name == "RateLimitedWithRetryAfter" {
				// The job's try after the second 429 waited for Retry-After.
				if len(attempts) != 3 {
					t.Fatalf("attempts = %+v, want 3", attempts)
				}
				if gap := attempts[2].StartedAt.Sub(attempts[1].StartedAt); gap < time.Second {
					t.Errorf("retry came %v after a 429 with Retry-After: 1", gap)
				}
			}
			if tt.name == "AlwaysFailingGivesUp" && len(attempts) != 3 {
				t.Errorf("attempts = %d, want PROVISION_MAX_ATTEMPTS = 3", len(attempts))
			}
			for _, a := range attempts {
				if a.Outcome == "started" {
					t.Errorf("attempt left unfinished: %+v", a)
				}
			}
		})
	}
}

// Many concurrent attempts for one company create one project.
func TestProvision_ConcurrentAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.fake.SetLatency(200 * time.Millisecond)
	id := insertCompany(t, b.pool, "Racer Inc")

	var wg sync.WaitGroup
	outcomes := make(chan provision.Outcome, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := b.prov.Provision(context.Background(), id, provision.Attempt{Trigger: provision.TriggerManual})
			if err != nil {
				t.Error(err)
				return
			}
			outcomes <- res.Outcome
		}()
	}
	wg.Wait()
	close(outcomes)
	created := 0
	for o := range outcomes {
		switch o {
		case provision.Created:
			created++
		case provision.Busy, provision.AlreadyProvisioned:
		default:
			t.Errorf("unexpected outcome %s", o)
		}
	}
	if created != 1 || b.fake.CountByName("Racer Inc") != 1 {
		t.Fatalf("created = %d, projects = %d; want 1 and 1", created, b.fake.CountByName("Racer Inc"))
	}
}

// A process that died between OpenAI's create and our update left an
// unfinished attempt; the next attempt links the project instead of creating
// another, and only after the settling delay.
func TestProvision_AfterCrashLinksExisting(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := insertCompany(t, b.pool, "Crashy Ltd")
	if _, err := b.pool.Exec(context.Background(),
		`INSERT INTO provision_attempts (company_id, trigger) VALUES ($1, 'signup')`, id); err != nil {
		t.Fatal(err)
	}
	existing := b.fake.AddProject("Crashy Ltd", false)
	b.fake.AddProject("Crashy Ltd", true) // archived: never linked

	res, err := b.prov.Provision(context.Background(), id, provision.Attempt{Trigger: provision.TriggerRetry})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != provision.Waiting || res.RetryAfter <= 0 {
		t.Fatalf("right after the crash: outcome %s, retry after %v; want waiting", res.Outcome, res.RetryAfter)
	}
	time.Sleep(res.RetryAfter)
	res, err = b.prov.Provision(context.Background(), id, provision.Attempt{Trigger: provision.TriggerRetry})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != provision.Linked || res.ProjectID != existing.ID {
		t.Fatalf("outcome %s project %s; want linked %s", res.Outcome, res.ProjectID, existing.ID)
	}
	if n := b.fake.CreateCount(); n != 0 {
		t.Errorf("creates = %d, want 0", n)
	}
	var unfinished int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM provision_attempts WHERE company_id = $1 AND outcome = 'started'`, id).Scan(&unfinished); err != nil {
		t.Fatal(err)
	}
	if unfinished != 0 {
		t.Errorf("%d attempts still marked started", unfinished)
	}
}

// Two active same-name projects since the uncertain attempt: nothing is
// guessed; the company fails with a reason asking for a human.
func TestProvision_AmbiguousNeverGuesses(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	id := insertCompany(t, b.pool, "Twin Co")
	if _, err := b.pool.Exec(context.Background(),
		`INSERT INTO provision_attempts (company_id, trigger, outcome, finished_at, started_at) VALUES ($1, 'signup', 'uncertain', now(), now() - interval '10 seconds')`, id); err != nil {
		t.Fatal(err)
	}
	b.fake.AddProject("Twin Co", false)
	b.fake.AddProject("Twin Co", false)
	res, err := b.prov.Provision(context.Background(), id, provision.Attempt{Trigger: provision.TriggerManual})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != provision.Failed {
		t.Fatalf("outcome %s, want failed", res.Outcome)
	}
	if b.fake.CreateCount() != 0 {
		t.Error("created a third project")
	}
}

func TestProvision_SkippedWithoutKey(t *testing.T) {
	t.Parallel()
	pool := dbtest.NewPool(t)
	prov := provision.New(pool, nil, provision.Settings{}, nil, slog.New(slog.DiscardHandler))
	id := insertCompany(t, pool, "Keyless")
	res, err := prov.Provision(context.Background(), id, provision.Attempt{Trigger: provision.TriggerManual})
	if err != nil || res.Outcome != provision.Skipped {
		t.Fatalf("Provision = %+v, %v; want skipped", res, err)
	}
	if _, err := prov.Provision(context.Background(), 999999, provision.Attempt{}); !errors.Is(err, provision.ErrCompanyNotFound) {
		t.Errorf("unknown company: err = %v", err)
	}
}

func insertCompany(t *testing.T, pool *pgxpool.Pool, name string) int64 {
	t.Helper()
	return dbtest.InsertCompany(t, pool, dbtest.CompanyOpts{Name: name, Description: "Project for " + name + " - Software"})
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// While OpenAI is being called (here: slowly), the app holds no database
// transaction open: neither the signup nor the job.
func TestNoTransactionOpenDuringOpenAICall(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{signupTimeout: 2 * time.Second})
	b.fake.SetLatency(1500 * time.Millisecond)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.signup(t, "Patient Inc")
	}()
	// Wait until the create request is at the fake, then look.
	deadline := time.Now().Add(5 * time.Second)
	for b.fake.CreateCount() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if b.fake.CreateCount() == 0 {
		t.Fatal("the create never reached OpenAI")
	}
	var open int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`).Scan(&open); err != nil {
		t.Fatal(err)
	}
	if open != 0 {
		t.Errorf("%d transactions open while OpenAI is being called", open)
	}
	<-done
}
