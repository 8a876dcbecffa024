package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
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
//
// One idea per file: the run (this file), its worker (backfill_worker.go),
// one slice of it (slice.go), the pacer (pacer.go). Linking an existing
// project is a second entry point into the exactly-once attempt and lives
// beside Provision (link.go).

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

// Errors returned by the Backfiller.
var (
	// ErrNotConfigured: without an admin key a run could only skip.
	ErrNotConfigured = errors.New("provision: no OpenAI admin key is configured; set OPENAI_ADMIN_KEY to run a backfill")
	// ErrNothingToBackfill: every company (or every failure to retry) has a project.
	ErrNothingToBackfill = errors.New("provision: no company is missing a project")
	// ErrRunNotFound: no backfill run has that ID (or none ever ran).
	ErrRunNotFound = errors.New("provision: backfill run not found")
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
	// AutoLinks is how many companies would adopt an existing project;
	// PossibleMatches are the same-name projects an admin must link by
	// hand (adopt.go). MatchesError is set when OpenAI's list could not be
	// read, so the matches are unknown.
	AutoLinks       int
	PossibleMatches []PossibleMatch
	MatchesError    string
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

// DryRun counts the companies without a project, names the first few and,
// with an admin key, reads OpenAI's project list for the existing projects
// the run would link and the possible matches it would leave to an admin.
// It changes nothing.
func (b *Backfiller) DryRun(ctx context.Context) (DryRun, error) {
	n, err := b.q.CountCompaniesWithoutProject(ctx)
	if err != nil {
		return DryRun{}, fmt.Errorf("backfill dry run: %w", err)
	}
	names, err := b.q.ListCompanyNamesWithoutProject(ctx, dryRunNames)
	if err != nil {
		return DryRun{}, fmt.Errorf("backfill dry run: %w", err)
	}
	dry := DryRun{Count: int(n.Total), Names: names, Configured: b.prov.Configured()}
	if dry.Configured && dry.Count > 0 {
		m, err := b.prov.PossibleMatches(ctx)
		if err != nil {
			dry.MatchesError = err.Error()
		}
		dry.AutoLinks, dry.PossibleMatches = m.AutoLinks, m.Possible
	}
	return dry, nil
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
