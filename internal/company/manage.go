package company

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/provision"
)

// Errors of the staff's manual actions. Assignments also return
// *ErrProjectLinked, *VerifyError and ErrBusy.
var (
	ErrNotConfigured    = errors.New("company: no OpenAI admin key is configured")
	ErrHasProject       = errors.New("company: the company already has a project ID")
	ErrNoProject        = errors.New("company: the company has no project ID")
	ErrInvalidProjectID = errors.New("company: a project ID is proj_ followed by letters and digits")
	ErrProjectNotFound  = errors.New("company: no OpenAI project with this ID exists in the organization")
	ErrProjectArchived  = errors.New("company: the OpenAI project is archived")
)

// VerifyError is returned when OpenAI could not tell whether a project
// exists: the ID was not saved.
type VerifyError struct {
	Err error
}

func (e *VerifyError) Error() string { return "verify project on OpenAI: " + e.Err.Error() }

func (e *VerifyError) Unwrap() error { return e.Err }

// Transient reports whether trying again later may succeed.
func (e *VerifyError) Transient() bool {
	oe, ok := openai.AsError(e.Err)
	return !ok || oe.Kind != openai.Permanent
}

// OpenAIConfigured reports whether an OpenAI admin key is configured:
// without one, projects can be neither created nor verified.
func (s *Service) OpenAIConfigured() bool { return s.prov.Configured() }

// projectIDPattern is the shape of an OpenAI project ID.
var projectIDPattern = regexp.MustCompile(`^proj_[A-Za-z0-9]+$`)

// maxProjectIDLen bounds a project ID well above OpenAI's (about 30 characters).
const maxProjectIDLen = 100

// ValidProjectID reports whether id looks like an OpenAI project ID.
func ValidProjectID(id string) bool {
	return len(id) <= maxProjectIDLen && projectIDPattern.MatchString(id)
}

// verifyTimeout bounds the check of a project on OpenAI while staff wait.
const verifyTimeout = 10 * time.Second

// RequestProvisioning asks for a project to be created for the company now,
// on the durable job system: it makes the company due for an attempt (a
// failed or skipped company becomes pending again) and enqueues its
// provisioning job, or hurries the one already queued, so that double clicks
// share one job. The audit entry is written in the same transaction. Returns
// the job's id, ErrNotConfigured, ErrNotFound, ErrHasProject and
// ErrNeedsApproval (approval mode: approve the company instead). A staff
// request never counts against the signup budget.
func (s *Service) RequestProvisioning(ctx context.Context, companyID int64, actor audit.Actor) (int64, error) {
	if !s.prov.Configured() {
		return 0, ErrNotConfigured
	}
	var jobID int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		c, err := lockCompany(ctx, q, companyID)
		if err != nil {
			return err
		}
		if c.OpenAIProjectID != nil {
			return ErrHasProject
		}
		if c.Approval == provision.ApprovalPending || c.Approval == provision.ApprovalRejected {
			return ErrNeedsApproval
		}
		if _, err := q.ResetCompanyForRetry(ctx, companyID); err != nil {
			return err
		}
		// Asked for by staff: no longer counts against the signup budget.
		if err := q.ClearCompanyBudgeted(ctx, companyID); err != nil {
			return err
		}
		res, err := s.river.InsertTx(ctx, tx, provision.ProjectArgs{
			CompanyID: companyID, Trigger: provision.TriggerManual, Actor: actor.Email,
		}, nil)
		if err != nil {
			return fmt.Errorf("enqueue provisioning: %w", err)
		}
		jobID = res.Job.ID
		detail := fmt.Sprintf("provisioning job %d queued", jobID)
		if res.UniqueSkippedAsDuplicate {
			detail = fmt.Sprintf("provisioning job %d was already queued", jobID)
			// A job waiting out a backoff would keep waiting: run it now.
			if res.Job.State != rivertype.JobStateRunning {
				if _, err := s.river.JobRetryTx(ctx, tx, jobID); err != nil && !errors.Is(err, river.ErrNotFound) {
					return fmt.Errorf("hurry provisioning job %d: %w", jobID, err)
				}
			}
		}
		return audit.Record(ctx, q, audit.Entry{
			Actor: actor, Action: audit.ActionRetryProvision, CompanyID: c.ID, CompanyName: c.Name,
			Before: c.ProvisioningStatus, After: string(StatusPending), Detail: detail,
		})
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrHasProject) || errors.Is(err, ErrNeedsApproval) {
			return 0, err
		}
		return 0, fmt.Errorf("request provisioning of company %d: %w", companyID, err)
	}
	return jobID, nil
}

