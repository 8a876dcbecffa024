// Package provision gives companies their OpenAI project, exactly once.
//
// Every path that creates a project (the signup request, the River job that
// retries it, a backfill, a staff member's "Create project now") goes through
// Provisioner.Provision, which
//
//   - holds a PostgreSQL advisory lock for the company on a dedicated
//     connection, outside any transaction, so that processes and goroutines
//     never race for one company, and a crashed process releases it;
//   - writes an attempt row before calling OpenAI, so that a crash between
//     OpenAI's create and our update leaves a trace;
//   - after any uncertain outcome (timeout, reset, lost or malformed answer,
//     5xx, crash), first looks on OpenAI for an active project with exactly the
//     company's name created since that attempt began, and links it instead of
//     creating another;
//   - links the project with a guarded UPDATE (only where no ID is set);
//   - before creating, passes the safeguards (gate.go): the signup budget,
//     the organization's project limit and approval mode, which make the
//     company wait rather than fail;
//   - adopts an existing project only when it can be the company's own and
//     no admin released it (adopt.go).
//
// No OpenAI call runs while a database transaction is open.
package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/metrics"
	"github.com/provisioner/provisioner/internal/openai"
)

// Triggers say who or what started an attempt; they appear in the history.
const (
	TriggerSignup   = "signup"
	TriggerRetry    = "retry"
	TriggerBackfill = "backfill"
	TriggerManual   = "manual"
)

// Outcome is what one call to Provision came to.
type Outcome string

const (
	// Created: a new project was created and linked.
	Created Outcome = "created"
	// Linked: an existing project (from an earlier uncertain attempt) was linked.
	Linked Outcome = "linked"
	// AlreadyProvisioned: the company had its project; nothing was done.
	AlreadyProvisioned Outcome = "already_provisioned"
	// Skipped: no admin key is configured (or the name is empty).
	Skipped Outcome = "skipped"
	// Retryable: a passing failure; try again after Result.RetryAfter.
	Retryable Outcome = "retryable"
	// Uncertain: the project may have been created; the next attempt will
	// look for it first, after Result.RetryAfter.
	Uncertain Outcome = "uncertain"
	// Failed: OpenAI refused for good, or the attempts ran out.
	Failed Outcome = "failed"
	// Busy: another attempt for the company is in progress right now.
	Busy Outcome = "busy"
	// Waiting: an earlier failure asked for a pause that has not passed
	// yet, or a safeguard holds creation back (gate.go): the signup budget
	// or the organization's project limit.
	Waiting Outcome = "waiting"
	// NotApproved: approval mode; the company waits for a staff member's
	// decision (or was rejected). Final: approving it queues a new job.
	NotApproved Outcome = "not_approved"
)

// Final reports whether the outcome needs no further attempt.
func (o Outcome) Final() bool {
	switch o {
	case Created, Linked, AlreadyProvisioned, Skipped, Failed, NotApproved:
		return true
	}
	return false
}

// Result is the outcome of Provision.
type Result struct {
	Outcome   Outcome
	ProjectID string
	// Err is OpenAI's error for Retryable, Uncertain and Failed outcomes.
	Err error
	// RetryAfter is when the next attempt may start, for the non-final outcomes.
	RetryAfter time.Duration
}

// Attempt describes who asks for a provisioning attempt.
type Attempt struct {
	Trigger string
	Actor   string // staff email for manual attempts
	JobID   *int64 // the River job the attempt belongs to, if any
	// OnFinal, if set, runs in the transaction that records a final
	// outcome (created, linked, failed): the signup deletes its safety-net
	// job there, so the two can't disagree.
	OnFinal func(ctx context.Context, tx pgx.Tx) error
}

