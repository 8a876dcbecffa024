package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// QueuePolicy is the River queue of policy jobs (apply, sweep, reconcile,
// offboarding steps).
const QueuePolicy = "policy"

var activeStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// ApplyArgs is the durable job that applies one company's policy. It is
// unique per company while not finished: a sweep, a re-apply and an
// autofix share one job.
type ApplyArgs struct {
	CompanyID int64  `json:"company_id" river:"unique"`
	Trigger   string `json:"trigger"`
	Actor     string `json:"actor,omitempty"`
}

// Kind implements river.JobArgs.
func (ApplyArgs) Kind() string { return "policy_apply" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ApplyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePolicy, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// ApplyWorker runs ApplyArgs jobs: OpenAI's passing failures snooze the job
// until the backoff has passed; only database errors go back to River.
type ApplyWorker struct {
	river.WorkerDefaults[ApplyArgs]
	s *Service
}

// Timeout implements river.Worker.
func (w *ApplyWorker) Timeout(*river.Job[ApplyArgs]) time.Duration { return 5 * time.Minute }

// Work implements river.Worker.
func (w *ApplyWorker) Work(ctx context.Context, job *river.Job[ApplyArgs]) error {
	trigger := job.Args.Trigger
	if job.Attempt > 1 || trigger == "" {
		trigger = TriggerRetry
	}
	res, err := w.s.Apply(ctx, job.Args.CompanyID, Attempt{Trigger: trigger, Actor: job.Args.Actor, JobID: &job.ID})
	if errors.Is(err, ErrCompanyNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	log := w.s.logger.With("company_id", job.Args.CompanyID, "job_id", job.ID, "outcome", string(res.Outcome), "calls", res.Calls)
	switch res.Outcome {
	case Applied, Repaired:
		log.Info("policy applied")
	case Failed:
		log.Error("policy apply failed", "error", res.Err, "differences", len(res.Differences))
	case Retryable, Busy:
		log.Warn("policy apply will retry", "retry_after", res.RetryAfter, "error", res.Err)
		return river.JobSnooze(max(res.RetryAfter, time.Second))
	}
	return nil
}

// SweepArgs is the periodic job that turns pending policies into apply
// jobs: the trigger on companies marks them, this finds them.
type SweepArgs struct{}

// Kind implements river.JobArgs.
func (SweepArgs) Kind() string { return "policy_sweep" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (SweepArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePolicy, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// SweepWorker runs SweepArgs.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	s *Service
}

// Work implements river.Worker.
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := w.s.Sweep(ctx)
	return err
}

// Sweep enqueues an apply job for every pending company whose next try is
// due; it returns how many it enqueued (jobs already queued count once).
func (s *Service) Sweep(ctx context.Context) (int, error) {
	if !s.Enabled() || s.river == nil {
		return 0, nil
	}
	ids, err := s.q.ListPendingPolicies(ctx, 1000)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	params := make([]river.InsertManyParams, len(ids))
	for i, id := range ids {
		params[i] = river.InsertManyParams{Args: ApplyArgs{CompanyID: id, Trigger: TriggerLinked}}
	}
	res, err := s.river.InsertMany(ctx, params)
	if err != nil {
		return 0, fmt.Errorf("enqueue policy applies: %w", err)
	}
	n := 0
	for _, r := range res {
		if !r.UniqueSkippedAsDuplicate {
			n++
		}
	}
	return n, nil
}

// Reapply asks for the company's policy to be applied again now (the
// "Re-apply policy" button and POST /api/v1/companies/{id}/policy/apply),
// audited. Returns ErrCompanyNotFound, ErrNoProject, ErrOffboarded or
// ErrDisabled.
func (s *Service) Reapply(ctx context.Context, companyID int64, by audit.Actor) error {
	if !s.Enabled() {
		return ErrDisabled
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		c, err := q.GetCompanyForUpdate(ctx, companyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrCompanyNotFound
		}
		if err != nil {
			return err
		}
		if c.OpenAIProjectID == nil {
			return ErrNoProject
		}
		if _, err := q.GetOffboarding(ctx, companyID); err == nil {
			return ErrOffboarded
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := q.MarkPolicyPending(ctx, companyID); err != nil {
			return err
		}
		if err := audit.Record(ctx, q, audit.Entry{Actor: by, Action: ActionReapply, CompanyID: c.ID, CompanyName: c.Name, After: *c.OpenAIProjectID}); err != nil {
			return err
		}
		_, err = s.river.InsertTx(ctx, tx, ApplyArgs{CompanyID: companyID, Trigger: TriggerManual, Actor: by.Email}, nil)
		return err
	})
}

// ReapplyDrifted asks for every drifted company's policy to be applied
// again (offboarded ones excluded), audited once. Returns how many.
func (s *Service) ReapplyDrifted(ctx context.Context, by audit.Actor) (int, error) {
	if !s.Enabled() {
		return 0, ErrDisabled
	}
	total := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		var after int64
		for {
			ids, err := q.ListPoliciesInState(ctx, dbgen.ListPoliciesInStateParams{State: StateDrifted, AfterID: after, MaxRows: 1000})
			if err != nil {
				return err
			}
			if len(ids) == 0 {
				break
			}
			params := make([]river.InsertManyParams, len(ids))
			for i, id := range ids {
				params[i] = river.InsertManyParams{Args: ApplyArgs{CompanyID: id, Trigger: TriggerDrifted, Actor: by.Email}}
			}
			if _, err := s.river.InsertManyTx(ctx, tx, params); err != nil {
				return err
			}
			total += len(ids)
			after = ids[len(ids)-1]
		}
		return audit.Record(ctx, q, audit.Entry{Actor: by, Action: ActionReapplyDrifted, Detail: fmt.Sprintf("%d drifted companies", total)})
	})
	return total, err
}

// Register adds the package's workers to workers.
func (s *Service) Register(workers *river.Workers) {
	river.AddWorker(workers, &ApplyWorker{s: s})
	river.AddWorker(workers, &SweepWorker{s: s})
	river.AddWorker(workers, &ReconcileWorker{s: s})
	river.AddWorker(workers, &OffboardWorker{s: s})
}

// PeriodicJobs are the sweep (every SweepInterval) and the reconcile
// (every RECONCILE_INTERVAL, not at start-up: a restart loop must not
// hammer OpenAI).
func (s *Service) PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(s.settings.SweepInterval),
			func() (river.JobArgs, *river.InsertOpts) { return SweepArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true, ID: "policy_sweep"}),
		river.NewPeriodicJob(river.PeriodicInterval(s.settings.ReconcileInterval),
			func() (river.JobArgs, *river.InsertOpts) { return ReconcileArgs{}, nil },
			&river.PeriodicJobOpts{ID: "policy_reconcile"}),
	}
}