// AssignParams is a staff member's assignment of a project ID.
type AssignParams struct {
	CompanyID int64
	ProjectID string
	Actor     audit.Actor
	// Replace allows changing an ID the company already has, which only
	// admins may do.
	Replace bool
	// Note, if set, opens the audit entry's detail: where the ID came from.
	Note string
}

// AssignResult is what an assignment did.
type AssignResult struct {
	Before string // the project ID replaced, "" when there was none
	// Verified is true when OpenAI confirmed the project exists and is
	// active; false when no admin key is configured to ask.
	Verified bool
	// Unchanged is true when the company already had this ID: nothing was
	// done or recorded.
	Unchanged bool
}

// AssignProjectID links the company to an existing OpenAI project.
//
// The ID must look like an OpenAI project ID and be linked to no other
// company. With an admin key configured the project must exist on OpenAI and
// be active; without one it is saved unverified. The change and its audit
// entry are written in one transaction while the company's provisioning lock
// is held, so that no provisioning attempt interleaves.
//
// Returns ErrInvalidProjectID, ErrNotFound, ErrHasProject (the company has
// another ID and p.Replace is false), *ErrProjectLinked, ErrProjectNotFound,
// ErrProjectArchived, *VerifyError and ErrBusy.
func (s *Service) AssignProjectID(ctx context.Context, p AssignParams) (AssignResult, error) {
	id := strings.TrimSpace(p.ProjectID)
	if !ValidProjectID(id) {
		return AssignResult{}, ErrInvalidProjectID
	}
	current, err := s.GetCompanyOpenAIProject(ctx, p.CompanyID)
	if err != nil {
		return AssignResult{}, err
	}
	switch {
	case current == id:
		return AssignResult{Before: id, Unchanged: true}, nil
	case current != "" && !p.Replace:
		return AssignResult{}, ErrHasProject
	}
	if err := s.checkNotLinked(ctx, p.CompanyID, id, nil); err != nil {
		return AssignResult{}, err
	}

	// Ask OpenAI before taking the lock: no transaction is open, and a
	// provisioning attempt is not held up by our wait.
	res := AssignResult{}
	detail := "saved without verification (no OpenAI admin key configured)"
	if projects := s.prov.Projects(); projects != nil {
		name, err := verifyProject(ctx, projects, id)
		if err != nil {
			return AssignResult{}, err
		}
		res.Verified, detail = true, fmt.Sprintf("verified on OpenAI: project %q", name)
	}

	if p.Note != "" {
		detail = p.Note + "; " + detail
	}
	res.Before, err = s.UpdateCompanyOpenAIProject(ctx, ProjectChange{
		CompanyID: p.CompanyID, ProjectID: id, Actor: p.Actor, Replace: p.Replace, Detail: detail,
	})
	if err != nil {
		return AssignResult{}, err
	}
	// Provisioning may have linked this very project since we looked.
	res.Unchanged = res.Before == id
	return res, nil
}

// verifyProject retrieves the project from OpenAI and returns its name.
func verifyProject(ctx context.Context, projects openai.Projects, id string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	pr, err := projects.GetProject(ctx, id)
	if err != nil {
		if oe, ok := openai.AsError(err); ok && oe.NotFound() {
			return "", ErrProjectNotFound
		}
		return "", &VerifyError{Err: err}
	}
	if !pr.Active() {
		return "", ErrProjectArchived
	}
	return pr.Name, nil
}

// ClearProjectID unlinks the company from its project and returns the ID it
// had. The company becomes pending, but no job is queued: a project is
// created only when staff ask for one or a backfill runs. The change and its
// audit entry are written in one transaction under the company's
// provisioning lock (UpdateCompanyOpenAIProject). Returns ErrNotFound,
// ErrNoProject and ErrBusy.
func (s *Service) ClearProjectID(ctx context.Context, companyID int64, actor audit.Actor) (string, error) {
	return s.UpdateCompanyOpenAIProject(ctx, ProjectChange{
		CompanyID: companyID, Actor: actor, Replace: true,
		Detail: "status set to pending; no project is created until staff ask or a backfill runs",
	})
}

// lockCompany reads the company and locks its row for the transaction.
// Returns ErrNotFound.
func lockCompany(ctx context.Context, q *dbgen.Queries, id int64) (dbgen.Company, error) {
	c, err := q.GetCompanyForUpdate(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, ErrNotFound
	}
	return c, err
}
