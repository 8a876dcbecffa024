package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbtest"
	"github.com/provisioner/provisioner/internal/metrics"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/openai/openaitest"
)

const bfTestKey = "sk-admin-fake-backfill"

var bfAdmin = audit.Actor{ID: 7, Email: "admin@example.com"}

// bfBundle is one "process": a provisioner, a River client and a
// Backfiller on a database, talking to a fake OpenAI.
type bfBundle struct {
	pool *pgxpool.Pool
	fake *openaitest.Server
	prov *Provisioner
	rc   *river.Client[pgx.Tx]
	bf   *Backfiller
	gov  *openaitest.RecordingGovernor
}

type bfOptions struct {
	pool        *pgxpool.Pool      // default: a fresh database
	fake        *openaitest.Server // default: a new fake
	noKey       bool               // no admin key configured
	work        bool               // start the River client
	concurrency int                // default 4
	backfill    BackfillOptions
	maxAttempts int     // default 5
	rate        float64 // the governor's first rate; default 5000 (fast tests)
}

func newBackfillBundle(t *testing.T, o bfOptions) *bfBundle {
	t.Helper()
	if o.pool == nil {
		o.pool = dbtest.NewPool(t)
	}
	if o.fake == nil {
		o.fake = openaitest.New(openaitest.Options{AdminKey: bfTestKey})
		t.Cleanup(o.fake.Close)
	}
	if o.concurrency == 0 {
		o.concurrency = 4
	}
	if o.rate == 0 {
		o.rate = 5000
	}
	if o.maxAttempts == 0 {
		o.maxAttempts = 5
	}
	logger := slog.New(slog.NewTextHandler(bfTestLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var projects openai.Projects
	gov := openaitest.NewRecordingGovernor(t, o.rate)
	if !o.noKey {
		projects, _ = o.fake.NewClient(t, openai.Options{AdminKey: bfTestKey, Timeout: 3 * time.Second, Governor: gov})
	}
	prov := New(o.pool, projects, Settings{
		MaxAttempts: o.maxAttempts, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		SettleDelay: 300 * time.Millisecond, LockWaitBusy: 50 * time.Millisecond,
	}, metrics.New(prometheus.NewRegistry()), logger)
	rc, err := NewRiverClient(o.pool, prov, ClientOptions{
		Work: true, Workers: 4, JobTimeout: 10 * time.Second, RescueAfter: 20 * time.Second,
		Logger: logger, Backfill: o.backfill,
	})
	if err != nil {
		t.Fatal(err)
	}
	if o.work {
		if err := rc.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = rc.StopAndCancel(ctx)
		})
	}
	return &bfBundle{pool: o.pool, fake: o.fake, prov: prov, rc: rc, bf: NewBackfiller(prov, rc, o.concurrency), gov: gov}
}

// addCompanies inserts n companies named prefix 1…n with the given
// provisioning status and no project.
func (b *bfBundle) addCompanies(t *testing.T, prefix string, n int, status string) {
	t.Helper()
	dbtest.InsertNumberedCompanies(t, b.pool, prefix, n, dbtest.CompanyOpts{Status: status})
}

func (b *bfBundle) addCompany(t *testing.T, name string) int64 {
	t.Helper()
	return dbtest.InsertCompany(t, b.pool, dbtest.CompanyOpts{Name: name})
}

type bfCompany struct {
	ID        int64
	Name      string
	ProjectID *string
	Status    string
	Error     string
}

