package provision

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
)

// QueueBackfill is the River queue of backfill runs; each process works at
// most one run at a time.
const QueueBackfill = "backfill"

// BackfillArgs is the durable job that works one backfill run. It is
// inserted with its run, so the run exists exactly when its job does.
type BackfillArgs struct {
	RunID int64 `json:"run_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (BackfillArgs) Kind() string { return "backfill_run" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (BackfillArgs) InsertOpts() river.InsertOpts {
	// Slices snooze, which costs no attempt; attempts count database
	// outages and failed project listings.
	return uniqueInsertOpts(QueueBackfill, 10)
}

// BackfillOptions tune the backfill worker.
type BackfillOptions struct {
	// Only makes the River client work the backfill queue alone (the
	// backfill command), leaving provisioning jobs to the servers.
	Only bool
	// Slice is how long one execution of a run takes on new companies
	// before it hands the run back to River to go on (default 60 s). It
	// bounds how long a run waits for River's rescue when its process dies
	// (the execution's timeout is the slice and a bit), at the price of a
	// pause of a second or so at each handoff: the slice drains its calls
	// in flight and River picks the run up again.
	Slice time.Duration
	// Stopping, if set, is closed when the process begins a graceful stop.
	// River tells a running job nothing of a soft stop until it cancels it,
	// so a slice watches this to take no new company and hand its run back
	// at once, rather than keep the stop waiting until the slice is over.
	Stopping <-chan struct{}
}

// batchSize is how many companies a run reads at a time.
const batchSize = 500

// BackfillWorker works BackfillArgs jobs.
type BackfillWorker struct {
	river.WorkerDefaults[BackfillArgs]
	p           *Provisioner
	itemTimeout time.Duration
	slice       time.Duration
	stopping    <-chan struct{}
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
		o.Slice = 60 * time.Second
	}
	return &BackfillWorker{p: p, itemTimeout: itemTimeout, slice: o.Slice, stopping: o.Stopping, logger: logger}
}

// Timeout implements river.Worker: a slice, the companies still in flight
// when it ends, and their bookkeeping. River rescues a job only after this.
func (w *BackfillWorker) Timeout(*river.Job[BackfillArgs]) time.Duration {
	return w.slice + w.itemTimeout + 30*time.Second
}

// Work implements river.Worker: one slice of the run.
func (w *BackfillWorker) Work(ctx context.Context, job *river.Job[BackfillArgs]) error {
	ctx = governor.WithCall(ctx, governor.CallerBackfill, governor.Background)
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

	if run.PausedAt != nil {
		// Paused: take no company; look again soon.
		return river.JobSnooze(controlPoll)
	}

	s := &runSlice{w: w, run: run, jobID: job.ID, deadline: time.Now().Add(w.slice)}
	finished, err := s.work(ctx)
	if s.stopped.Load() {
		// Paused or ended by an admin while the slice worked: a paused run
		// comes back to the check above; a cancelled one has its companies
		// settled now that none is in flight.
		cur, gerr := w.p.q.GetBackfillRun(ctx, run.ID)
		if gerr == nil && cur.Status != string(RunRunning) {
			w.dropIndex(run.ID)
			return settleCancelled(ctx, w.p, run.ID, run.JobID)
		}
		if err == nil && gerr == nil {
			return river.JobSnooze(controlPoll)
		}
	}
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