// Settings tune retries. The zero value is not useful; see config.Config.
type Settings struct {
	MaxAttempts  int
	BackoffBase  time.Duration
	BackoffMax   time.Duration
	SettleDelay  time.Duration
	ClockSkew    time.Duration // tolerance between our clock and OpenAI's
	LockWaitBusy time.Duration // how long a job waits when the company is busy

	// The safeguards of gate.go. SignupBudget is PROJECT_CREATE_BUDGET:
	// projects created per BudgetWindow (default one hour) for companies
	// from the public signup form, 0 for no budget. ProjectLimit is
	// OPENAI_PROJECT_LIMIT (default 2000); CapacityRecheck is how often a
	// company held back by it looks again (default one minute).
	SignupBudget    int
	BudgetWindow    time.Duration
	ProjectLimit    int
	CapacityRecheck time.Duration
	// RequireApproval is SIGNUP_PROVISIONING=approval: a company from the
	// public form waits for a staff member's approval.
	RequireApproval bool
	// Now is the clock of the safeguards and of next attempts (time.Now
	// when nil); tests move it forward.
	Now func() time.Time
}

// Provisioner performs provisioning attempts.
type Provisioner struct {
	pool     *pgxpool.Pool
	q        *dbgen.Queries
	projects openai.Projects // nil when no admin key is configured
	settings Settings
	metrics  *metrics.Metrics
	logger   *slog.Logger
	// onLinked, if set, runs in the transaction that links a project to a
	// company, on every path: the key step enqueues itself there.
	onLinked LinkedFunc
	// onFailed, if set, runs in the transaction that marks a company
	// failed for good (webhooks).
	onFailed func(ctx context.Context, tx pgx.Tx, companyID int64, reason string) error
}

// SetOnFailed sets the hook run in the transaction that marks a company's
// provisioning failed for good.
func (p *Provisioner) SetOnFailed(fn func(ctx context.Context, tx pgx.Tx, companyID int64, reason string) error) {
	p.onFailed = fn
}

// LinkedFunc is told, inside the linking transaction, that a company now
// has a project.
type LinkedFunc func(ctx context.Context, tx pgx.Tx, companyID int64, projectID string) error

// SetOnLinked sets the hook every linking of a project runs in its
// transaction (the key step's enqueue). Call it before serving.
func (p *Provisioner) SetOnLinked(fn LinkedFunc) { p.onLinked = fn }

// OnLinked runs the linking hook in tx, for a project linked outside
// Provision (a manual assignment). A nil hook does nothing.
func (p *Provisioner) OnLinked(ctx context.Context, tx pgx.Tx, companyID int64, projectID string) error {
	if p.onLinked == nil {
		return nil
	}
	return p.onLinked(ctx, tx, companyID, projectID)
}

// New returns a Provisioner. projects may be nil: attempts are then skipped.
func New(pool *pgxpool.Pool, projects openai.Projects, s Settings, m *metrics.Metrics, logger *slog.Logger) *Provisioner {
	if s.ClockSkew == 0 {
		s.ClockSkew = time.Minute
	}
	if s.LockWaitBusy == 0 {
		s.LockWaitBusy = 2 * time.Second
	}
	if s.MaxAttempts == 0 {
		s.MaxAttempts = 10
	}
	if s.BudgetWindow == 0 {
		s.BudgetWindow = time.Hour
	}
	if s.ProjectLimit == 0 {
		s.ProjectLimit = 2000
	}
	if s.CapacityRecheck == 0 {
		s.CapacityRecheck = time.Minute
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return &Provisioner{pool: pool, q: dbgen.New(pool), projects: projects, settings: s, metrics: m, logger: logger}
}

// Configured reports whether an OpenAI admin key is configured.
func (p *Provisioner) Configured() bool { return p.projects != nil }

// Projects returns the OpenAI client, nil when none is configured.
func (p *Provisioner) Projects() openai.Projects { return p.projects }

// ErrCompanyNotFound is returned when the company does not exist.
var ErrCompanyNotFound = errors.New("provision: company not found")

// Provision gives the company its OpenAI project unless it has one. ctx
// bounds the wait for OpenAI; the bookkeeping after OpenAI answers is done
// even if ctx has ended, so that nothing learnt is lost. The returned error
// is for database failures only: OpenAI's failures are in Result.
func (p *Provisioner) Provision(ctx context.Context, companyID int64, a Attempt) (Result, error) {
	return p.withUnprovisioned(ctx, companyID, func(c dbgen.Company) (Result, error) {
		return p.provisionLocked(ctx, c, a)
	})
}

// withUnprovisioned runs fn for the company while holding its lock, unless
// another attempt holds the lock (Busy) or the company already has its
// project (AlreadyProvisioned). Returns ErrCompanyNotFound.
func (p *Provisioner) withUnprovisioned(ctx context.Context, companyID int64, fn func(dbgen.Company) (Result, error)) (Result, error) {
	unlock, ok, err := p.lock(ctx, companyID)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{Outcome: Busy, RetryAfter: p.settings.LockWaitBusy}, nil
	}
	defer unlock()

	c, err := p.q.GetCompany(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Result{}, ErrCompanyNotFound
	}
	if err != nil {
		return Result{}, fmt.Errorf("company %d: %w", companyID, err)
	}
	if c.OpenAIProjectID != nil {
		return Result{Outcome: AlreadyProvisioned, ProjectID: *c.OpenAIProjectID}, nil
	}
	return fn(c)
}

