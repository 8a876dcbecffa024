package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
)

// ErrNoFreeProject is returned by LinkExisting when every candidate
// project belongs to another company.
var ErrNoFreeProject = errors.New("provision: every project with the company's name belongs to another company")

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
