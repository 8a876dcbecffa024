package provision

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/sync/errgroup"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
)

// A backfill gives every company without a project its project, in the
// background, on the same durable job system as provisioning:
//
//   - Backfiller.Start inserts a backfill_runs row and its BackfillArgs job in
//     one transaction. A partial unique index allows one running run in the
//     whole database, so across processes a second start gets the running
//     run back.
//   - BackfillWorker works the run in slices. It lists the organization's
//     active projects once (again only in another process, or after
//     indexMaxAge), then streams the run's companies in keyset batches
//     through a bounded pool of goroutines: a company
//     whose name matches exactly one free active project is linked to it
//     (Provisioner.LinkExisting), any other goes through Provision, the only
//     path that creates projects. A company's final outcome is written to
//     backfill_items, so a run resumed after a stop or a crash skips what is
//     done. A slice ends after BackfillOptions.Slice and hands the run back to
//     River, which keeps every execution well inside River's rescue window.
//   - A shared pacer spaces the OpenAI calls of all goroutines and backs them
//     all off together on a 429.

// QueueBackfill is the River queue of backfill runs; each process works at
// most one run at a time.
const QueueBackfill = "backfill"

// Errors returned by the Backfiller.
var (
	// ErrNotConfigured: without an admin key a run could only skip.
	ErrNotConfigured = errors.New("provision: no OpenAI admin key is configured; set OPENAI_ADMIN_KEY to run a backfill")
	// ErrNothingToBackfill: every company (or every failure to retry) has a project.
	ErrNothingToBackfill = errors.New("provision: no company is missing a project")
	// ErrRunNotFound: no backfill run has that ID (or none ever ran).
	ErrRunNotFound = errors.New("provision: backfill run not found")
	// ErrNoFreeProject is returned by LinkExisting when every candidate
	// project belongs to another company.
	ErrNoFreeProject = errors.New("provision: every project with the company's name belongs to another company")
)

// RunStatus is the state of a backfill run.
type RunStatus string

// Run statuses.
const (
	RunRunning  RunStatus = "running"
	RunFinished RunStatus = "finished"
	// RunCancelled: its job was cancelled in River.
	RunCancelled RunStatus = "cancelled"
	// RunFailed: it could not go on (e.g. OpenAI rejected the admin key
	// while listing projects); LastError says why.
	RunFailed RunStatus = "failed"
)

// maxFailuresShown bounds Run.Failures.
const maxFailuresShown = 100

// Run is a backfill run and its progress.
type Run struct {
	ID        int64
	Status    RunStatus
	StartedBy string
	// RetryOf is the run whose failures this run retries; 0 for a full run.
	RetryOf     int64
	Concurrency int
	StartedAt   time.Time
	FinishedAt  *time.Time
	// Total is how many companies the run covers; Done = Created + Linked +
	// Failed + Skipped.
	Total, Done, Remaining           int
	Created, Linked, Failed, Skipped int
	// Rate is companies done per second since the start; ETA is the time
	// left at that rate (0 when unknown or over).
	Rate      float64
	ETA       time.Duration
	LastError string
	// Failures are the first failed companies, oldest first.
	Failures []Failure
}

// Failure is a company a run could not give a project.
type Failure struct {
	CompanyID   int64
	CompanyName string
	Error       string
}

// Running reports whether the run is still going.
func (r Run) Running() bool { return r.Status == RunRunning }

// Percent is how far the run is, 0 to 100.
func (r Run) Percent() int {
	switch {
	case !r.Running():
		return 100
	case r.Total <= 0:
		return 0
	}
	return min(100, r.Done*100/r.Total)
}

// DryRun is what a backfill would do now.
type DryRun struct {
	// Count is the number of companies without a project.
	Count int
	// Names are the first few of them, in signup order.
	Names []string
	// Configured is false when no admin key is set: a run cannot start.
	Configured bool
}

// dryRunNames is how many names a dry run shows.
const dryRunNames = 10

// StartOptions narrow a run.
type StartOptions struct {
	// RetryFailedOf, if set, limits the run to the companies that run
	// failed (and that still have no project).
	RetryFailedOf int64
}

