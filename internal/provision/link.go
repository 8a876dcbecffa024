package provision

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
)

// ErrNoFreeProject is returned by LinkExisting when every candidate
// project belongs to another company.
var ErrNoFreeProject = errors.New("provision: every project with the company's name belongs to another company")

// LinkExisting links the company to a project among sameName (projects
// named exactly like it) that it may adopt automatically (adopt.go): active,
// held by no company, never released by an admin, and created at or after
// the company's first provisioning attempt began. It does so under the
// company's provisioning lock and with an attempt in its history. With
// several adoptable projects, or with none but a same-name project it may
// not adopt (a possible match, shown in the backfill's dry run for an admin
// to link by hand), it marks the company failed rather than guess or create
// a second project beside one that may be its own. Returns ErrNoFreeProject
// when there is nothing to adopt or to ask about (the caller then creates a
// project), and Busy when an attempt for the company is in progress.
func (p *Provisioner) LinkExisting(ctx context.Context, companyID int64, sameName []openai.Project, a Attempt) (Result, error) {
	return p.withUnprovisioned(ctx, companyID, func(c dbgen.Company) (Result, error) {
		return p.linkExistingLocked(ctx, c, sameName, a)
	})
}

// linkExistingLocked is LinkExisting once the lock is held and the company loaded.
func (p *Provisioner) linkExistingLocked(ctx context.Context, c dbgen.Company, sameName []openai.Project, a Attempt) (Result, error) {
	companyID := c.ID
	if c.Approval == ApprovalPending || c.Approval == ApprovalRejected {
		return Result{Outcome: NotApproved}, nil
	}
	adopt, possible, err := p.classify(ctx, c, sameName)
	if err != nil {
		return Result{}, fmt.Errorf("link existing project to company %d: %w", companyID, err)
	}
	// A project an admin released is no candidate at all: they unlinked
	// it on purpose, and the company gets a new one.
	possible = slices.DeleteFunc(possible, func(m PossibleMatch) bool { return m.Released })
	if len(adopt) == 0 && len(possible) == 0 {
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
	switch {
	case len(adopt) > 1:
		msg := fmt.Sprintf("%d active OpenAI projects are named %q and none is linked; assign the right one by hand", len(adopt), c.Name)
		return p.finishFailure(bookCtx, c, attempt, a, &openai.Error{Op: openai.EndpointList, Kind: openai.Permanent, Message: msg})
	case len(adopt) == 0:
		msg := fmt.Sprintf("an OpenAI project named %q (%s) exists that this company may not adopt automatically (%s); "+
			"an admin can link it from the backfill dry run, or create a new project with \"Create project now\"",
			c.Name, possible[0].ProjectID, possible[0].Why)
		return p.finishFailure(bookCtx, c, attempt, a, &openai.Error{Op: openai.EndpointList, Kind: openai.Permanent, Message: msg})
	}
	return p.finishSuccess(bookCtx, c, attempt, a, adopt[0], Linked)
}
