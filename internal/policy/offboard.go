package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/validation"
)

// Offboarding steps, in order. Each runs as its own job; the row in
// company_offboardings names the next one, and a step advances it only from
// itself, in the same transaction that enqueues the next job. A crash
// anywhere leaves the row at a step whose job River rescues and runs again;
// every step is safe to repeat (a delete of something gone is a success).
const (
	StepRevokeKeys     = "revoke_keys"
	StepRemoveAlerts   = "remove_alerts"
	StepArchiveProject = "archive_project"
	StepDone           = "done"
)

var nextStep = map[string]string{
	StepRevokeKeys:     StepRemoveAlerts,
	StepRemoveAlerts:   StepArchiveProject,
	StepArchiveProject: StepDone,
}

// Offboarding states.
const (
	OffboardRunning = "running"
	OffboardFailed  = "failed"
	OffboardDone    = "done"
)

// Errors of offboarding.
var (
	ErrAlreadyOffboarding = errors.New("policy: the company is already offboarded or being offboarded")
	ErrNotFailed          = errors.New("policy: the offboarding has not failed; nothing to resume")
	ErrNoOffboarding      = errors.New("policy: the company is not being offboarded")
)

// FieldConfirm is the form field of the typed confirmation.
const FieldConfirm = "confirm"

// Offboarding is where a company's offboarding stands.
type Offboarding struct {
	CompanyID     int64
	ProjectID     string
	Step          string // the step running or failed, StepDone at the end
	State         string // OffboardRunning, OffboardFailed, OffboardDone
	Error         string
	Actor         string
	KeysRevoked   int
	AlertsRemoved int
	StartedAt     time.Time
	FinishedAt    *time.Time
}

func offboardingFromRow(r dbgen.CompanyOffboarding) Offboarding {
	return Offboarding{CompanyID: r.CompanyID, ProjectID: r.ProjectID, Step: r.Step, State: r.State, Error: r.Error,
		Actor: r.ActorEmail, KeysRevoked: int(r.KeysRevoked), AlertsRemoved: int(r.AlertsRemoved),
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt}
}

// GetOffboarding returns the company's offboarding; ok is false if none.
func (s *Service) GetOffboarding(ctx context.Context, companyID int64) (Offboarding, bool, error) {
	r, err := s.q.GetOffboarding(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Offboarding{}, false, nil
	}
	if err != nil {
		return Offboarding{}, false, err
	}
	return offboardingFromRow(r), true, nil
}

// Offboard starts offboarding a company: confirm must be its name, typed.
// The company keeps its row, history and costs; its keys are revoked (its
// service accounts deleted), its spend alerts removed and its project
// archived, each by a job of its own. Audited. Returns a validation.Errors
// for a wrong confirmation, ErrCompanyNotFound, ErrNoProject or
// ErrAlreadyOffboarding.
func (s *Service) Offboard(ctx context.Context, companyID int64, confirm string, by audit.Actor) (Offboarding, error) {
	if s.river == nil {
		return Offboarding{}, errors.New("policy: no job queue configured")
	}
	var out Offboarding
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		c, err := q.GetCompanyForUpdate(ctx, companyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrCompanyNotFound
		}
		if err != nil {
			return err
		}
		if strings.TrimSpace(confirm) != c.Name {
			return validation.Errors{FieldConfirm: fmt.Sprintf("Type the company's name, %s, exactly to confirm.", c.Name)}
		}
		if c.OpenAIProjectID == nil {
			return ErrNoProject
		}
		if _, err := q.GetOffboarding(ctx, companyID); err == nil {
			return ErrAlreadyOffboarding
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		row, err := q.CreateOffboarding(ctx, dbgen.CreateOffboardingParams{CompanyID: companyID, ProjectID: *c.OpenAIProjectID, ActorEmail: by.Email})
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, q, audit.Entry{Actor: by, Action: ActionOffboard, CompanyID: c.ID, CompanyName: c.Name,
			Before: *c.OpenAIProjectID, Detail: "revoke keys, remove spend alerts, archive project"}); err != nil {
			return err
		}
		if _, err := s.river.InsertTx(ctx, tx, OffboardArgs{CompanyID: companyID, Step: StepRevokeKeys}, nil); err != nil {
			return err
		}
		out = offboardingFromRow(row)
		return nil
	})
	return out, err
}

// ResumeOffboarding starts a failed offboarding again at the step where it
// stopped. Audited. Returns ErrNoOffboarding or ErrNotFailed.
func (s *Service) ResumeOffboarding(ctx context.Context, companyID int64, by audit.Actor) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		row, err := q.GetOffboardingForUpdate(ctx, companyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoOffboarding
		}
		if err != nil {
			return err
		}
		if row.State != OffboardFailed {
			return ErrNotFailed
		}
		if _, err := q.ResumeOffboarding(ctx, companyID); err != nil {
			return err
		}
		c, err := q.GetCompany(ctx, companyID)
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, q, audit.Entry{Actor: by, Action: ActionResumeOffboard, CompanyID: c.ID, CompanyName: c.Name,
			Detail: "resumed at " + row.Step}); err != nil {
			return err
		}
		_, err = s.river.InsertTx(ctx, tx, OffboardArgs{CompanyID: companyID, Step: row.Step}, nil)
		return err
	})
}

// OffboardArgs is one offboarding step of one company.
type OffboardArgs struct {
	CompanyID int64  `json:"company_id" river:"unique"`
	Step      string `json:"step" river:"unique"`
}

// Kind implements river.JobArgs.
func (OffboardArgs) Kind() string { return "policy_offboard_step" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (OffboardArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueuePolicy, MaxAttempts: offboardMaxAttempts,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: activeStates}}
}