func (b *bfBundle) companies(t *testing.T) []bfCompany {
	t.Helper()
	rows, err := b.pool.Query(context.Background(),
		`SELECT id, name, openai_project_id, provisioning_status, provisioning_error FROM companies ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (bfCompany, error) {
		var c bfCompany
		err := r.Scan(&c.ID, &c.Name, &c.ProjectID, &c.Status, &c.Error)
		return c, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (b *bfBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	return dbtest.Count(t, b.pool, query, args...)
}

// waitRun polls the run until it is over.
func (b *bfBundle) waitRun(t *testing.T, id int64, within time.Duration) Run {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		run, err := b.bf.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !run.Running() {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d still running after %s: %+v", id, within, run)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkAddsUp verifies a finished run's counters.
func checkAddsUp(t *testing.T, run Run) {
	t.Helper()
	if run.Status != RunFinished {
		t.Errorf("run status = %s (%s), want finished", run.Status, run.LastError)
	}
	if sum := run.Created + run.Linked + run.Failed + run.Skipped; sum != run.Total || run.Done != run.Total {
		t.Errorf("created %d + linked %d + failed %d + skipped %d = %d, done %d, total %d; want all equal",
			run.Created, run.Linked, run.Failed, run.Skipped, sum, run.Done, run.Total)
	}
	if run.Remaining != 0 || run.Percent() != 100 {
		t.Errorf("remaining %d, percent %d; want 0 and 100", run.Remaining, run.Percent())
	}
}

// checkExactlyOnce verifies that every company is provisioned with a
// project of its name or failed with a reason, and that no name has two
// projects on OpenAI (except those listed in extra, seeded beforehand).
func checkExactlyOnce(t *testing.T, b *bfBundle, extra map[string]int) (provisioned, failed int) {
	t.Helper()
	for _, c := range b.companies(t) {
		switch {
		case c.ProjectID != nil:
			provisioned++
			if c.Status != "provisioned" {
				t.Errorf("%s: status %q with project %s", c.Name, c.Status, *c.ProjectID)
			}
			if p, ok := b.fake.Project(*c.ProjectID); !ok || p.Name != c.Name {
				t.Errorf("%s: linked to %s, which the fake has as %+v", c.Name, *c.ProjectID, p)
			}
		case c.Status == "failed":
			failed++
			if c.Error == "" {
				t.Errorf("%s: failed without a reason", c.Name)
			}
		default:
			t.Errorf("%s: neither provisioned nor failed: status %q", c.Name, c.Status)
		}
		if n, want := b.fake.CountByName(c.Name), 1+extra[c.Name]; n > want {
			t.Errorf("%s: %d projects on OpenAI, want at most %d", c.Name, n, want)
		}
	}
	return provisioned, failed
}

func TestBackfill_ManyCompaniesWithFaults(t *testing.T) {
	t.Parallel()
	b := newBackfillBundle(t, bfOptions{work: true})
	b.addCompanies(t, "Pending Co", 150, "pending")
	b.addCompanies(t, "Skipped Co", 40, "skipped") // signed up without a key
	b.addCompanies(t, "Failed Co", 10, "failed")
	b.fake.Inject(
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusInternalServerError},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusTooManyRequests, RetryAfter: "1"},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusUnauthorized},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusBadGateway},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusTooManyRequests, RetryAfter: "1"},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, CreateThenDrop: true},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Reset: true},
	)

	run, running, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{})
	if err != nil || running {
		t.Fatalf("Start = %v, running %v", err, running)
	}
	if run.Total != 200 || run.Concurrency != 4 || run.StartedBy != bfAdmin.Email {
		t.Errorf("started run = %+v, want total 200, concurrency 4, by %s", run, bfAdmin.Email)
	}
	run = b.waitRun(t, run.ID, time.Minute)
	checkAddsUp(t, run)
	if run.Total != 200 {
		t.Errorf("total = %d, want 200", run.Total)
	}
	if b.fake.PendingFaults() != 0 {
		t.Errorf("%d faults never hit", b.fake.PendingFaults())
	}
	provisioned, failed := checkExactlyOnce(t, b, nil)
	if failed != 1 || provisioned != 199 {
		t.Errorf("provisioned %d, failed %d; want 199 and 1 (the 401)", provisioned, failed)
	}
	if run.Failed != 1 || run.Created+run.Linked != 199 {
		t.Errorf("run counts %+v; want 1 failed, 199 created or linked", run)
	}
	if len(run.Failures) != 1 || run.Failures[0].Error != "OpenAI rejected the admin key (401)" || run.Failures[0].CompanyName == "" {
		t.Errorf("failures = %+v, want the 401 with its company", run.Failures)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND actor_email = $2 AND actor_id = 7`, audit.ActionBackfillStart, bfAdmin.Email); n != 1 {
		t.Errorf("%d start audit entries, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND detail LIKE '%1 failed%'`, audit.ActionBackfillFinish); n != 1 {
		t.Errorf("%d finish audit entries with the summary, want 1", n)
	}
	if n := b.count(t, `SELECT count(*) FROM provision_attempts WHERE trigger = 'backfill' AND actor = $1`, bfAdmin.Email); n < 200 {
		t.Errorf("%d backfill attempts recorded, want at least one per company", n)
	}
}

func TestBackfill_StartedTwiceAtOnce(t *testing.T) {
	t.Parallel()
	b := newBackfillBundle(t, bfOptions{})
	b.addCompanies(t, "Co", 20, "pending")

	const n = 8
	var wg sync.WaitGroup
	runs := make([]Run, n)
	already := make([]bool, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			runs[i], already[i], errs[i] = b.bf.Start(context.Background(), bfAdmin, StartOptions{})
		})
	}
	close(start)
	wg.Wait()
	started := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Start %d: %v", i, errs[i])
		}
		if !already[i] {
			started++
		}
		if runs[i].ID != runs[0].ID || !runs[i].Running() {
			t.Errorf("Start %d returned run %d (%s), want the one running run %d", i, runs[i].ID, runs[i].Status, runs[0].ID)
		}
	}
	if started != 1 {
		t.Errorf("%d Starts started a run, want exactly 1", started)
	}
	if got := b.count(t, `SELECT count(*) FROM backfill_runs`); got != 1 {
		t.Errorf("%d runs stored, want 1", got)
	}
	// RequireInserted fails unless exactly one backfill job exists.
	rivertest.RequireInserted(context.Background(), t, riverpgxv5.New(b.pool), &BackfillArgs{}, nil)
}