// provisionLocked is Provision once the lock is held and the company loaded.
func (p *Provisioner) provisionLocked(ctx context.Context, c dbgen.Company, a Attempt) (Result, error) {
	companyID := c.ID
	if p.projects == nil || strings.TrimSpace(c.Name) == "" {
		reason := "no OpenAI admin key is configured"
		if p.projects != nil {
			reason = "the company name is empty"
		}
		return Result{Outcome: Skipped}, p.recordSkipped(ctx, c.ID, a, reason)
	}
	if c.Approval == ApprovalPending || c.Approval == ApprovalRejected {
		return Result{Outcome: NotApproved}, nil
	}
	if c.NextAttemptAt != nil && !p.budgetHoldLifted(c, a) {
		if wait := c.NextAttemptAt.Sub(p.now()); wait > 0 {
			return Result{Outcome: Waiting, RetryAfter: wait}, nil
		}
	}

	// An earlier attempt that never learnt its outcome (or died midway)
	// may have created the project: find it before creating another.
	since, err := p.q.OldestUncertainAttemptStart(ctx, c.ID)
	uncertain := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Result{}, fmt.Errorf("provision company %d: %w", companyID, err)
	}
	if uncertain {
		// A create cut off by a crash may still be in flight at OpenAI;
		// give it time to land before looking.
		last, err := p.q.LastUncertainAttempt(ctx, c.ID)
		if err != nil {
			return Result{}, fmt.Errorf("provision company %d: %w", companyID, err)
		}
		if last.FinishedAt == nil {
			if wait := time.Until(last.StartedAt.Add(p.settings.SettleDelay)); wait > 0 {
				return Result{Outcome: Waiting, RetryAfter: wait}, nil
			}
		}
	}

	// The safeguards: a creation must fit the signup budget and the
	// organization's project limit, or the company waits (gate.go).
	if res, held, err := p.admit(ctx, c, a); err != nil || held {
		return res, err
	}

	attempt, err := p.q.CreateAttempt(ctx, dbgen.CreateAttemptParams{
		CompanyID: c.ID, Trigger: a.Trigger, Actor: a.Actor, JobID: a.JobID,
	})
	if err != nil {
		return Result{}, fmt.Errorf("provision company %d: record attempt: %w", companyID, err)
	}
	var sincePtr *time.Time
	if uncertain {
		sincePtr = &since
	}
	return p.run(ctx, c, attempt, a, sincePtr)
}

