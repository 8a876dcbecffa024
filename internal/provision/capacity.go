package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
)

// The organization's capacity is counted from OpenAI's project list by a
// periodic job (CapacityArgs, on the leader process only) and stored in
// org_capacity, so every process shares one count; between counts, the
// gate adds the creations it let through (gate.go). Companies held back by
// the limit look again every Settings.CapacityRecheck, so they resume by
// themselves once a count shows room (projects archived, limit raised).

// CapacityArgs is the periodic job that counts the organization's active
// projects.
type CapacityArgs struct{}

// Kind implements river.JobArgs.
func (CapacityArgs) Kind() string { return "count_org_projects" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (CapacityArgs) InsertOpts() river.InsertOpts { return uniqueInsertOpts(QueueProvision, 3) }

// CapacityWorker runs CapacityArgs jobs.
type CapacityWorker struct {
	river.WorkerDefaults[CapacityArgs]
	p *Provisioner
}

// Work implements river.Worker.
func (w *CapacityWorker) Work(ctx context.Context, _ *river.Job[CapacityArgs]) error {
	if !w.p.Configured() {
		return nil
	}
	_, err := w.p.RefreshCapacity(ctx)
	return err
}

// capacityJob is the periodic job of NewRiverClient, every interval.
func capacityJob(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return CapacityArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// RefreshCapacity counts the organization's active projects on OpenAI and
// stores the count, returning it. The count is dated from the start of the
// listing, so that creations let through meanwhile are still added to it.
func (p *Provisioner) RefreshCapacity(ctx context.Context) (int, error) {
	ctx = governor.WithDefaultCall(ctx, governor.CallerCapacity, governor.Background)
	if p.projects == nil {
		return 0, ErrNotConfigured
	}
	started := p.now()
	n := 0
	err := p.projects.ListProjects(ctx, false, func(pr openai.Project) error {
		if pr.Active() {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count the organization's projects: %w", err)
	}
	if err := p.recordCapacity(ctx, n, started); err != nil {
		return 0, err
	}
	return n, nil
}

// recordCapacity stores a count of active projects made at at, and forgets
// the reservations that neither the budget nor the capacity still needs.
func (p *Provisioner) recordCapacity(ctx context.Context, active int, at time.Time) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		q := p.q.WithTx(tx)
		if err := q.LockProjectGate(ctx, gateLockKey); err != nil {
			return err
		}
		if err := q.SetOrgCapacity(ctx, dbgen.SetOrgCapacityParams{ActiveProjects: int32(active), CountedAt: at}); err != nil {
			return fmt.Errorf("store the organization's project count: %w", err)
		}
		before := p.now().Add(-p.settings.BudgetWindow)
		if at.Before(before) {
			before = at
		}
		return q.PruneProjectReservations(ctx, before)
	})
}

// Safeguards is the state of the gate, for the dashboard.
type Safeguards struct {
	// Budget is PROJECT_CREATE_BUDGET (0: none); BudgetUsed the budgeted
	// creations of the current window.
	Budget       int
	BudgetUsed   int
	BudgetWindow time.Duration
	// CapacityKnown is false until the organization's projects are first
	// counted; Used counts the active projects plus the creations since.
	CapacityKnown bool
	Used, Limit   int
	CountedAt     time.Time
	// Waiting companies by reason.
	WaitingBudget, WaitingCapacity, WaitingApproval, WaitingOther int64
	RequireApproval                                               bool
}

// nearLimitShare is the share of the project limit from which the
// dashboard warns.
const nearLimitShare = 0.9

// NearLimit reports whether the organization is close to its project limit.
func (s Safeguards) NearLimit() bool {
	return s.CapacityKnown && float64(s.Used) >= nearLimitShare*float64(s.Limit)
}

// AtLimit reports whether new projects wait for capacity.
func (s Safeguards) AtLimit() bool { return s.CapacityKnown && s.Used >= s.Limit }

// BudgetSpent reports whether new signups' projects wait for the budget.
func (s Safeguards) BudgetSpent() bool { return s.Budget > 0 && s.BudgetUsed >= s.Budget }

// Safeguards returns the state of the signup budget, the organization's
// capacity and the waiting companies.
func (p *Provisioner) Safeguards(ctx context.Context) (Safeguards, error) {
	now := p.now()
	s := Safeguards{
		Budget: p.settings.SignupBudget, BudgetWindow: p.settings.BudgetWindow, Limit: p.settings.ProjectLimit,
		RequireApproval: p.settings.RequireApproval,
	}
	n, err := p.q.CountBudgetedReservations(ctx, dbgen.CountBudgetedReservationsParams{Since: now.Add(-s.BudgetWindow)})
	if err != nil {
		return Safeguards{}, fmt.Errorf("safeguards: %w", err)
	}
	s.BudgetUsed = int(n.N)
	c, err := p.q.GetOrgCapacity(ctx)
	switch {
	case err == nil:
		s.CapacityKnown, s.Used, s.CountedAt = true, int(c.ActiveProjects)+int(c.Admitted), c.CountedAt
	case !errors.Is(err, pgx.ErrNoRows):
		return Safeguards{}, fmt.Errorf("safeguards: %w", err)
	}
	rows, err := p.q.CountWaitingCompanies(ctx)
	if err != nil {
		return Safeguards{}, fmt.Errorf("safeguards: %w", err)
	}
	for _, r := range rows {
		switch r.Reason {
		case ReasonBudget:
			s.WaitingBudget += r.N
		case ReasonCapacity:
			s.WaitingCapacity += r.N
		case ReasonApproval:
			s.WaitingApproval += r.N
		default:
			s.WaitingOther += r.N
		}
	}
	return s, nil
}
