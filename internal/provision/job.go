package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
)

// QueueProvision is the River queue of provisioning jobs.
const QueueProvision = "provision"

// uniqueStates are the job states in which a second insert of the same
// args is skipped, for every job kind of this package. Not "completed":
// once a run is over, a backfill or a manual retry may start a new one.
var uniqueStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// uniqueInsertOpts are the insert options of this package's jobs: on queue,
// with River's maxAttempts, and one job per args while it is unfinished.
func uniqueInsertOpts(queue string, maxAttempts int) river.InsertOpts {
	return river.InsertOpts{
		Queue:       queue,
		MaxAttempts: maxAttempts,
		UniqueOpts:  river.UniqueOpts{ByArgs: true, ByState: uniqueStates},
	}
}

// ProjectArgs is the durable job that gives one company its project. It is
// inserted in the signup's transaction, so it exists exactly when the
// company does, and it is unique per company while not finished: a double
// click, a backfill and a retry all share one job.
type ProjectArgs struct {
	CompanyID int64  `json:"company_id" river:"unique"`
	Trigger   string `json:"trigger"`
	Actor     string `json:"actor,omitempty"`
}

// Kind implements river.JobArgs.
func (ProjectArgs) Kind() string { return "provision_project" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ProjectArgs) InsertOpts() river.InsertOpts {
	// Our own attempt count (Settings.MaxAttempts) bounds OpenAI failures,
	// which snooze; River's attempts only count unexpected errors such as a
	// database outage.
	return uniqueInsertOpts(QueueProvision, 25)
}

// ProjectWorker runs ProjectArgs jobs.
type ProjectWorker struct {
	river.WorkerDefaults[ProjectArgs]
	p       *Provisioner
	timeout time.Duration
	logger  *slog.Logger
}

// NewProjectWorker returns the worker; timeout bounds one job run (a list
// and a create on OpenAI).
func NewProjectWorker(p *Provisioner, timeout time.Duration, logger *slog.Logger) *ProjectWorker {
	return &ProjectWorker{p: p, timeout: timeout, logger: logger}
}

// Timeout implements river.Worker.
func (w *ProjectWorker) Timeout(*river.Job[ProjectArgs]) time.Duration { return w.timeout }

// Work implements river.Worker. OpenAI's passing failures snooze the job
// until the company's next allowed attempt; only database errors are
// returned to River, which retries them with its own backoff.
func (w *ProjectWorker) Work(ctx context.Context, job *river.Job[ProjectArgs]) error {
	trigger := job.Args.Trigger
	if job.Attempt > 1 || trigger == "" {
		trigger = TriggerRetry
	}
	res, err := w.p.Provision(ctx, job.Args.CompanyID, Attempt{Trigger: trigger, Actor: job.Args.Actor, JobID: &job.ID})
	if errors.Is(err, ErrCompanyNotFound) {
		return river.JobCancel(err) // deleted meanwhile: nothing to do
	}
	if err != nil {
		return err
	}
	log := w.logger.With(slog.Int64("company_id", job.Args.CompanyID), slog.Int64("job_id", job.ID), slog.String("outcome", string(res.Outcome)))
	switch res.Outcome {
	case Created, Linked:
		log.Info(fmt.Sprintf("✅ [Provisioning] OpenAI project %s: %s for company %d", res.Outcome, res.ProjectID, job.Args.CompanyID))
	case Failed:
		log.Error(fmt.Sprintf("❌ [Provisioning] Failed to create OpenAI project for company %d: %v", job.Args.CompanyID, res.Err))
	case Skipped:
		log.Warn(fmt.Sprintf("⚠️ [Provisioning] OpenAI project creation skipped for company %d", job.Args.CompanyID))
	case Retryable, Uncertain:
		log.Warn("provisioning attempt failed; will retry", slog.Duration("retry_after", res.RetryAfter), slog.Any("error", res.Err))
	}
	if !res.Outcome.Final() {
		return river.JobSnooze(max(res.RetryAfter, 0))
	}
	return nil
}

// ClientOptions configure the River client.
type ClientOptions struct {
	// Work runs jobs; false makes an insert-only client (serve --no-worker).
	Work bool
	// Workers is how many provisioning jobs run at once in this process.
	Workers int
	// JobTimeout bounds one job run.
	JobTimeout time.Duration
	// RescueAfter is how long a job may look "running" before another
	// process takes it over (its process died). Must exceed JobTimeout.
	RescueAfter time.Duration
	Logger      *slog.Logger
	// ErrorHandler, if set, is told of failed jobs (e.g. for logging).
	ErrorHandler river.ErrorHandler
	// Backfill tunes the backfill worker (backfill_worker.go).
	Backfill BackfillOptions
	// Register, if set, adds other packages' workers (the key step's);
	// Queues adds their queues and PeriodicJobs their schedules.
	Register     func(*river.Workers)
	Queues       map[string]river.QueueConfig
	PeriodicJobs []*river.PeriodicJob
	// CapacityRefresh, if set, is how often the organization's projects
	// are counted (capacity.go), by the leader process.
	CapacityRefresh time.Duration
}

// NewRiverClient builds the River client on pool, registering the workers
// when opts.Work is set.
func NewRiverClient(pool *pgxpool.Pool, p *Provisioner, opts ClientOptions) (*river.Client[pgx.Tx], error) {
	cfg := &river.Config{
		Logger:               opts.Logger,
		JobTimeout:           opts.JobTimeout,
		RescueStuckJobsAfter: opts.RescueAfter,
		ErrorHandler:         opts.ErrorHandler,
	}
	if opts.Work {
		// Every kind is registered even where its queue is not worked: the
		// client elected to rescue stuck jobs discards kinds it does not know.
		workers := river.NewWorkers()
		river.AddWorker(workers, NewProjectWorker(p, opts.JobTimeout, opts.Logger))
		river.AddWorker(workers, NewBackfillWorker(p, opts.JobTimeout, opts.Backfill, opts.Logger))
		river.AddWorker(workers, &CapacityWorker{p: p})
		cfg.Workers = workers
		if opts.CapacityRefresh > 0 && p.Configured() {
			cfg.PeriodicJobs = []*river.PeriodicJob{capacityJob(opts.CapacityRefresh)}
		}
		// One backfill run at a time exists at all; its worker runs
		// BACKFILL_CONCURRENCY goroutines of its own.
		cfg.Queues = map[string]river.QueueConfig{QueueBackfill: {MaxWorkers: 1}}
		if !opts.Backfill.Only {
			cfg.Queues[QueueProvision] = river.QueueConfig{MaxWorkers: max(opts.Workers, 1)}
		}
		if opts.Register != nil {
			opts.Register(workers)
		}
		if !opts.Backfill.Only {
			for name, q := range opts.Queues {
				cfg.Queues[name] = q
			}
			cfg.PeriodicJobs = append(cfg.PeriodicJobs, opts.PeriodicJobs...)
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("river client: %w", err)
	}
	return client, nil
}
