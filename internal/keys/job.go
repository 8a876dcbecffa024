package keys

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/governor"
)

// QueueKeys is the River queue of key jobs.
const QueueKeys = "keys"

// IssueArgs is the durable job that gives one company its key (or, with
// Rotate, a new one). It carries IDs only, never a value. Unique per
// company and kind while not finished.
type IssueArgs struct {
	CompanyID int64  `json:"company_id" river:"unique"`
	Rotate    bool   `json:"rotate,omitempty" river:"unique"`
	Trigger   string `json:"trigger"`
	Actor     string `json:"actor,omitempty"`
}

// Kind implements river.JobArgs.
func (IssueArgs) Kind() string { return "issue_key" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (IssueArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{
		Queue:       QueueKeys,
		MaxAttempts: 25,
		UniqueOpts: river.UniqueOpts{
			ByArgs: true,
			ByState: []rivertype.JobState{
				rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
				rivertype.JobStateRunning, rivertype.JobStateScheduled,
			},
		},
	}
}

// IssueWorker runs IssueArgs jobs.
type IssueWorker struct {
	river.WorkerDefaults[IssueArgs]
	s       *Service
	timeout time.Duration
}

// NewIssueWorker returns the worker.
func NewIssueWorker(s *Service, timeout time.Duration) *IssueWorker {
	return &IssueWorker{s: s, timeout: timeout}
}

// Timeout implements river.Worker.
func (w *IssueWorker) Timeout(*river.Job[IssueArgs]) time.Duration { return w.timeout }

// Work implements river.Worker: OpenAI's passing failures snooze the job.
func (w *IssueWorker) Work(ctx context.Context, job *river.Job[IssueArgs]) error {
	trigger := job.Args.Trigger
	if job.Attempt > 1 || trigger == "" {
		trigger = TriggerRetry
	}
	a := Attempt{Trigger: trigger, Actor: audit.Actor{Email: job.Args.Actor}, JobID: &job.ID}
	var res Result
	var err error
	if job.Args.Rotate {
		res, err = w.s.Rotate(ctx, job.Args.CompanyID, a)
	} else {
		res, err = w.s.Issue(ctx, job.Args.CompanyID, a)
	}
	if errors.Is(err, ErrCompanyNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	log := w.s.logger.With(slog.Int64("company_id", job.Args.CompanyID), slog.Int64("job_id", job.ID), slog.String("outcome", string(res.Outcome)))
	switch res.Outcome {
	case Failed:
		log.Error(fmt.Sprintf("❌ [Keys] Failed to create the OpenAI key for company %d: %v", job.Args.CompanyID, res.Err))
	case Retryable, Uncertain:
		log.Warn("key attempt failed; will retry", slog.Duration("retry_after", res.RetryAfter), slog.Any("error", res.Err))
	}
	if !res.Outcome.Final() {
		return river.JobSnooze(max(res.RetryAfter, 0))
	}
	return nil
}

// EnqueueTx inserts, in tx, the job that issues the company's key, and
// marks its key step pending. It is the hook every path that links a
// project calls (provision.Provisioner.SetOnLinked).
func (s *Service) EnqueueTx(ctx context.Context, tx pgx.Tx, companyID int64, trigger string) error {
	if !s.Enabled() || s.river == nil {
		return nil
	}
	if _, err := s.river.InsertTx(ctx, tx, IssueArgs{CompanyID: companyID, Trigger: trigger}, nil); err != nil {
		return fmt.Errorf("enqueue key for company %d: %w", companyID, err)
	}
	return s.q.WithTx(tx).UpsertKeyStatus(ctx, dbgen.UpsertKeyStatusParams{CompanyID: companyID, Status: "pending"})
}

// EnqueueRotate inserts the job that rotates (or, without a key, issues)
// the company's key now, audited as asked by actor.
func (s *Service) EnqueueRotate(ctx context.Context, companyID int64, actor audit.Actor, trigger string) error {
	if !s.Enabled() || s.river == nil {
		return ErrDisabled
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.q.WithTx(tx).GetCompany(ctx, companyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrCompanyNotFound
		}
		if err != nil {
			return err
		}
		if c.OpenAIProjectID == nil {
			return ErrNoProject
		}
		if _, err := s.river.InsertTx(ctx, tx, IssueArgs{CompanyID: companyID, Rotate: true, Trigger: trigger, Actor: actor.Email}, nil); err != nil {
			return err
		}
		return audit.Record(ctx, s.q.WithTx(tx), audit.Entry{
			Actor: actor, Action: ActionKeyRotate, CompanyID: companyID, CompanyName: c.Name, Detail: "rotation requested",
		})
	})
}

// ErrNoProject is returned when a key is asked for a company without a project.
var ErrNoProject = errors.New("keys: the company has no OpenAI project yet")

// MaintenanceArgs is the periodic job of rotation: it enqueues a rotation
// for every key past its lifetime and deletes the retiring keys whose grace
// period is over.
type MaintenanceArgs struct{}

// Kind implements river.JobArgs.
func (MaintenanceArgs) Kind() string { return "key_maintenance" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (MaintenanceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueKeys, UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// MaintenanceWorker runs MaintenanceArgs jobs.
type MaintenanceWorker struct {
	river.WorkerDefaults[MaintenanceArgs]
	s *Service
}

// NewMaintenanceWorker returns the worker.
func NewMaintenanceWorker(s *Service) *MaintenanceWorker { return &MaintenanceWorker{s: s} }

// Work implements river.Worker.
func (w *MaintenanceWorker) Work(ctx context.Context, _ *river.Job[MaintenanceArgs]) error {
	_, err := w.s.Maintain(ctx)
	return err
}

// MaintenanceReport is what one maintenance run did.
type MaintenanceReport struct {
	RotationsEnqueued int
	Retired           int
}

// Maintain enqueues due rotations and retires keys past their grace.
func (s *Service) Maintain(ctx context.Context) (MaintenanceReport, error) {
	ctx = governor.WithDefaultCall(ctx, governor.CallerKeys, governor.Background)
	var rep MaintenanceReport
	if !s.Enabled() {
		return rep, nil
	}
	due, err := s.DueForRotation(ctx, 1000)
	if err != nil {
		return rep, err
	}
	if len(due) > 0 && s.river != nil {
		params := make([]river.InsertManyParams, len(due))
		for i, id := range due {
			params[i] = river.InsertManyParams{Args: IssueArgs{CompanyID: id, Rotate: true, Trigger: TriggerRotation}}
		}
		if _, err := s.river.InsertMany(ctx, params); err != nil {
			return rep, err
		}
		rep.RotationsEnqueued = len(due)
	}
	rep.Retired, err = s.RetireDue(ctx)
	return rep, err
}

// PeriodicJobs returns the maintenance job, run every interval (and once
// at start). Rotation itself is per key, when its lifetime ends.
func PeriodicJobs(interval time.Duration) []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return MaintenanceArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})}
}

// Register adds the key workers to workers.
func (s *Service) Register(workers *river.Workers, timeout time.Duration) {
	river.AddWorker(workers, NewIssueWorker(s, timeout))
	river.AddWorker(workers, NewMaintenanceWorker(s))
}