// Backfiller starts backfill runs and reports on them; BackfillWorker,
// registered by NewRiverClient, does the work.
type Backfiller struct {
	pool        *pgxpool.Pool
	q           *dbgen.Queries
	prov        *Provisioner
	river       *river.Client[pgx.Tx]
	concurrency int
}

// NewBackfiller returns a Backfiller. rc may be an insert-only client;
// concurrency (BACKFILL_CONCURRENCY) is recorded in each run it starts, so
// that whichever process works the run uses it.
func NewBackfiller(p *Provisioner, rc *river.Client[pgx.Tx], concurrency int) *Backfiller {
	return &Backfiller{pool: p.pool, q: p.q, prov: p, river: rc, concurrency: max(concurrency, 1)}
}

// DryRun counts the companies without a project and names the first few. It
// changes nothing and calls nobody.
func (b *Backfiller) DryRun(ctx context.Context) (DryRun, error) {
	n, err := b.q.CountCompaniesWithoutProject(ctx)
	if err != nil {
		return DryRun{}, fmt.Errorf("backfill dry run: %w", err)
	}
	names, err := b.q.ListCompanyNamesWithoutProject(ctx, dryRunNames)
	if err != nil {
		return DryRun{}, fmt.Errorf("backfill dry run: %w", err)
	}
	return DryRun{Count: int(n.Total), Names: names, Configured: b.prov.Configured()}, nil
}

// Start starts a run unless one is running, in which case it returns that
// one with running true. Returns ErrNotConfigured without an admin key,
// ErrNothingToBackfill when no company needs a project, and ErrRunNotFound
// when opts.RetryFailedOf names no run.
func (b *Backfiller) Start(ctx context.Context, actor audit.Actor, opts StartOptions) (run Run, running bool, err error) {
	if !b.prov.Configured() {
		return Run{}, false, ErrNotConfigured
	}
	if opts.RetryFailedOf != 0 {
		if _, err := b.q.GetBackfillRun(ctx, opts.RetryFailedOf); errors.Is(err, pgx.ErrNoRows) {
			return Run{}, false, ErrRunNotFound
		} else if err != nil {
			return Run{}, false, fmt.Errorf("start backfill: %w", err)
		}
	}
	// A few rounds: the running run may end, or turn out to be lost, between
	// our insert and our look at it.
	for range 3 {
		id, started, err := b.insertRun(ctx, actor, opts)
		if err != nil {
			return Run{}, false, err
		}
		if started {
			run, err := b.Get(ctx, id)
			return run, false, err
		}
		cur, err := b.q.GetRunningBackfillRun(ctx)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return Run{}, false, fmt.Errorf("start backfill: %w", err)
		}
		lost, err := b.endIfLost(ctx, cur)
		if err != nil {
			return Run{}, false, err
		}
		if lost {
			continue
		}
		run, err := b.Get(ctx, cur.ID)
		return run, true, err
	}
	return Run{}, false, errors.New("start backfill: runs keep starting and ending; try again")
}

// insertRun inserts the run, its job and the audit entry in one
// transaction. started is false when a run is running already.
func (b *Backfiller) insertRun(ctx context.Context, actor audit.Actor, opts StartOptions) (id int64, started bool, err error) {
	err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		q := b.q.WithTx(tx)
		if _, err := q.GetRunningBackfillRun(ctx); err == nil {
			return nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		params := dbgen.CreateBackfillRunParams{StartedBy: actor.Email, Concurrency: int32(b.concurrency)}
		if actor.ID != 0 {
			params.StartedByID = &actor.ID
		}
		detail := ""
		if opts.RetryFailedOf != 0 {
			n, err := q.CountBackfillRetry(ctx, opts.RetryFailedOf)
			if err != nil {
				return err
			}
			params.Total, params.UptoCompanyID, params.RetryOf = n.Total, n.UptoID, &opts.RetryFailedOf
			detail = fmt.Sprintf("retries the %d failed companies of run %d", n.Total, opts.RetryFailedOf)
		} else {
			n, err := q.CountCompaniesWithoutProject(ctx)
			if err != nil {
				return err
			}
			params.Total, params.UptoCompanyID = n.Total, n.UptoID
			detail = fmt.Sprintf("%d companies without a project", n.Total)
		}
		if params.Total == 0 {
			return ErrNothingToBackfill
		}
		row, err := q.CreateBackfillRun(ctx, params)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // another process started one just now
		}
		if err != nil {
			return err
		}
		res, err := b.river.InsertTx(ctx, tx, BackfillArgs{RunID: row.ID}, nil)
		if err != nil {
			return fmt.Errorf("enqueue backfill: %w", err)
		}
		if err := q.SetBackfillRunJob(ctx, dbgen.SetBackfillRunJobParams{ID: row.ID, JobID: &res.Job.ID}); err != nil {
			return err
		}
		id, started = row.ID, true
		return audit.Record(ctx, q, audit.Entry{
			Actor: actor, Action: audit.ActionBackfillStart,
			After: fmt.Sprintf("run %d", row.ID), Detail: fmt.Sprintf("run %d: %s, concurrency %d", row.ID, detail, b.concurrency),
		})
	})
	if errors.Is(err, ErrNothingToBackfill) {
		return 0, false, err
	}
	if err != nil {
		return 0, false, fmt.Errorf("start backfill: %w", err)
	}
	return id, started, nil
}