// run carries out a recorded attempt while the company's lock is held:
// after an uncertain earlier attempt (uncertainSince set) it looks for the
// project first, otherwise it creates one; then it books the outcome.
func (p *Provisioner) run(ctx context.Context, c dbgen.Company, attempt dbgen.ProvisionAttempt, a Attempt, uncertainSince *time.Time) (Result, error) {
	// From here on, what OpenAI said must be written down even when ctx ends.
	bookCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()

	if uncertainSince != nil {
		since := *uncertainSince
		found, lookErr := p.findExisting(ctx, c, since)
		switch {
		case lookErr != nil:
			return p.finishFailure(bookCtx, c, attempt, a, lookErr)
		case found.ambiguous > 0:
			msg := fmt.Sprintf("%d active OpenAI projects named %q were created since %s; link the right one by hand",
				found.ambiguous, c.Name, since.UTC().Format(time.RFC3339))
			return p.finishFailure(bookCtx, c, attempt, a, &openai.Error{Op: openai.EndpointList, Kind: openai.Permanent, Message: msg})
		case found.project.ID != "":
			return p.finishSuccess(bookCtx, c, attempt, a, found.project, Linked)
		}
	}

	project, err := p.projects.CreateProject(ctx, c.Name)
	if err != nil {
		return p.finishFailure(bookCtx, c, attempt, a, err)
	}
	return p.finishSuccess(bookCtx, c, attempt, a, project, Created)
}

// Claim is a provisioning attempt for a company being created: its lock
// was taken and its attempt recorded inside the caller's transaction, so
// the company, its job and the attempt are committed together.
type Claim struct {
	p       *Provisioner
	company dbgen.Company
	attempt dbgen.ProvisionAttempt
	a       Attempt
	unlock  func()
}

// ClaimTx takes the provisioning lock of company c, just inserted in tx,
// and records a started attempt in tx. The lock is PostgreSQL's
// session-level advisory lock of conn, the connection tx runs on, so it
// outlives the commit; conn must stay acquired until Run or Release.
// Returns nil when the lock is taken (then a job will do the work).
func (p *Provisioner) ClaimTx(ctx context.Context, conn *pgxpool.Conn, tx pgx.Tx, c dbgen.Company, a Attempt) (*Claim, error) {
	unlock, ok, err := lockOn(ctx, conn, tx, c.ID)
	if err != nil || !ok {
		return nil, err
	}
	attempt, err := p.q.WithTx(tx).CreateAttempt(ctx, dbgen.CreateAttemptParams{
		CompanyID: c.ID, Trigger: a.Trigger, Actor: a.Actor, JobID: a.JobID,
	})
	if err != nil {
		unlock()
		return nil, fmt.Errorf("provision company %d: record attempt: %w", c.ID, err)
	}
	return &Claim{p: p, company: c, attempt: attempt, a: a, unlock: unlock}, nil
}

// Run creates the claimed company's project, books the outcome and
// releases the lock. Call it after the claiming transaction committed.
func (cl *Claim) Run(ctx context.Context) (Result, error) {
	defer cl.unlock()
	return cl.p.run(ctx, cl.company, cl.attempt, cl.a, nil)
}

// Release gives the lock back without running (the transaction failed).
func (cl *Claim) Release() { cl.unlock() }

type existing struct {
	project   openai.Project
	ambiguous int // how many candidates when more than one
}

// findExisting looks on OpenAI for an active project named exactly like the
// company, created since an uncertain attempt began, that no other company
// holds and no admin released (adopt.go).
func (p *Provisioner) findExisting(ctx context.Context, c dbgen.Company, since time.Time) (existing, error) {
	var candidates []openai.Project
	cutoff := since.Add(-p.settings.ClockSkew)
	err := p.projects.ListProjects(ctx, false, func(pr openai.Project) error {
		if pr.Name == c.Name && pr.Active() && !pr.CreatedAt.Before(cutoff) {
			candidates = append(candidates, pr)
		}
		return nil
	})
	if err != nil {
		return existing{}, err
	}
	free, err := p.unlinked(ctx, candidates)
	if err != nil {
		return existing{}, err
	}
	released, err := p.released(ctx, free)
	if err != nil {
		return existing{}, err
	}
	free = slices.DeleteFunc(free, func(pr openai.Project) bool { _, ok := released[pr.ID]; return ok })
	switch len(free) {
	case 0:
		return existing{}, nil
	case 1:
		return existing{project: free[0]}, nil
	}
	return existing{ambiguous: len(free)}, nil
}

