package provision

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
)

// The gate holds back project creations that would be harmful, because a
// project, once created, can never be deleted and an organization holds a
// fixed number of them:
//
//   - the signup budget (Settings.SignupBudget, PROJECT_CREATE_BUDGET): at
//     most that many projects per window for companies that came from the
//     public signup form and that no staff member acted on; backfills and
//     staff actions do not count;
//   - the organization's capacity (Settings.ProjectLimit,
//     OPENAI_PROJECT_LIMIT): the active projects last counted on OpenAI
//     (capacity.go), plus those let through since, stay under the limit.
//
// A creation that does not fit is not an error: the company becomes
// StatusWaiting with the reason, its next attempt is set for when the
// budget frees (or the capacity is looked at again), and its job snoozes
// until then. Nothing fails for good because of the gate.
//
// Every process admits creations under one advisory lock, so the counts
// are exact across processes: each creation let through is a row of
// project_reservations, written in the admitting transaction. A creation
// OpenAI refuses frees its row; one of uncertain outcome keeps it. The
// rows since the last count of projects are also kept as a number
// (org_capacity.admitted), so that an admission reads one row rather than
// counting every creation since then; every change to the rows or to the
// count takes the lock first, so the number stays exact.

// Reasons a company waits, stored as its provisioning error.
const (
	ReasonBudget   = "signup project budget reached (PROJECT_CREATE_BUDGET); the project is created when the budget frees"
	ReasonCapacity = "organization project limit"
	ReasonApproval = "awaiting staff approval"
)

// Approval states of a company (companies.approval).
const (
	ApprovalNone     = "none"
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalRejected = "rejected"
)

// gateLockKey is the advisory lock of the gate, apart from the companies'
// locks (lockNamespace | company ID).
const gateLockKey = int64(0x5053) << 48

// Hold is why a creation must wait, and until when.
type Hold struct {
	Reason string
	Until  time.Time
}

func (p *Provisioner) now() time.Time { return p.settings.Now() }

// Until is how long from now, on the safeguards' clock, t is.
func (p *Provisioner) Until(t time.Time) time.Duration { return t.Sub(p.now()) }

// RequireApproval reports whether companies from the public form wait for
// a staff member's approval (SIGNUP_PROVISIONING=approval).
func (p *Provisioner) RequireApproval() bool { return p.settings.RequireApproval }

// AdmitSignupTx decides, in the transaction that creates a company from the
// public form, whether its project may be created now. When it may not, the
// company is marked waiting in tx and the Hold says why and until when.
func (p *Provisioner) AdmitSignupTx(ctx context.Context, tx pgx.Tx, companyID int64) (*Hold, error) {
	h, err := p.reserveTx(ctx, tx, companyID, true)
	if err != nil || h == nil {
		return nil, err
	}
	return h, p.holdTx(ctx, tx, companyID, *h)
}

// budgeted reports whether an attempt on company c counts against the
// signup budget: a company from the public form that no staff member acted
// on, outside a backfill.
func budgeted(c dbgen.Company, a Attempt) bool { return c.Budgeted && a.Trigger != TriggerBackfill }

// budgetHoldLifted reports whether the company waits for the signup budget
// only, and this attempt does not count against it (a backfill): the wait
// does not apply.
func (p *Provisioner) budgetHoldLifted(c dbgen.Company, a Attempt) bool {
	return c.ProvisioningStatus == string(StatusWaiting) && c.ProvisioningError == ReasonBudget && !budgeted(c, a)
}

// admit runs the gate for an attempt on company c. held is true when the
// attempt must not go on; res then says how long to wait.
func (p *Provisioner) admit(ctx context.Context, c dbgen.Company, a Attempt) (res Result, held bool, err error) {
	var h *Hold
	err = pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		var err error
		if h, err = p.reserveTx(ctx, tx, c.ID, budgeted(c, a)); err != nil {
			return err
		}
		if h != nil {
			return p.holdTx(ctx, tx, c.ID, *h)
		}
		if c.ProvisioningStatus == string(StatusWaiting) {
			// Let through: no longer waiting, whatever the attempt brings.
			_, err = p.q.WithTx(tx).SetCompanyProvisioningStatus(ctx, dbgen.SetCompanyProvisioningStatusParams{
				ID: c.ID, Status: string(StatusPending),
			})
		}
		return err
	})
	if err != nil {
		return Result{}, false, fmt.Errorf("provision company %d: safeguards: %w", c.ID, err)
	}
	if h == nil {
		return Result{}, false, nil
	}
	p.metrics.Attempt(string(Waiting))
	return Result{Outcome: Waiting, RetryAfter: max(h.Until.Sub(p.now()), time.Second)}, true, nil
}