// offboardMaxAttempts bounds River's retries of one step before the
// offboarding is marked failed (where it stopped) for staff to resume.
const offboardMaxAttempts = 8

// OffboardWorker runs OffboardArgs.
type OffboardWorker struct {
	river.WorkerDefaults[OffboardArgs]
	s *Service
}

// Timeout implements river.Worker.
func (w *OffboardWorker) Timeout(*river.Job[OffboardArgs]) time.Duration { return 5 * time.Minute }

// NextRetry implements river.Worker: a short backoff, the governor paces
// OpenAI anyway.
func (w *OffboardWorker) NextRetry(job *river.Job[OffboardArgs]) time.Time {
	return time.Now().Add(time.Duration(min(job.Attempt*job.Attempt, 60)) * time.Second)
}

// Work implements river.Worker.
func (w *OffboardWorker) Work(ctx context.Context, job *river.Job[OffboardArgs]) error {
	return w.s.runOffboardStep(ctx, job.Args, job.Attempt >= job.MaxAttempts)
}

// runOffboardStep carries out one step and advances the offboarding; on the
// last try (or a permanent refusal) the offboarding is marked failed where
// it stopped.
func (s *Service) runOffboardStep(ctx context.Context, args OffboardArgs, lastTry bool) error {
	ctx = governor.WithDefaultCall(ctx, governor.CallerOffboard, governor.Background)
	// The policy lock keeps an apply that started before the offboarding
	// from writing alerts back after this step removed them.
	var stepErr error
	err := s.withLock(ctx, args.CompanyID, func() error {
		stepErr = s.offboardStepLocked(ctx, args, lastTry)
		return nil
	})
	if errors.Is(err, errBusy) {
		return fmt.Errorf("offboard company %d: a policy apply is in progress; retrying", args.CompanyID)
	}
	if err != nil {
		return err
	}
	return stepErr
}

func (s *Service) offboardStepLocked(ctx context.Context, args OffboardArgs, lastTry bool) error {
	row, err := s.q.GetOffboarding(ctx, args.CompanyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(ErrNoOffboarding)
	}
	if err != nil {
		return err
	}
	if row.Step != args.Step || row.State != OffboardRunning {
		return nil // a stale duplicate: the offboarding has moved on or waits for a resume
	}
	if s.client == nil {
		return s.failStep(ctx, row, "no OpenAI admin key is configured")
	}
	var keys, alerts int
	if args.Step != StepArchiveProject {
		// A project archived or gone on OpenAI's side can be used by no
		// key and refuses every change: there is nothing left to take down.
		p, err := s.client.GetProject(ctx, row.ProjectID)
		if oe, ok := openai.AsError(err); ok && oe.NotFound() || err == nil && !p.Active() {
			args.Step = "skip"
		}
	}
	switch args.Step {
	case "skip":
		args.Step = row.Step
	case StepRevokeKeys:
		if s.revokeKeys != nil {
			keys, err = s.revokeKeys(ctx, args.CompanyID, audit.Actor{Email: row.ActorEmail})
		}
		if err == nil {
			var others int
			others, err = s.revokeServiceAccounts(ctx, row.ProjectID)
			keys += others
		}
	case StepRemoveAlerts:
		alerts, err = s.removeAlerts(ctx, row.ProjectID)
	case StepArchiveProject:
		_, err = s.client.ArchiveProject(ctx, row.ProjectID)
		if oe, ok := openai.AsError(err); ok && oe.NotFound() {
			err = nil // gone already: nothing left to archive
		}
	default:
		return river.JobCancel(fmt.Errorf("unknown offboarding step %q", args.Step))
	}
	if err != nil {
		if lastTry || !openai.IsTransient(err) && !errors.Is(err, context.DeadlineExceeded) {
			if ferr := s.failStep(ctx, row, err.Error()); ferr != nil {
				return ferr
			}
			return river.JobCancel(err)
		}
		return err // River retries the step
	}
	next := nextStep[args.Step]
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		n, err := q.AdvanceOffboarding(ctx, dbgen.AdvanceOffboardingParams{
			CompanyID: args.CompanyID, Step: args.Step, NextStep: next, KeysRevoked: int32(keys), AlertsRemoved: int32(alerts),
		})
		if err != nil || n == 0 {
			return err
		}
		if next == StepDone {
			return nil
		}
		_, err = s.river.InsertTx(ctx, tx, OffboardArgs{CompanyID: args.CompanyID, Step: next}, nil)
		return err
	})
}

func (s *Service) failStep(ctx context.Context, row dbgen.CompanyOffboarding, msg string) error {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.q.FailOffboarding(bctx, dbgen.FailOffboardingParams{CompanyID: row.CompanyID, Step: row.Step, Error: msg})
}

// revokeServiceAccounts deletes every service account of the project, and
// so its keys.
func (s *Service) revokeServiceAccounts(ctx context.Context, projectID string) (int, error) {
	var ids []string
	err := s.client.ListServiceAccounts(ctx, projectID, func(sa openai.ServiceAccount) error {
		ids = append(ids, sa.ID)
		return nil
	})
	if oe, ok := openai.AsError(err); ok && oe.NotFound() {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := s.client.DeleteServiceAccount(ctx, projectID, id); err != nil {
			if oe, ok := openai.AsError(err); ok && oe.NotFound() {
				continue
			}
			return i, err
		}
	}
	return len(ids), nil
}

func (s *Service) removeAlerts(ctx context.Context, projectID string) (int, error) {
	alerts, err := s.client.ListSpendAlerts(ctx, projectID)
	if oe, ok := openai.AsError(err); ok && oe.NotFound() {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	for i, a := range alerts {
		if err := s.client.DeleteSpendAlert(ctx, projectID, a.ID); err != nil {
			return i, err
		}
	}
	return len(alerts), nil
}
