package company

import (
	"context"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/provision"
)

// Safeguards is the state of the signup budget, the organization's project
// capacity and the companies waiting on them (provision/gate.go).
type Safeguards = provision.Safeguards

// Reasons a waiting company gives (its LastError).
const (
	ReasonBudget   = provision.ReasonBudget
	ReasonCapacity = provision.ReasonCapacity
	ReasonApproval = provision.ReasonApproval
)

// Safeguards returns the state of the signup budget and of the
// organization's capacity, with the waiting companies by reason: what the
// dashboard's banner and capacity figure show.
func (s *Service) Safeguards(ctx context.Context) (Safeguards, error) {
	return s.prov.Safeguards(ctx)
}

// AwaitingApproval reports whether the company waits for a staff decision.
func (c Company) AwaitingApproval() bool { return c.Approval == ApprovalPending }

// Rejected reports whether a staff member rejected the company's signup.
func (c Company) Rejected() bool { return c.Approval == ApprovalRejected }

// PossibleMatchNote opens the audit entry of a link made from the
// backfill dry run's possible matches.
const PossibleMatchNote = "linked by hand from a possible match of the backfill dry run"

// LinkPossibleMatch links the company, by hand, to a same-name project the
// backfill would not adopt by itself (one created before the company's
// first attempt, or released by an admin): an admin's explicit decision,
// verified on OpenAI and audited like any assignment (AssignProjectID, whose
// errors it returns). It never replaces a project ID already set.
func (s *Service) LinkPossibleMatch(ctx context.Context, companyID int64, projectID string, actor audit.Actor) (AssignResult, error) {
	return s.AssignProjectID(ctx, AssignParams{
		CompanyID: companyID, ProjectID: projectID, Actor: actor, Note: PossibleMatchNote,
	})
}