// unlinked returns the projects among prs that no company holds.
func (p *Provisioner) unlinked(ctx context.Context, prs []openai.Project) ([]openai.Project, error) {
	var free []openai.Project
	for _, pr := range prs {
		_, err := p.q.GetCompanyByProjectID(ctx, &pr.ID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			free = append(free, pr)
		case err != nil:
			return nil, fmt.Errorf("look up project %s: %w", pr.ID, err)
		}
	}
	return free, nil
}

func (p *Provisioner) finishSuccess(ctx context.Context, c dbgen.Company, attempt dbgen.ProvisionAttempt, a Attempt, pr openai.Project, outcome Outcome) (Result, error) {
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		q := p.q.WithTx(tx)
		n, err := q.LinkCompanyProject(ctx, dbgen.LinkCompanyProjectParams{ID: c.ID, ProjectID: &pr.ID})
		if err != nil {
			return err
		}
		errText := ""
		if n == 0 {
			// Someone assigned an ID by hand meanwhile; ours is left over.
			errText = fmt.Sprintf("company already had a project ID; project %s is not linked", pr.ID)
		}
		if err := q.FinishAttempt(ctx, dbgen.FinishAttemptParams{
			ID: attempt.ID, Outcome: string(outcome), ProjectID: &pr.ID, Error: errText, OpenAIRequestID: pr.RequestID,
		}); err != nil {
			return err
		}
		if err := q.ResolveUncertainAttempts(ctx, dbgen.ResolveUncertainAttemptsParams{CompanyID: c.ID, KeepID: attempt.ID}); err != nil {
			return err
		}
		if n > 0 {
			if err := p.OnLinked(ctx, tx, c.ID, pr.ID); err != nil {
				return err
			}
		}
		if a.OnFinal != nil {
			return a.OnFinal(ctx, tx)
		}
		return nil
	})
	if err != nil {
		// The project exists on OpenAI but is not linked: the attempt row
		// still says 'started', so the next attempt will find and link it.
		return Result{}, fmt.Errorf("link project %s to company %d: %w", pr.ID, c.ID, err)
	}
	p.metrics.Attempt(string(outcome))
	return Result{Outcome: outcome, ProjectID: pr.ID}, nil
}

func (p *Provisioner) finishFailure(ctx context.Context, c dbgen.Company, attempt dbgen.ProvisionAttempt, a Attempt, callErr error) (Result, error) {
	oe, ok := openai.AsError(callErr)
	if !ok {
		// Not an OpenAI answer (e.g. our context ended): the request may
		// have gone out.
		oe = &openai.Error{Op: openai.EndpointCreate, Kind: openai.Transient, Uncertain: true, Err: callErr}
	}
	if oe.ProjectLimit {
		return p.finishAtLimit(ctx, c, attempt, a, oe)
	}
	res := Result{Err: oe}
	status, errText := StatusPending, oe.Error()
	switch {
	case oe.Kind == openai.Permanent:
		res.Outcome, status, errText = Failed, StatusFailed, oe.Reason()
	case oe.Uncertain:
		res.Outcome = Uncertain
	default:
		res.Outcome = Retryable
	}
	var next *time.Time
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		q := p.q.WithTx(tx)
		if !oe.Uncertain && oe.Op == openai.EndpointCreate {
			// OpenAI refused the create, so no project was made: its
			// place in the budget and the organization's count is free.
			// (First: the gate's lock comes before any row's.)
			if err := freeReservationTx(ctx, q, c.ID); err != nil {
				return err
			}
		}
		var httpStatus *int32
		if oe.StatusCode != 0 {
			s := int32(oe.StatusCode)
			httpStatus = &s
		}
		if err := q.FinishAttempt(ctx, dbgen.FinishAttemptParams{
			ID: attempt.ID, Outcome: string(res.Outcome), Error: oe.Error(),
			HTTPStatus: httpStatus, OpenAIRequestID: oe.RequestID,
		}); err != nil {
			return err
		}
		if !res.Outcome.Final() {
			tries := 1
			if a.JobID != nil {
				n, err := q.CountRetryableAttempts(ctx, dbgen.CountRetryableAttemptsParams{CompanyID: c.ID, JobID: a.JobID})
				if err != nil {
					return err
				}
				tries = int(n)
			}
			if tries >= p.settings.MaxAttempts {
				res.Outcome, status = Failed, StatusFailed
				errText = fmt.Sprintf("gave up after %d attempts: %s", tries, oe.Reason())
			} else {
				res.RetryAfter = openai.RetryDelay(tries, p.settings.BackoffBase, p.settings.BackoffMax, p.settings.SettleDelay, oe)
				t := p.now().Add(res.RetryAfter)
				next = &t
			}
		}
		if _, err := q.SetCompanyProvisioningStatus(ctx, dbgen.SetCompanyProvisioningStatusParams{
			ID: c.ID, Status: string(status), Error: errText, NextAttemptAt: next,
		}); err != nil {
			return err
		}
		if res.Outcome == Failed && p.onFailed != nil {
			if err := p.onFailed(ctx, tx, c.ID, errText); err != nil {
				return err
			}
		}
		if res.Outcome.Final() && a.OnFinal != nil {
			return a.OnFinal(ctx, tx)
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("record failed attempt for company %d: %w", c.ID, err)
	}
	p.metrics.Attempt(string(res.Outcome))
	return res, nil
}