// reserveTx admits one project creation for the company, writing its
// reservation, or returns the Hold that keeps it back.
func (p *Provisioner) reserveTx(ctx context.Context, tx pgx.Tx, companyID int64, budgeted bool) (*Hold, error) {
	q := p.q.WithTx(tx)
	now := p.now()
	window := p.settings.BudgetWindow
	if err := q.LockProjectGate(ctx, gateLockKey); err != nil {
		return nil, err
	}
	r, err := q.GetProjectReservation(ctx, companyID)
	reserved := err == nil
	switch {
	case reserved && r.ReservedAt.After(now.Add(-window)):
		// Let through lately (a retry, or the search after an uncertain
		// create): it is counted already.
		return nil, nil
	case err != nil && !errors.Is(err, pgx.ErrNoRows):
		return nil, err
	}
	if budgeted && p.settings.SignupBudget > 0 {
		n, err := q.CountBudgetedReservations(ctx, dbgen.CountBudgetedReservationsParams{Since: now.Add(-window), CompanyID: companyID})
		if err != nil {
			return nil, err
		}
		if int(n.N) >= p.settings.SignupBudget {
			// The oldest creation of the window leaves it first; a little
			// jitter keeps the waiting companies from waking all at once.
			until := n.Oldest.Add(window).Add(rand.N(5*time.Second + 1))
			return &Hold{Reason: ReasonBudget, Until: until}, nil
		}
	}
	// The organization's capacity. Before the first count creations go
	// through: OpenAI's own refusal then stops them (finishAtLimit).
	c, err := q.GetOrgCapacity(ctx)
	counted := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	// This company's own earlier reservation, if the count holds it, is
	// replaced, not added.
	own := 0
	if counted && reserved && !r.ReservedAt.Before(c.CountedAt) {
		own = 1
	}
	if counted && int(c.ActiveProjects)+int(c.Admitted)-own >= p.settings.ProjectLimit {
		return &Hold{Reason: ReasonCapacity, Until: now.Add(p.settings.CapacityRecheck)}, nil
	}
	if err := q.UpsertProjectReservation(ctx, dbgen.UpsertProjectReservationParams{
		CompanyID: companyID, ReservedAt: now, Budgeted: budgeted,
	}); err != nil {
		return nil, err
	}
	if !counted {
		return nil, nil
	}
	delta := -own
	if !now.Before(c.CountedAt) {
		delta++
	}
	return nil, q.AddCapacityAdmitted(ctx, int32(delta))
}

// freeReservationTx frees the company's place in the budget and in the
// organization's count: its creation did not happen.
func freeReservationTx(ctx context.Context, q *dbgen.Queries, companyID int64) error {
	if err := q.LockProjectGate(ctx, gateLockKey); err != nil {
		return err
	}
	return q.DeleteProjectReservation(ctx, companyID)
}

// holdTx marks the company waiting until h.Until.
func (p *Provisioner) holdTx(ctx context.Context, tx pgx.Tx, companyID int64, h Hold) error {
	until := h.Until
	_, err := p.q.WithTx(tx).SetCompanyProvisioningStatus(ctx, dbgen.SetCompanyProvisioningStatusParams{
		ID: companyID, Status: string(StatusWaiting), Error: h.Reason, NextAttemptAt: &until,
	})
	return err
}

// finishAtLimit books an attempt that OpenAI refused because the
// organization holds all the projects it may: the company waits for
// capacity instead of failing, and the organization counts as full until
// its projects are counted again.
func (p *Provisioner) finishAtLimit(ctx context.Context, c dbgen.Company, attempt dbgen.ProvisionAttempt, a Attempt, oe *openai.Error) (Result, error) {
	now := p.now()
	until := now.Add(p.settings.CapacityRecheck)
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		q := p.q.WithTx(tx)
		// The gate's lock first, as in every transaction that takes it.
		if err := freeReservationTx(ctx, q, c.ID); err != nil {
			return err
		}
		var httpStatus *int32
		if oe.StatusCode != 0 {
			s := int32(oe.StatusCode)
			httpStatus = &s
		}
		if err := q.FinishAttempt(ctx, dbgen.FinishAttemptParams{
			ID: attempt.ID, Outcome: string(Waiting), Error: oe.Error(), HTTPStatus: httpStatus, OpenAIRequestID: oe.RequestID,
		}); err != nil {
			return err
		}
		if err := q.SetOrgCapacity(ctx, dbgen.SetOrgCapacityParams{ActiveProjects: int32(p.settings.ProjectLimit), CountedAt: now}); err != nil {
			return err
		}
		return p.holdTx(ctx, tx, c.ID, Hold{Reason: ReasonCapacity, Until: until})
	})
	if err != nil {
		return Result{}, fmt.Errorf("record project limit for company %d: %w", c.ID, err)
	}
	p.metrics.Attempt(string(Waiting))
	return Result{Outcome: Waiting, Err: oe, RetryAfter: until.Sub(now)}, nil
}