// endIfLost ends a running run whose River job is gone or over: nothing
// would ever finish it, and it would block every later run.
func (b *Backfiller) endIfLost(ctx context.Context, run dbgen.BackfillRun) (bool, error) {
	if run.JobID == nil {
		return false, nil
	}
	job, err := b.river.JobGet(ctx, *run.JobID)
	status, why := RunFailed, ""
	switch {
	case errors.Is(err, rivertype.ErrNotFound):
		why = "its job no longer exists"
	case err != nil:
		return false, fmt.Errorf("check backfill run %d: %w", run.ID, err)
	case job.State == rivertype.JobStateCancelled:
		status, why = RunCancelled, "its job was cancelled"
	case job.State == rivertype.JobStateCompleted || job.State == rivertype.JobStateDiscarded:
		why = fmt.Sprintf("its job ended (%s) without finishing the run", job.State)
	default:
		return false, nil
	}
	return true, endRun(ctx, b.pool, b.q, run, status, why)
}

// endRun marks a running run failed or cancelled, with an audit entry.
func endRun(ctx context.Context, pool *pgxpool.Pool, q *dbgen.Queries, run dbgen.BackfillRun, status RunStatus, why string) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := q.WithTx(tx)
		n, err := q.EndBackfillRun(ctx, dbgen.EndBackfillRunParams{ID: run.ID, Status: string(status), LastError: why})
		if err != nil || n == 0 {
			return err
		}
		return audit.Record(ctx, q, audit.Entry{
			Actor: runActor(run), Action: audit.ActionBackfillFinish,
			Before: fmt.Sprintf("run %d running", run.ID), After: fmt.Sprintf("run %d %s", run.ID, status),
			Detail: fmt.Sprintf("run %d %s: %s", run.ID, status, why),
		})
	})
	if err != nil {
		return fmt.Errorf("end backfill run %d: %w", run.ID, err)
	}
	return nil
}

func runActor(run dbgen.BackfillRun) audit.Actor {
	a := audit.Actor{Email: run.StartedBy}
	if run.StartedByID != nil {
		a.ID = *run.StartedByID
	}
	return a
}

// Get returns a run with its progress and first failures. Returns
// ErrRunNotFound if there is no such run.
func (b *Backfiller) Get(ctx context.Context, id int64) (Run, error) {
	row, err := b.q.GetBackfillRun(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, ErrRunNotFound
	}
	if err != nil {
		return Run{}, fmt.Errorf("get backfill run %d: %w", id, err)
	}
	return b.withFailures(ctx, row)
}

// Current returns the running run, else the latest one. Returns
// ErrRunNotFound if no run ever started.
func (b *Backfiller) Current(ctx context.Context) (Run, error) {
	row, err := b.q.GetCurrentBackfillRun(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		return Run{}, ErrRunNotFound
	}
	if err != nil {
		return Run{}, fmt.Errorf("current backfill run: %w", err)
	}
	return b.withFailures(ctx, row)
}