// Two processes (own pools, River clients and provisioners) on one database
// start a backfill at the same moment: one run, worked once.
func TestBackfill_TwoProcesses(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	fake := openaitest.New(openaitest.Options{AdminKey: bfTestKey})
	t.Cleanup(fake.Close)
	fake.SetLatency(5 * time.Millisecond)
	procs := make([]*bfBundle, 2)
	for i := range procs {
		pool, err := db.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		// Short slices hand the run from one process to the other.
		procs[i] = newBackfillBundle(t, bfOptions{pool: pool, fake: fake, work: true, backfill: BackfillOptions{Slice: 300 * time.Millisecond}})
	}
	procs[0].addCompanies(t, "Co", 150, "pending")

	var wg sync.WaitGroup
	runs := make([]Run, len(procs))
	already := make([]bool, len(procs))
	start := make(chan struct{})
	for i, p := range procs {
		wg.Go(func() {
			<-start
			var err error
			runs[i], already[i], err = p.bf.Start(context.Background(), audit.Actor{Email: fmt.Sprintf("proc%d@example.com", i)}, StartOptions{})
			if err != nil {
				t.Errorf("process %d: Start: %v", i, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if runs[0].ID != runs[1].ID || already[0] == already[1] {
		t.Fatalf("runs %d and %d (already running: %v, %v); want one run started once", runs[0].ID, runs[1].ID, already[0], already[1])
	}
	run := procs[0].waitRun(t, runs[0].ID, time.Minute)
	checkAddsUp(t, run)
	if run.Created != 150 {
		t.Errorf("created %d, want 150", run.Created)
	}
	if provisioned, _ := checkExactlyOnce(t, procs[0], nil); provisioned != 150 {
		t.Errorf("%d provisioned, want 150", provisioned)
	}
	if n := fake.CreateCount(); n != 150 {
		t.Errorf("%d create requests, want 150", n)
	}
	if got := procs[0].count(t, `SELECT count(*) FROM backfill_runs`); got != 1 {
		t.Errorf("%d runs stored, want 1", got)
	}
}

func TestBackfill_LinksExistingProjects(t *testing.T) {
	t.Parallel()
	b := newBackfillBundle(t, bfOptions{work: true})
	// Acme's first attempt (cut off, say) began before its project was
	// created: the project can be its own and is adopted. The others
	// made no attempt (adopt.go).
	acmeID := b.addCompany(t, "Acme")
	if _, err := b.pool.Exec(context.Background(), `INSERT INTO provision_attempts (company_id, trigger, outcome, finished_at)
		VALUES ($1, 'signup', 'retryable', now())`, acmeID); err != nil {
		t.Fatal(err)
	}
	acme := b.fake.AddProject("Acme", false)
	b.fake.AddProject("Globex", true) // archived: not reused
	initech := b.fake.AddProject("Initech", false)
	b.fake.AddProject("Vandelay", false)
	b.fake.AddProject("Vandelay", false)
	b.fake.AddProject("acme", false) // the name must match exactly
	for _, name := range []string{"Globex", "Initech", "Vandelay"} {
		b.addCompany(t, name)
	}
	// Initech's project is already held by another company.
	dbtest.InsertCompany(t, b.pool, dbtest.CompanyOpts{Name: "Initrode", ProjectID: initech.ID, Status: "provisioned"})

	run, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run = b.waitRun(t, run.ID, 30*time.Second)
	checkAddsUp(t, run)
	if run.Total != 4 || run.Linked != 1 || run.Created != 2 || run.Failed != 1 {
		t.Errorf("run = %+v; want total 4: 1 linked existing (Acme), 2 created (Globex, Initech), 1 failed (Vandelay)", run)
	}
	byName := map[string]bfCompany{}
	for _, c := range b.companies(t) {
		byName[c.Name] = c
	}
	if c := byName["Acme"]; c.ProjectID == nil || *c.ProjectID != acme.ID {
		t.Errorf("Acme linked to %v, want the existing %s", c.ProjectID, acme.ID)
	}
	for name, want := range map[string]int{"Acme": 1, "Globex": 2, "Initech": 2, "Vandelay": 2} {
		if got := b.fake.CountByName(name); got != want {
			t.Errorf("%d projects named %s, want %d", got, name, want)
		}
	}
	if c := byName["Initech"]; c.ProjectID == nil || *c.ProjectID == initech.ID {
		t.Errorf("Initech project = %v; want a new one, not Initrode's %s", c.ProjectID, initech.ID)
	}
	if c := byName["Vandelay"]; c.Status != "failed" || c.ProjectID != nil {
		t.Errorf("Vandelay = %+v; want failed (two candidates), not linked", c)
	}
	if len(run.Failures) != 1 || run.Failures[0].CompanyName != "Vandelay" {
		t.Errorf("failures = %+v, want Vandelay's", run.Failures)
	}
	if n := b.fake.CreateCount(); n != 2 {
		t.Errorf("%d creates, want 2", n)
	}
	if n := b.count(t, `SELECT count(*) FROM provision_attempts a JOIN companies c ON c.id = a.company_id
		WHERE c.name = 'Acme' AND a.outcome = 'linked' AND a.trigger = 'backfill' AND a.project_id = $1`, acme.ID); n != 1 {
		t.Errorf("%d 'linked' attempts for Acme, want 1", n)
	}
}

func TestBackfill_DryRunChangesNothing(t *testing.T) {
	t.Parallel()
	b := newBackfillBundle(t, bfOptions{work: true})
	b.addCompanies(t, "Co", 25, "pending")
	if _, err := b.pool.Exec(context.Background(), `UPDATE companies SET openai_project_id = 'proj_given', provisioning_status = 'provisioned' WHERE name = 'Co 1'`); err != nil {
		t.Fatal(err)
	}

	dry, err := b.bf.DryRun(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if dry.Count != 24 || !dry.Configured {
		t.Errorf("dry run = %+v, want 24 companies, configured", dry)
	}
	if len(dry.Names) != 10 || dry.Names[0] != "Co 2" || dry.Names[9] != "Co 11" {
		t.Errorf("names = %q, want Co 2 … Co 11", dry.Names)
	}
	// It reads OpenAI's list (for the possible matches) and nothing else.
	for _, r := range b.fake.Requests() {
		if r.Endpoint != openaitest.EndpointList {
			t.Errorf("dry run sent %s %s to OpenAI", r.Method, r.Path)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM backfill_runs`) + b.count(t, `SELECT count(*) FROM provision_attempts`); n != 0 {
		t.Errorf("dry run wrote %d rows", n)
	}
}

func TestBackfill_RetryFailedOnlyRetriesThatRunsFailures(t *testing.T) {
	t.Parallel()
	b := newBackfillBundle(t, bfOptions{work: true})
	b.addCompanies(t, "Co", 10, "pending")
	b.fake.Inject(
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusForbidden},
		openaitest.Fault{Endpoint: openaitest.EndpointCreate, Status: http.StatusForbidden},
	)
	first, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first = b.waitRun(t, first.ID, 30*time.Second)
	if first.Failed != 2 || first.Created != 8 {
		t.Fatalf("first run = %+v, want 2 failed, 8 created", first)
	}
	// A company that signed up later, without a project: not the retry's business.
	late := b.addCompany(t, "Latecomer")
	creates := b.fake.CreateCount()

	retry, running, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{RetryFailedOf: first.ID})
	if err != nil || running {
		t.Fatalf("retry Start = %v, running %v", err, running)
	}
	if retry.RetryOf != first.ID || retry.Total != 2 {
		t.Errorf("retry run = %+v, want retry of %d with total 2", retry, first.ID)
	}
	retry = b.waitRun(t, retry.ID, 30*time.Second)
	checkAddsUp(t, retry)
	if retry.Created != 2 || retry.Failed != 0 {
		t.Errorf("retry run = %+v, want 2 created", retry)
	}
	if n := b.fake.CreateCount() - creates; n != 2 {
		t.Errorf("retry sent %d creates, want 2", n)
	}
	if n := b.count(t, `SELECT count(*) FROM companies WHERE id = $1 AND openai_project_id IS NULL`, late); n != 1 {
		t.Error("the retry provisioned a company that was not among the failures")
	}
	// The first run's failures are all fixed now.
	if _, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{RetryFailedOf: first.ID}); !errors.Is(err, ErrNothingToBackfill) {
		t.Errorf("second retry: err = %v, want ErrNothingToBackfill", err)
	}
	if _, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{RetryFailedOf: 999}); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("retry of unknown run: err = %v, want ErrRunNotFound", err)
	}
}

func TestBackfill_Refusals(t *testing.T) {
	t.Parallel()
	t.Run("NotConfigured", func(t *testing.T) {
		t.Parallel()
		b := newBackfillBundle(t, bfOptions{noKey: true})
		b.addCompanies(t, "Co", 3, "skipped")
		if _, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{}); !errors.Is(err, ErrNotConfigured) {
			t.Errorf("err = %v, want ErrNotConfigured", err)
		}
		if dry, err := b.bf.DryRun(context.Background()); err != nil || dry.Configured || dry.Count != 3 {
			t.Errorf("dry run = %+v, %v; want 3, not configured", dry, err)
		}
		if n := b.count(t, `SELECT count(*) FROM backfill_runs`); n != 0 {
			t.Errorf("%d runs stored, want 0", n)
		}
	})
	t.Run("NothingToDo", func(t *testing.T) {
		t.Parallel()
		b := newBackfillBundle(t, bfOptions{})
		if _, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{}); !errors.Is(err, ErrNothingToBackfill) {
			t.Errorf("err = %v, want ErrNothingToBackfill", err)
		}
		if _, err := b.bf.Current(context.Background()); !errors.Is(err, ErrRunNotFound) {
			t.Errorf("Current: err = %v, want ErrRunNotFound", err)
		}
		if _, err := b.bf.Get(context.Background(), 42); !errors.Is(err, ErrRunNotFound) {
			t.Errorf("Get: err = %v, want ErrRunNotFound", err)
		}
	})
}

// startAndWaitDone starts a run, then the bundle's River client, and
// returns once the run has n companies done.
func (b *bfBundle) startAndWaitDone(t *testing.T, n int) Run {
	t.Helper()
	run, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for {
		r, err := b.bf.Get(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Done >= n {
			return run
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stopped process leaves the run to the next one, which finishes it
// without redoing what was done.
func TestBackfill_ResumesAfterStop(t *testing.T) {
	t.Parallel()
	first := newBackfillBundle(t, bfOptions{concurrency: 2})
	first.fake.SetLatency(20 * time.Millisecond)
	first.addCompanies(t, "Co", 60, "pending")
	run := first.startAndWaitDone(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.rc.StopAndCancel(ctx); err != nil {
		t.Fatal(err)
	}
	mid, err := first.bf.Get(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !mid.Running() || mid.Done >= 60 {
		t.Fatalf("after the stop: %+v; want a run still going", mid)
	}

	second := newBackfillBundle(t, bfOptions{pool: first.pool, fake: first.fake, work: true})
	done := second.waitRun(t, run.ID, time.Minute)
	checkAddsUp(t, done)
	// Creates cut off by the stop are found and linked by the next attempt.
	if done.Created+done.Linked != 60 || done.Failed != 0 {
		t.Errorf("run = %+v; want 60 created or linked", done)
	}
	if provisioned, _ := checkExactlyOnce(t, second, nil); provisioned != 60 {
		t.Errorf("%d provisioned, want 60", provisioned)
	}
}

// A graceful stop (River's soft Stop, which tells a running job nothing)
// does not wait for the slice to end: the process closes
// BackfillOptions.Stopping, the slice takes no new company and hands the
// run back to River at once.
func TestBackfill_GracefulStopEndsTheSlice(t *testing.T) {
	t.Parallel()
	stopping := make(chan struct{})
	b := newBackfillBundle(t, bfOptions{concurrency: 2, backfill: BackfillOptions{Slice: 10 * time.Minute, Stopping: stopping}})
	b.fake.SetLatency(20 * time.Millisecond)
	b.addCompanies(t, "Co", 400, "pending") // about 4 s of work at 2 × 20 ms
	run := b.startAndWaitDone(t, 10)
	close(stopping)
	// Without Stopping, the soft stop would wait for the rest of the run.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.rc.Stop(ctx); err != nil {
		t.Fatalf("graceful stop: %v; want the slice to hand its run back at once", err)
	}
	mid, err := b.bf.Get(context.Background(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !mid.Running() || mid.Done >= 400 || mid.Created+mid.Linked+mid.Failed+mid.Skipped != mid.Done {
		t.Fatalf("after the stop: %+v; want a run still going, its outcomes adding up", mid)
	}
	var state string
	var lease *time.Time
	if err := b.pool.QueryRow(context.Background(),
		`SELECT j.state::text, r.lease_until FROM river_job j JOIN backfill_runs r ON r.id = (j.args->>'run_id')::bigint WHERE j.kind = 'backfill_run'`,
	).Scan(&state, &lease); err != nil {
		t.Fatal(err)
	}
	if state != "available" || lease != nil {
		t.Errorf("run's job %s with lease %v; want it available to the next process, the lease released", state, lease)
	}
}

// A run worked in many slices by one process lists the projects once.
func TestBackfill_ListsProjectsOncePerProcess(t *testing.T) {
	t.Parallel()
	b := newBackfillBundle(t, bfOptions{work: true, concurrency: 2, backfill: BackfillOptions{Slice: 50 * time.Millisecond}})
	b.fake.SetLatency(10 * time.Millisecond)
	b.addCompanies(t, "Co", 40, "pending")
	run, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run = b.waitRun(t, run.ID, time.Minute)
	checkAddsUp(t, run)
	if n := b.count(t, `SELECT coalesce((metadata->>'snoozes')::int, 0) FROM river_job WHERE kind = 'backfill_run'`); n < 2 {
		t.Fatalf("the run took %d slices after the first; the test wants several", n)
	}
	if n := b.fake.Count(openaitest.EndpointList); n != 1 {
		t.Errorf("%d project listings, want 1", n)
	}
}

// A run whose job is gone does not block later runs.
func TestBackfill_LostRunIsEnded(t *testing.T) {
	t.Parallel()
	b := newBackfillBundle(t, bfOptions{})
	b.addCompanies(t, "Co", 3, "pending")
	lost, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(context.Background(), `DELETE FROM river_job`); err != nil {
		t.Fatal(err)
	}
	fresh, running, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{})
	if err != nil || running || fresh.ID == lost.ID {
		t.Fatalf("Start after losing run %d: run %d, running %v, err %v; want a new run", lost.ID, fresh.ID, running, err)
	}
	old, err := b.bf.Get(context.Background(), lost.ID)
	if err != nil {
		t.Fatal(err)
	}
	if old.Status != RunFailed || old.LastError == "" {
		t.Errorf("lost run = %s (%q), want failed with a reason", old.Status, old.LastError)
	}
}

// OpenAI refusing the project list for good ends the run as failed.
func TestBackfill_ListRejectedFailsRun(t *testing.T) {
	t.Parallel()
	b := newBackfillBundle(t, bfOptions{work: true})
	b.addCompanies(t, "Co", 3, "pending")
	b.fake.Inject(openaitest.Fault{Endpoint: openaitest.EndpointList, Status: http.StatusUnauthorized})
	run, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run = b.waitRun(t, run.ID, 30*time.Second)
	if run.Status != RunFailed || run.LastError != "OpenAI rejected the admin key (401)" {
		t.Errorf("run = %s (%q), want failed: OpenAI rejected the admin key (401)", run.Status, run.LastError)
	}
	if n := b.fake.CreateCount(); n != 0 {
		t.Errorf("%d creates, want 0", n)
	}
	cur, err := b.bf.Current(context.Background())
	if err != nil || cur.ID != run.ID {
		t.Errorf("Current = %d, %v; want the failed run %d", cur.ID, err, run.ID)
	}
}

// Under OpenAI's rate limit the run still finishes, with every company
// provisioned once, and the rate governor keeps the 429s to a fraction of
// the calls, though it starts half again above the limit (it knows
// nothing of it yet, and cuts at most once a second, by at most 40 %).
func TestBackfill_RateLimited(t *testing.T) {
	t.Parallel()
	fake := openaitest.New(openaitest.Options{AdminKey: bfTestKey, RateLimit: 40})
	t.Cleanup(fake.Close)
	b := newBackfillBundle(t, bfOptions{fake: fake, work: true, concurrency: 8, rate: 60})
	b.addCompanies(t, "Co", 120, "pending")
	run, _, err := b.bf.Start(context.Background(), bfAdmin, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run = b.waitRun(t, run.ID, time.Minute)
	checkAddsUp(t, run)
	if run.Created != 120 {
		t.Errorf("created %d, want 120", run.Created)
	}
	checkExactlyOnce(t, b, nil)
	limited, creates := fake.RateLimited(), fake.CreateCount()
	t.Logf("%d of %d creates answered 429", limited, creates)
	if limited*3 > creates {
		t.Errorf("%d of %d creates answered 429; the governor should keep it well under a third", limited, creates)
	}
	// Every call of the run is a background call of the backfill.
	for _, c := range b.gov.Calls() {
		if c != "backfill/background" {
			t.Errorf("a backfill call went to the governor as %q, want backfill/background", c)
			break
		}
	}
}

type bfTestLog struct{ t *testing.T }

func (w bfTestLog) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
