package company

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/provision"
)

// A company's project ID is read and written by hand through the seed's two
// helpers, GetCompanyOpenAIProject and UpdateCompanyOpenAIProject. The
// second is the only manual write: it holds the company's provisioning lock,
// so that no attempt interleaves, and writes the change and its audit entry
// in one transaction. The staff's actions (AssignProjectID, ClearProjectID
// in manage.go) check what they need to, OpenAI included, then call it.
// Provisioning links projects on its own path (provision.Provisioner), with
// its own guard and its attempt history.

// ErrProjectLinked is returned when a project ID is already linked to
// another company.
type ErrProjectLinked struct {
	ProjectID string
	Company   Company
}

func (e *ErrProjectLinked) Error() string {
	return fmt.Sprintf("project %s is already linked to %s", e.ProjectID, e.Company.Name)
}

// GetCompanyOpenAIProject returns the company's project ID, "" when it has
// none. Returns ErrNotFound if the company does not exist.
func (s *Service) GetCompanyOpenAIProject(ctx context.Context, companyID int64) (string, error) {
	id, err := s.q.GetCompanyOpenAIProject(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("get project of company %d: %w", companyID, err)
	}
	if id == nil {
		return "", nil
	}
	return *id, nil
}

// ProjectChange is one manual change of a company's project ID.
type ProjectChange struct {
	CompanyID int64
	// ProjectID is the new ID; "" clears the company's ID.
	ProjectID string
	Actor     audit.Actor
	// Replace allows changing or clearing an ID the company already has.
	Replace bool
	// Detail goes into the audit entry: how the ID was checked, or what
	// clearing it means.
	Detail string
}

// UpdateCompanyOpenAIProject sets or clears the company's project ID, the
// seed's helper, and returns the ID it had before. The company becomes
// provisioned (pending when cleared). The change and its audit entry are
// written in one transaction under the company's provisioning lock. When the
// company already has ch.ProjectID, nothing is written or recorded and the
// returned ID equals it.
//
// It does not ask OpenAI whether the project exists: callers that can
// verify do so first (AssignProjectID).
//
// Returns ErrInvalidProjectID, ErrNotFound, ErrHasProject (the company has
// another ID and ch.Replace is false), ErrNoProject (clearing a company that
// has none), *ErrProjectLinked (another company holds the ID) and ErrBusy
// (a provisioning attempt is in progress; it fails rather than wait).
func (s *Service) UpdateCompanyOpenAIProject(ctx context.Context, ch ProjectChange) (before string, err error) {
	var pid *string
	if ch.ProjectID != "" {
		if !ValidProjectID(ch.ProjectID) {
			return "", ErrInvalidProjectID
		}
		pid = &ch.ProjectID
	}
	err = s.withCompanyLock(ctx, ch.CompanyID, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			q := s.q.WithTx(tx)
			c, err := lockCompany(ctx, q, ch.CompanyID)
			if err != nil {
				return err
			}
			if c.OpenAIProjectID != nil {
				before = *c.OpenAIProjectID
			}
			// Read under the lock: provisioning may have linked a project
			// since the caller looked.
			switch {
			case before == "" && ch.ProjectID == "":
				return ErrNoProject
			case before == ch.ProjectID:
				return nil
			case before != "" && !ch.Replace:
				return ErrHasProject
			}
			if _, err := q.UpdateCompanyOpenAIProject(ctx, dbgen.UpdateCompanyOpenAIProjectParams{ID: c.ID, ProjectID: pid}); err != nil {
				return err
			}
			if before != "" {
				// Unlinked on purpose: never adopted again automatically.
				if err := q.ReleaseProject(ctx, dbgen.ReleaseProjectParams{
					ProjectID: before, CompanyID: &c.ID, ReleasedBy: ch.Actor.Email,
				}); err != nil {
					return err
				}
			}
			if err := audit.Record(ctx, q, audit.Entry{
				Actor: ch.Actor, Action: projectAction(before, ch.ProjectID), CompanyID: c.ID, CompanyName: c.Name,
				Before: before, After: ch.ProjectID, Detail: ch.Detail,
			}); err != nil {
				return err
			}
			if pid == nil {
				return nil
			}
			// The key step follows a project however it was linked.
			return s.prov.OnLinked(ctx, tx, c.ID, ch.ProjectID)
		})
	})
	if db.IsUniqueViolation(err, "companies_openai_project_id_key") {
		// Another company holds the ID (or took it since the caller checked).
		err = s.checkNotLinked(ctx, ch.CompanyID, ch.ProjectID, err)
	}
	var linked *ErrProjectLinked
	switch {
	case err == nil:
		return before, nil
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrNoProject), errors.Is(err, ErrHasProject),
		errors.Is(err, ErrBusy), errors.As(err, &linked):
		return "", err
	}
	return "", fmt.Errorf("set project of company %d: %w", ch.CompanyID, err)
}

// projectAction is the audit action of a change from before to after.
func projectAction(before, after string) string {
	switch {
	case after == "":
		return audit.ActionClearProjectID
	case before == "":
		return audit.ActionAssignProjectID
	}
	return audit.ActionChangeProjectID
}

// checkNotLinked returns *ErrProjectLinked if another company holds the
// project ID, otherwise orElse.
func (s *Service) checkNotLinked(ctx context.Context, companyID int64, projectID string, orElse error) error {
	holder, err := s.q.GetCompanyByProjectID(ctx, &projectID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return orElse
	case err != nil:
		return fmt.Errorf("look up project %s: %w", projectID, err)
	case holder.ID != companyID:
		return &ErrProjectLinked{ProjectID: projectID, Company: fromRow(holder)}
	}
	return orElse
}

// withCompanyLock runs fn under the company's provisioning lock. Returns
// ErrBusy while a provisioning attempt holds it.
func (s *Service) withCompanyLock(ctx context.Context, companyID int64, fn func() error) error {
	err := s.prov.WithCompanyLock(ctx, companyID, fn)
	if errors.Is(err, provision.ErrCompanyBusy) {
		return ErrBusy
	}
	return err
}