// Recent returns the latest n runs, newest first, without their failures.
func (b *Backfiller) Recent(ctx context.Context, n int) ([]Run, error) {
	rows, err := b.q.ListBackfillRuns(ctx, int32(n))
	if err != nil {
		return nil, fmt.Errorf("list backfill runs: %w", err)
	}
	out := make([]Run, len(rows))
	for i, r := range rows {
		out[i] = runFromRow(r, time.Now())
	}
	return out, nil
}

func (b *Backfiller) withFailures(ctx context.Context, row dbgen.BackfillRun) (Run, error) {
	run := runFromRow(row, time.Now())
	if row.Failed == 0 {
		return run, nil
	}
	fs, err := b.q.ListBackfillFailures(ctx, dbgen.ListBackfillFailuresParams{RunID: row.ID, MaxRows: maxFailuresShown})
	if err != nil {
		return Run{}, fmt.Errorf("get backfill run %d failures: %w", row.ID, err)
	}
	run.Failures = make([]Failure, len(fs))
	for i, f := range fs {
		run.Failures[i] = Failure{CompanyID: f.CompanyID, CompanyName: f.CompanyName, Error: f.Error}
	}
	return run, nil
}

func runFromRow(r dbgen.BackfillRun, now time.Time) Run {
	run := Run{
		ID: r.ID, Status: RunStatus(r.Status), StartedBy: r.StartedBy, Concurrency: int(r.Concurrency),
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, LastError: r.LastError,
		Total: int(r.Total), Created: int(r.Created), Linked: int(r.Linked), Failed: int(r.Failed), Skipped: int(r.Skipped),
	}
	if r.RetryOf != nil {
		run.RetryOf = *r.RetryOf
	}
	run.Done = run.Created + run.Linked + run.Failed + run.Skipped
	if run.Running() {
		run.Remaining = max(run.Total-run.Done, 0)
	}
	end := now
	if r.FinishedAt != nil {
		end = *r.FinishedAt
	}
	if secs := end.Sub(r.StartedAt).Seconds(); secs > 0 {
		run.Rate = float64(run.Done) / secs
	}
	if run.Remaining > 0 && run.Rate > 0 {
		run.ETA = time.Duration(float64(run.Remaining) / run.Rate * float64(time.Second))
	}
	return run
}

// LinkExisting links the company to the one active project among sameName
// (projects named exactly like it) that no company holds, under the
// company's provisioning lock and with an attempt in its history. With
// several such projects it marks the company failed, asking for a manual
// choice, rather than guess. Returns ErrNoFreeProject when other companies
// hold them all (the caller then creates a project), and Busy when an
// attempt for the company is in progress.
func (p *Provisioner) LinkExisting(ctx context.Context, companyID int64, sameName []openai.Project, a Attempt) (Result, error) {
	return p.withUnprovisioned(ctx, companyID, func(c dbgen.Company) (Result, error) {
		return p.linkExistingLocked(ctx, c, sameName, a)
	})
}

// linkExistingLocked is LinkExisting once the lock is held and the company loaded.
func (p *Provisioner) linkExistingLocked(ctx context.Context, c dbgen.Company, sameName []openai.Project, a Attempt) (Result, error) {
	companyID := c.ID
	var candidates []openai.Project
	for _, pr := range sameName {
		if pr.Name == c.Name && pr.Active() {
			candidates = append(candidates, pr)
		}
	}
	free, err := p.unlinked(ctx, candidates)
	if err != nil {
		return Result{}, fmt.Errorf("link existing project to company %d: %w", companyID, err)
	}
	if len(free) == 0 {
		return Result{}, ErrNoFreeProject
	}
	attempt, err := p.q.CreateAttempt(ctx, dbgen.CreateAttemptParams{
		CompanyID: c.ID, Trigger: a.Trigger, Actor: a.Actor, JobID: a.JobID,
	})
	if err != nil {
		return Result{}, fmt.Errorf("link existing project to company %d: record attempt: %w", companyID, err)
	}
	bookCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if len(free) > 1 {
		msg := fmt.Sprintf("%d active OpenAI projects are named %q and none is linked; assign the right one by hand", len(free), c.Name)
		return p.finishFailure(bookCtx, c, attempt, a, &openai.Error{Op: openai.EndpointList, Kind: openai.Permanent, Message: msg})
	}
	return p.finishSuccess(bookCtx, c, attempt, a, free[0], Linked)
}

