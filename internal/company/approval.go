package company

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/provision"
)

// Approval mode (SIGNUP_PROVISIONING=approval): a company from the public
// signup form is created as the seed promises, but it waits, with status
// waiting and the reason "awaiting staff approval", and no job, until a
// staff member approves it (then its provisioning job is queued) or rejects
// it (then it never gets a project by itself). Each decision is written
// with its audit entry in one transaction. Approving is a staff action: it
// does not count against the signup budget.

// Approval states of a company (see provision.Approval*).
const (
	ApprovalNone     = provision.ApprovalNone
	ApprovalPending  = provision.ApprovalPending
	ApprovalApproved = provision.ApprovalApproved
	ApprovalRejected = provision.ApprovalRejected
)

// ErrNeedsApproval is returned by RequestProvisioning for a company that
// waits for approval or was rejected: approve it instead.
var ErrNeedsApproval = errors.New("company: the company waits for approval; approve it to create its project")

// MaxDecisions bounds how many companies one approval or rejection covers.
const MaxDecisions = 500

// ErrTooManyDecisions is returned for more than MaxDecisions companies at once.
var ErrTooManyDecisions = fmt.Errorf("company: approve or reject at most %d companies at once", MaxDecisions)

// Decision is what an approval or rejection did.
type Decision struct {
	// Done are the companies decided; Unchanged those that were not
	// waiting for a decision (decided already, provisioned or gone).
	Done, Unchanged []int64
}

// RequireApproval reports whether new companies wait for approval.
func (s *Service) RequireApproval() bool { return s.prov.RequireApproval() }

// Approve approves the companies waiting for approval (or rejected
// before) and queues their provisioning. The others are left as they are
// and listed in Decision.Unchanged. All in one transaction, each with its
// audit entry. Returns ErrTooManyDecisions.
func (s *Service) Approve(ctx context.Context, ids []int64, actor audit.Actor) (Decision, error) {
	return s.decide(ctx, ids, actor, true)
}

// Reject rejects the companies waiting for approval: they keep no project
// and none is created by itself (a later approval can still create one).
// Returns ErrTooManyDecisions.
func (s *Service) Reject(ctx context.Context, ids []int64, actor audit.Actor) (Decision, error) {
	return s.decide(ctx, ids, actor, false)
}

func (s *Service) decide(ctx context.Context, ids []int64, actor audit.Actor, approve bool) (Decision, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if len(ids) > MaxDecisions {
		return Decision{}, ErrTooManyDecisions
	}
	var d Decision
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d = Decision{}
		q := s.q.WithTx(tx)
		for _, id := range ids {
			c, err := lockCompany(ctx, q, id)
			if errors.Is(err, ErrNotFound) {
				d.Unchanged = append(d.Unchanged, id)
				continue
			}
			if err != nil {
				return err
			}
			open := c.Approval == ApprovalPending || (approve && c.Approval == ApprovalRejected)
			if !open || c.OpenAIProjectID != nil {
				d.Unchanged = append(d.Unchanged, id)
				continue
			}
			p := setApproval(approve, s.prov.Configured(), actor)
			p.ID = c.ID
			if _, err := q.SetCompanyApproval(ctx, p); err != nil {
				return err
			}
			entry := audit.Entry{
				Actor: actor, Action: audit.ActionRejectSignup, CompanyID: c.ID, CompanyName: c.Name,
				Before: c.Approval, After: p.Approval, Detail: "no project is created for it",
			}
			if approve {
				entry.Action, entry.Detail = audit.ActionApproveSignup, "no OpenAI admin key is configured: no project is created"
				if s.prov.Configured() {
					res, err := s.river.InsertTx(ctx, tx, provision.ProjectArgs{
						CompanyID: c.ID, Trigger: provision.TriggerManual, Actor: actor.Email,
					}, nil)
					if err != nil {
						return fmt.Errorf("enqueue provisioning: %w", err)
					}
					entry.Detail = fmt.Sprintf("provisioning job %d queued", res.Job.ID)
				}
			}
			if err := audit.Record(ctx, q, entry); err != nil {
				return err
			}
			d.Done = append(d.Done, id)
		}
		return nil
	})
	if err != nil {
		return Decision{}, fmt.Errorf("decide on %d companies: %w", len(ids), err)
	}
	return d, nil
}

// setApproval is the row change of a decision.
func setApproval(approve, configured bool, actor audit.Actor) dbgen.SetCompanyApprovalParams {
	switch {
	case !approve:
		return dbgen.SetCompanyApprovalParams{Approval: ApprovalRejected, Status: string(StatusSkipped), Error: "signup rejected by " + actor.Email}
	case !configured:
		return dbgen.SetCompanyApprovalParams{Approval: ApprovalApproved, Status: string(StatusSkipped), Error: "no OpenAI admin key is configured"}
	}
	return dbgen.SetCompanyApprovalParams{Approval: ApprovalApproved, Status: string(StatusPending)}
}