func (p *Provisioner) recordSkipped(ctx context.Context, companyID int64, a Attempt, reason string) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		q := p.q.WithTx(tx)
		if _, err := q.CreateFinishedAttempt(ctx, dbgen.CreateFinishedAttemptParams{
			CompanyID: companyID, Trigger: a.Trigger, Actor: a.Actor, JobID: a.JobID,
			Outcome: string(Skipped), Error: reason,
		}); err != nil {
			return err
		}
		_, err := q.SetCompanyProvisioningStatus(ctx, dbgen.SetCompanyProvisioningStatusParams{
			ID: companyID, Status: string(StatusSkipped), Error: reason,
		})
		return err
	})
}

// lockNamespace keeps our advisory lock keys apart from other users of
// advisory locks (River, goose) in the same database.
const lockNamespace = int64(0x5052) << 48

// lock takes the company's advisory lock on a connection of its own, outside
// any transaction. If the process dies, PostgreSQL ends the session and the
// lock is released.
func (p *Provisioner) lock(ctx context.Context, companyID int64) (unlock func(), ok bool, err error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("provision company %d: acquire connection: %w", companyID, err)
	}
	release, ok, err := lockOn(ctx, conn, conn, companyID)
	if err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	return func() { release(); conn.Release() }, true, nil
}

// lockOn tries the company's session-level advisory lock on conn, querying
// through q (conn itself, or a transaction on it: the lock outlives the
// transaction either way). unlock releases it; if that fails, conn is closed
// so that the lock cannot linger in the pool.
func lockOn(ctx context.Context, conn *pgxpool.Conn, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, companyID int64) (unlock func(), ok bool, err error) {
	key := lockNamespace | companyID
	if err := q.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		return nil, false, fmt.Errorf("provision company %d: take lock: %w", companyID, err)
	}
	if !ok {
		return nil, false, nil
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			_ = conn.Conn().Close(ctx)
		}
	}, true, nil
}

// WithCompanyLock runs fn while holding the company's provisioning lock, so
// that a manual change never interleaves with an attempt. Returns
// ErrCompanyBusy if an attempt holds the lock.
func (p *Provisioner) WithCompanyLock(ctx context.Context, companyID int64, fn func() error) error {
	unlock, ok, err := p.lock(ctx, companyID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrCompanyBusy
	}
	defer unlock()
	return fn()
}

// ErrCompanyBusy is returned by WithCompanyLock while a provisioning attempt
// for the company is in progress.
var ErrCompanyBusy = errors.New("provision: a provisioning attempt for this company is in progress")