// BackfillArgs is the durable job that works one backfill run. It is
// inserted with its run, so the run exists exactly when its job does.
type BackfillArgs struct {
	RunID int64 `json:"run_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (BackfillArgs) Kind() string { return "backfill_run" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (BackfillArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue: QueueBackfill,
		// Slices snooze, which costs no attempt; attempts count database
		// outages and failed project listings.
		MaxAttempts: 10,
		UniqueOpts: river.UniqueOpts{
			ByArgs: true,
			ByState: []rivertype.JobState{
				rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
				rivertype.JobStateRunning, rivertype.JobStateScheduled,
			},
		},
	}
}

// BackfillOptions tune the backfill worker.
type BackfillOptions struct {
	// Only makes the River client work the backfill queue alone (the
	// backfill command), leaving provisioning jobs to the servers.
	Only bool
	// Slice is how long one execution of a run takes on new companies
	// before it hands the run back to River to go on (default 15 s, under
	// SHUTDOWN_TIMEOUT's default). It bounds how long a graceful stop
	// waits, since River tells a running job nothing of a stop until it
	// cancels it, and keeps executions short of River's rescue of stuck jobs.
	Slice time.Duration
	// StartRate is the pacer's first rate in OpenAI calls per second
	// (default 50); it then adapts to OpenAI's 429s.
	StartRate float64
}

// batchSize is how many companies a run reads at a time.
const batchSize = 500

// BackfillWorker works BackfillArgs jobs.
type BackfillWorker struct {
	river.WorkerDefaults[BackfillArgs]
	p           *Provisioner
	itemTimeout time.Duration
	slice       time.Duration
	pacer       *pacer
	logger      *slog.Logger

	// index caches the organization's projects for the run this process
	// works, so that its slices do not list them again.
	mu    sync.Mutex
	index projectIndex
}

// projectIndex is the organization's active projects by exact name, as
// listed for one run.
type projectIndex struct {
	runID  int64
	at     time.Time
	byName map[string][]openai.Project
}

// indexMaxAge is how long a run relies on one listing of the projects.
// Going stale only costs a duplicate when someone creates a project named
// like a company by hand meanwhile, which a fresh listing cannot rule out
// either; the linking itself is checked against the database.
const indexMaxAge = 10 * time.Minute

// NewBackfillWorker returns the worker; itemTimeout bounds the provisioning
// of one company (a list and a create on OpenAI).
func NewBackfillWorker(p *Provisioner, itemTimeout time.Duration, o BackfillOptions, logger *slog.Logger) *BackfillWorker {
	if o.Slice <= 0 {
		o.Slice = 15 * time.Second
	}
	if o.StartRate <= 0 {
		o.StartRate = 50
	}
	return &BackfillWorker{p: p, itemTimeout: itemTimeout, slice: o.Slice, pacer: newPacer(o.StartRate), logger: logger}
}

// Timeout implements river.Worker: a slice, the companies still in flight
// when it ends, and their bookkeeping. River rescues a job only after this.
func (w *BackfillWorker) Timeout(*river.Job[BackfillArgs]) time.Duration {
	return w.slice + w.itemTimeout + 30*time.Second
}

// Work implements river.Worker: one slice of the run.
func (w *BackfillWorker) Work(ctx context.Context, job *river.Job[BackfillArgs]) error {
	token := rand.Text()
	run, err := w.p.q.ClaimBackfillRun(ctx, dbgen.ClaimBackfillRunParams{
		ID: job.Args.RunID, Token: token, LeaseSeconds: w.Timeout(job).Seconds(),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		cur, err := w.p.q.GetBackfillRun(ctx, job.Args.RunID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return river.JobCancel(ErrRunNotFound)
		case err != nil:
			return fmt.Errorf("backfill run %d: %w", job.Args.RunID, err)
		case cur.Status != string(RunRunning):
			return nil
		}
		// Another execution still holds the run (a job rescued from a
		// process that is slow, not dead): come back when its lease ends.
		wait := time.Second
		if cur.LeaseUntil != nil {
			wait = max(time.Until(*cur.LeaseUntil), wait)
		}
		return river.JobSnooze(wait)
	}
	if err != nil {
		return fmt.Errorf("backfill run %d: claim: %w", job.Args.RunID, err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = w.p.q.ReleaseBackfillRun(rctx, dbgen.ReleaseBackfillRunParams{ID: run.ID, Token: token})
	}()
	if !w.p.Configured() {
		const why = "the process that picked the run up has no OpenAI admin key"
		return river.JobCancel(errors.Join(errors.New(why), endRun(ctx, w.p.pool, w.p.q, run, RunFailed, why)))
	}

	s := &runSlice{w: w, run: run, jobID: job.ID, deadline: time.Now().Add(w.slice)}
	finished, err := s.work(ctx)
	switch {
	case ctx.Err() != nil:
		// Stopping (or out of time): the next execution resumes the run.
		return river.JobSnooze(0)
	case err != nil:
		return w.fail(ctx, job, run, err)
	case !finished:
		return river.JobSnooze(max(time.Until(s.resumeAt), 0))
	}
	w.dropIndex(run.ID)
	return w.finish(ctx, run)
}

// fail handles a slice that could not go on: OpenAI refusing the listing
// for good ends the run; anything else is retried by River, and the run
// ends with the job's last attempt.
func (w *BackfillWorker) fail(ctx context.Context, job *river.Job[BackfillArgs], run dbgen.BackfillRun, err error) error {
	w.logger.Error("backfill run failed a slice", slog.Int64("run_id", run.ID), slog.Int("attempt", job.Attempt), slog.Any("error", err))
	if oe, ok := openai.AsError(err); ok && oe.Kind == openai.Permanent {
		w.dropIndex(run.ID)
		return river.JobCancel(errors.Join(err, endRun(ctx, w.p.pool, w.p.q, run, RunFailed, oe.Reason())))
	}
	if job.Attempt >= job.MaxAttempts {
		w.dropIndex(run.ID)
		return errors.Join(err, endRun(ctx, w.p.pool, w.p.q, run, RunFailed, err.Error()))
	}
	if serr := w.p.q.SetBackfillRunError(ctx, dbgen.SetBackfillRunErrorParams{
		ID: run.ID, LastError: fmt.Sprintf("%s (retrying)", err),
	}); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// finish ends a run whose companies are all done, with an audit entry.
func (w *BackfillWorker) finish(ctx context.Context, run dbgen.BackfillRun) error {
	var done dbgen.BackfillRun
	err := pgx.BeginFunc(ctx, w.p.pool, func(tx pgx.Tx) error {
		q := w.p.q.WithTx(tx)
		var err error
		done, err = q.FinishBackfillRun(ctx, run.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // ended meanwhile
		}
		if err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Entry{
			Actor: runActor(run), Action: audit.ActionBackfillFinish,
			Before: fmt.Sprintf("run %d running", run.ID), After: fmt.Sprintf("run %d finished", run.ID),
			Detail: fmt.Sprintf("run %d finished: %d created, %d linked existing, %d failed, %d skipped",
				run.ID, done.Created, done.Linked, done.Failed, done.Skipped),
		})
	})
	if err != nil {
		return fmt.Errorf("finish backfill run %d: %w", run.ID, err)
	}
	w.logger.Info(fmt.Sprintf("✅ [Backfill] Run %d finished: %d created, %d linked existing, %d failed, %d skipped",
		run.ID, done.Created, done.Linked, done.Failed, done.Skipped), slog.Int64("run_id", run.ID))
	return nil
}

// projects returns the organization's active projects by exact name,
// listing them unless this process did so for the run lately.
func (w *BackfillWorker) projects(ctx context.Context, runID int64) (map[string][]openai.Project, error) {
	w.mu.Lock()
	idx := w.index
	w.mu.Unlock()
	if idx.runID == runID && time.Since(idx.at) < indexMaxAge {
		return idx.byName, nil
	}
	idx = projectIndex{runID: runID, at: time.Now(), byName: map[string][]openai.Project{}}
	err := w.p.projects.ListProjects(ctx, false, func(pr openai.Project) error {
		if pr.Active() {
			idx.byName[pr.Name] = append(idx.byName[pr.Name], pr)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list OpenAI projects: %w", err)
	}
	w.mu.Lock()
	w.index = idx
	w.mu.Unlock()
	return idx.byName, nil
}

// dropIndex forgets the run's projects once it is over.
func (w *BackfillWorker) dropIndex(runID int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.index.runID == runID {
		w.index = projectIndex{}
	}
}

// runSlice is one execution of a run.
type runSlice struct {
	w        *BackfillWorker
	run      dbgen.BackfillRun
	jobID    int64
	deadline time.Time
	byName   map[string][]openai.Project // from BackfillWorker.projects

	mu sync.Mutex
	// setAside is true when companies were left for a later slice; resumeAt
	// is the earliest time one of them may be tried again.
	setAside bool
	resumeAt time.Time
}

type backfillCompany struct {
	ID   int64
	Name string
}

// work lists the projects, then feeds the run's companies to a bounded
// pool until none is left or the slice is over. finished is true when every
// company of the run has its outcome recorded.
func (s *runSlice) work(ctx context.Context) (finished bool, err error) {
	if s.byName, err = s.w.projects(ctx, s.run.ID); err != nil {
		return false, err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(int(s.run.Concurrency))
	var after int64
	exhausted, feedErr := false, error(nil)
feed:
	for {
		batch, err := s.next(gctx, after)
		if err != nil {
			feedErr = err
			break
		}
		if len(batch) == 0 {
			exhausted = true
			break
		}
		for _, c := range batch {
			if gctx.Err() != nil || time.Now().After(s.deadline) {
				s.putAside(time.Now())
				break feed
			}
			g.Go(func() error { return s.one(gctx, c) })
			after = c.ID
		}
	}
	if err := g.Wait(); err != nil {
		return false, err
	}
	if feedErr != nil {
		return false, fmt.Errorf("list companies to backfill: %w", feedErr)
	}
	return exhausted && !s.setAside, nil
}

// next reads the next batch of the run's companies that have no recorded
// outcome yet.
func (s *runSlice) next(ctx context.Context, after int64) ([]backfillCompany, error) {
	var out []backfillCompany
	if s.run.RetryOf != nil {
		rows, err := s.w.p.q.ListBackfillRetryCompanies(ctx, dbgen.ListBackfillRetryCompaniesParams{
			RetryOf: *s.run.RetryOf, RunID: s.run.ID, AfterID: after, MaxRows: batchSize,
		})
		for _, r := range rows {
			out = append(out, backfillCompany{ID: r.ID, Name: r.Name})
		}
		return out, err
	}
	rows, err := s.w.p.q.ListBackfillCompanies(ctx, dbgen.ListBackfillCompaniesParams{
		RunID: s.run.ID, AfterID: after, UptoID: s.run.UptoCompanyID, MaxRows: batchSize,
	})
	for _, r := range rows {
		out = append(out, backfillCompany{ID: r.ID, Name: r.Name})
	}
	return out, err
}

// putAside notes a company left for a later slice, to be tried from at.
func (s *runSlice) putAside(at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.setAside || at.Before(s.resumeAt) {
		s.resumeAt = at
	}
	s.setAside = true
}

// one takes a company to a final outcome and records it. Passing failures
// are retried within the slice when their wait ends before it does; the
// others are put aside for a later slice. Returns only database errors.
func (s *runSlice) one(ctx context.Context, c backfillCompany) error {
	a := Attempt{Trigger: TriggerBackfill, Actor: s.run.StartedBy, JobID: &s.jobID}
	for {
		res, err := s.try(ctx, c, a)
		switch {
		case errors.Is(err, ErrCompanyNotFound):
			return nil // deleted meanwhile
		case err != nil && ctx.Err() != nil:
			s.putAside(time.Now())
			return nil
		case err != nil:
			return err
		case res.Outcome.Final():
			return s.record(ctx, c, res)
		}
		next := time.Now().Add(res.RetryAfter)
		if next.After(s.deadline) {
			s.putAside(next)
			return nil
		}
		if !sleep(ctx, res.RetryAfter) {
			s.putAside(time.Now())
			return nil
		}
	}
}

// try makes one attempt: linking the company's free same-name project if
// the organization has one, creating a project otherwise.
func (s *runSlice) try(ctx context.Context, c backfillCompany, a Attempt) (Result, error) {
	if sameName := s.byName[c.Name]; len(sameName) > 0 {
		res, err := s.w.p.LinkExisting(ctx, c.ID, sameName, a)
		if !errors.Is(err, ErrNoFreeProject) {
			return res, err
		}
	}
	if err := s.w.pacer.wait(ctx); err != nil {
		return Result{}, err
	}
	start := time.Now()
	pctx, cancel := context.WithTimeout(ctx, s.w.itemTimeout)
	defer cancel()
	res, err := s.w.p.Provision(pctx, c.ID, a)
	s.w.pacer.observe(start, res)
	return res, err
}

// record writes the company's final outcome into the run, even when the
// slice is being stopped: the outcome is known and the company, provisioned
// now, would not come up again.
func (s *runSlice) record(ctx context.Context, c backfillCompany, res Result) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	p := dbgen.RecordBackfillItemParams{RunID: s.run.ID, CompanyID: c.ID}
	switch res.Outcome {
	case Created:
		p.Outcome = "created"
	case Linked:
		p.Outcome = "linked"
	case Failed:
		p.Outcome = "failed"
		// The company row holds the reason as the dashboard shows it
		// (e.g. "gave up after 10 attempts: …").
		row, err := s.w.p.q.GetCompany(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("backfill run %d: read company %d: %w", s.run.ID, c.ID, err)
		}
		p.Error = row.ProvisioningError
		if p.Error == "" && res.Err != nil {
			p.Error = res.Err.Error()
		}
		s.w.logger.Warn(fmt.Sprintf("❌ [Backfill] No OpenAI project for %s: %s", c.Name, p.Error),
			slog.Int64("run_id", s.run.ID), slog.Int64("company_id", c.ID))
	default: // already provisioned meanwhile, or skipped
		p.Outcome = "skipped"
	}
	if res.ProjectID != "" {
		p.ProjectID = &res.ProjectID
	}
	if _, err := s.w.p.q.RecordBackfillItem(ctx, p); err != nil {
		return fmt.Errorf("backfill run %d: record company %d: %w", s.run.ID, c.ID, err)
	}
	return nil
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// pacer spaces the OpenAI calls of a process's backfill goroutines and backs
// them off together: its rate grows slowly while OpenAI accepts calls and
// halves on a 429, when every goroutine also waits out the Retry-After
// (additive increase, multiplicative decrease). A backfill so settles just
// under the organization's rate limit instead of hammering it.
type pacer struct {
	mu   sync.Mutex
	rate float64   // calls per second
	next time.Time // earliest start of the next call
	// cutAt is the last decrease: the 429s of calls started before it
	// belong to the same burst and do not halve the rate again.
	cutAt time.Time
	// pacedAt is when a call last had to wait for its turn. The rate only
	// grows while it is what holds the calls back, not the concurrency;
	// otherwise it would drift far above the calls really made.
	pacedAt time.Time
}

const (
	pacerMinRate = 0.5
	pacerMaxRate = 1000
	// pacerStep is the rate gained per second of accepted calls.
	pacerStep = 5
)

func newPacer(rate float64) *pacer { return &pacer{rate: rate} }

// wait blocks until the caller may make its call.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	at := now
	if p.next.After(now) {
		at, p.pacedAt = p.next, now
	}
	p.next = at.Add(time.Duration(float64(time.Second) / p.rate))
	p.mu.Unlock()
	if !sleep(ctx, time.Until(at)) {
		return ctx.Err()
	}
	return nil
}

// observe adjusts the rate after a call that started at start.
func (p *pacer) observe(start time.Time, res Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	oe, ok := openai.AsError(res.Err)
	if !ok || oe.StatusCode != http.StatusTooManyRequests {
		switch res.Outcome {
		case Created, Linked, Retryable, Uncertain, Failed: // OpenAI took the call
			if time.Since(p.pacedAt) < time.Second {
				p.rate = min(pacerMaxRate, p.rate+pacerStep/p.rate)
			}
		}
		return
	}
	if start.Before(p.cutAt) {
		return
	}
	p.rate = max(pacerMinRate, p.rate/2)
	p.cutAt = time.Now()
	pause := oe.RetryAfter
	if pause <= 0 {
		pause = time.Second
	}
	if until := p.cutAt.Add(pause); until.After(p.next) {
		p.next = until
	}
}
