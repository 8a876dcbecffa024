package company

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/provision"
)

// Service manages companies and their OpenAI projects.
type Service struct {
	pool   *pgxpool.Pool
	q      *dbgen.Queries
	river  *river.Client[pgx.Tx]
	prov   *provision.Provisioner
	logger *slog.Logger
	// signupTimeout bounds how long a signup waits for OpenAI.
	signupTimeout time.Duration
	// onCreated, if set, runs in the signup's transaction (webhooks).
	onCreated func(ctx context.Context, tx pgx.Tx, companyID int64) error
}

// SetOnCreated sets the hook run in the transaction that registers a
// company (the company.created webhook).
func (s *Service) SetOnCreated(fn func(ctx context.Context, tx pgx.Tx, companyID int64) error) {
	s.onCreated = fn
}

// NewService returns a Service. The River client may be insert-only.
func NewService(pool *pgxpool.Pool, rc *river.Client[pgx.Tx], prov *provision.Provisioner, signupTimeout time.Duration, logger *slog.Logger) *Service {
	return &Service{pool: pool, q: dbgen.New(pool), river: rc, prov: prov, logger: logger, signupTimeout: signupTimeout}
}

// SignupResult is what a signup produced.
type SignupResult struct {
	Company Company
	// Resubmitted is true when the form had already been submitted: the
	// company of the first submission is returned and nothing was created.
	Resubmitted bool
}

// signupMargin is how long after the signup's own attempt the safety-net job
// becomes due, so that the two never overlap.
const signupMargin = 2 * time.Second

// CreateCompanyFromSignup registers a company and gives it an OpenAI project.
//
// The company and its provisioning job are inserted in one transaction; the
// company is created whatever OpenAI does. Then, with no transaction open, the
// project is created within the signup timeout; if that does not succeed the
// job finishes the work in the background. A form submitted again returns
// the company of its first submission and creates nothing. Returns a
// ValidationError for bad input and ErrNameTaken if the name is registered
// in any letter case.
func (s *Service) CreateCompanyFromSignup(ctx context.Context, p SignupParams) (SignupResult, error) {
	p = p.Normalize()
	if err := p.Validate(); err != nil {
		return SignupResult{}, err
	}
	if p.Token != "" {
		if r, err := s.q.GetCompanyBySignupToken(ctx, &p.Token); err == nil {
			return SignupResult{Company: fromRow(r), Resubmitted: true}, nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return SignupResult{}, fmt.Errorf("signup %q: %w", p.Name, err)
		}
	}

	// One connection carries the signup: its transaction inserts the
	// company, the job and the attempt, and the company's provisioning lock
	// taken in it stays with the connection until the attempt is booked.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return SignupResult{}, fmt.Errorf("signup %q: %w", p.Name, err)
	}
	defer conn.Release()
	configured := s.prov.Configured()
	row, claim, err := s.insertSignup(ctx, conn, p, configured)
	switch {
	case db.IsUniqueViolation(err, "companies_name_lower_key"), db.IsUniqueViolation(err, "companies_name_key_key"):
		return SignupResult{}, ErrNameTaken
	case db.IsUniqueViolation(err, "company_external_ids_external_id_key"):
		return SignupResult{}, ErrExternalIDTaken
	case db.IsUniqueViolation(err, "companies_signup_token_key"):
		// The same form, submitted twice at once: the other request won.
		r, err := s.q.GetCompanyBySignupToken(ctx, &p.Token)
		if err != nil {
			return SignupResult{}, fmt.Errorf("signup %q: %w", p.Name, err)
		}
		return SignupResult{Company: fromRow(r), Resubmitted: true}, nil
	case err != nil:
		return SignupResult{}, fmt.Errorf("signup %q: %w", p.Name, err)
	}

	c := fromRow(row)
	if c.Status == StatusWaiting {
		s.logger.Warn(fmt.Sprintf("⏳ [Company Signup] OpenAI project for %s waits: %s", c.Name, c.LastError),
			slog.Int64("company_id", c.ID))
		return SignupResult{Company: c}, nil
	}
	if !configured {
		s.logger.Warn(fmt.Sprintf("⚠️ [Company Signup] OpenAI project creation skipped for %s", c.Name),
			slog.Int64("company_id", c.ID), slog.String("reason", "no OpenAI admin key configured"))
		return SignupResult{Company: c}, nil
	}
	if claim == nil {
		// Another attempt holds the brand-new company (a backfill got there
		// first): it, or the job, will finish.
		return SignupResult{Company: c}, nil
	}
	return s.provisionAfterSignup(ctx, c, claim)
}

// insertSignup inserts the company in one transaction on conn with, when an
// admin key is configured, its safety-net provisioning job and the claim of
// the signup's own attempt (nil when another attempt holds the company), or
// else its skipped attempt. On error nothing is committed and no claim is
// held.
func (s *Service) insertSignup(ctx context.Context, conn *pgxpool.Conn, p SignupParams, configured bool) (dbgen.Company, *provision.Claim, error) {
	var (
		row   dbgen.Company
		claim *provision.Claim
	)
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		status := StatusPending
		if !configured {
			status = StatusSkipped
		}
		var token *string
		if p.Token != "" {
			token = &p.Token
		}
		var err error
		row, err = q.CreateCompany(ctx, dbgen.CreateCompanyParams{
			Name: p.Name, Industry: p.Industry, ContactName: p.ContactName, ContactEmail: p.ContactEmail,
			Website: p.Website, CompanySize: p.Size, Country: p.Country, SignupToken: token,
			ProjectDescription: ProjectDescription(p.Name, p.Industry), ProvisioningStatus: string(status),
			NameKey: p.NameKey(),
		})
		if err != nil {
			return err
		}
		if s.onCreated != nil {
			if err := s.onCreated(ctx, tx, row.ID); err != nil {
				return err
			}
		}
		if p.ExternalID != "" {
			if err := q.InsertExternalID(ctx, dbgen.InsertExternalIDParams{CompanyID: row.ID, ExternalID: p.ExternalID}); err != nil {
				return err
			}
		}
		if s.prov.RequireApproval() {
			// Approval mode (approval.go): the company waits for staff,
			// with no job until a staff member approves it.
			row.Approval, row.Budgeted = ApprovalPending, true
			row.ProvisioningStatus, row.ProvisioningError = string(StatusWaiting), provision.ReasonApproval
			return q.SetCompanySignupGate(ctx, dbgen.SetCompanySignupGateParams{
				ID: row.ID, Approval: row.Approval, Budgeted: true, Status: row.ProvisioningStatus, Error: row.ProvisioningError,
			})
		}
		if !configured {
			// The seed's behaviour: no key, no project. A backfill after
			// a key is configured picks the company up.
			_, err := q.CreateFinishedAttempt(ctx, dbgen.CreateFinishedAttemptParams{
				CompanyID: row.ID, Trigger: provision.TriggerSignup, Outcome: string(provision.Skipped),
				Error: "no OpenAI admin key is configured",
			})
			return err
		}
		// A public signup's project counts against the signup budget and
		// must fit the organization's capacity (provision/gate.go).
		row.Budgeted = true
		if err := q.SetCompanySignupGate(ctx, dbgen.SetCompanySignupGateParams{
			ID: row.ID, Approval: ApprovalNone, Budgeted: true, Status: row.ProvisioningStatus,
		}); err != nil {
			return err
		}
		hold, err := s.prov.AdmitSignupTx(ctx, tx, row.ID)
		if err != nil {
			return err
		}
		// The safety net: if this process dies or OpenAI does not answer in
		// time, the job creates the project later.
		due := s.signupTimeout + signupMargin
		if hold != nil {
			// Held back: the job tries when the hold ends.
			until := hold.Until
			row.ProvisioningStatus, row.ProvisioningError, row.NextAttemptAt = string(StatusWaiting), hold.Reason, &until
			due = max(s.prov.Until(until), 0)
		}
		res, err := s.river.InsertTx(ctx, tx, provision.ProjectArgs{CompanyID: row.ID, Trigger: provision.TriggerSignup},
			&river.InsertOpts{ScheduledAt: time.Now().Add(due)})
		if err != nil {
			return fmt.Errorf("enqueue provisioning: %w", err)
		}
		if hold != nil {
			return nil
		}
		jobID := res.Job.ID
		claim, err = s.prov.ClaimTx(ctx, conn, tx, row, provision.Attempt{
			Trigger: provision.TriggerSignup, JobID: &jobID,
			// Once the outcome is final, the safety-net job has nothing
			// left to do: it goes in the same transaction.
			OnFinal: func(ctx context.Context, tx pgx.Tx) error {
				_, err := s.river.JobDeleteTx(ctx, tx, jobID)
				if errors.Is(err, river.ErrNotFound) {
					return nil
				}
				return err
			},
		})
		return err
	})
	if err != nil {
		if claim != nil {
			claim.Release()
		}
		return dbgen.Company{}, nil, err
	}
	return row, claim, nil
}

// provisionAfterSignup runs the signup's own attempt within the signup
// timeout and reports it in the seed's log lines.
func (s *Service) provisionAfterSignup(ctx context.Context, c Company, claim *provision.Claim) (SignupResult, error) {
	pctx, cancel := context.WithTimeout(ctx, s.signupTimeout)
	defer cancel()
	res, err := claim.Run(pctx)
	if err != nil {
		// The company and its job are committed: the job will retry.
		s.logger.Error(fmt.Sprintf("❌ [Company Signup] Failed to create OpenAI project for %s: %v", c.Name, err),
			slog.Int64("company_id", c.ID))
		return SignupResult{Company: c}, nil
	}
	log := s.logger.With(slog.Int64("company_id", c.ID), slog.String("outcome", string(res.Outcome)))
	switch res.Outcome {
	case provision.Created, provision.Linked, provision.AlreadyProvisioned:
		c.OpenAIProjectID, c.Status, c.LastError = res.ProjectID, StatusProvisioned, ""
		log.Info(fmt.Sprintf("✅ [Company Signup] OpenAI project created: %s for %s", res.ProjectID, c.Name))
	case provision.Failed:
		c.Status, c.LastError = StatusFailed, errText(res.Err)
		log.Error(fmt.Sprintf("❌ [Company Signup] Failed to create OpenAI project for %s: %v", c.Name, res.Err))
	case provision.Waiting:
		// Held back by a safeguard (OpenAI's project limit): the job
		// carries on when there is room.
		c.Status, c.LastError = StatusWaiting, provision.ReasonCapacity
		log.Error(fmt.Sprintf("❌ [Company Signup] Failed to create OpenAI project for %s: %v", c.Name, res.Err),
			slog.Duration("retry_after", res.RetryAfter), slog.String("next", "waits for room in the organization"))
	default: // retryable or uncertain: the job carries on
		c.Status, c.LastError = StatusPending, errText(res.Err)
		log.Error(fmt.Sprintf("❌ [Company Signup] Failed to create OpenAI project for %s: %v", c.Name, res.Err),
			slog.Duration("retry_after", res.RetryAfter), slog.String("next", "background job will retry"))
	}
	return SignupResult{Company: c}, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Get returns a company. Returns ErrNotFound if it does not exist.
func (s *Service) Get(ctx context.Context, id int64) (Company, error) {
	r, err := s.q.GetCompany(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Company{}, ErrNotFound
	}
	if err != nil {
		return Company{}, fmt.Errorf("get company %d: %w", id, err)
	}
	return fromRow(r), nil
}

// GetBySignupToken returns the company created by the signup form with this
// token. Returns ErrNotFound if there is none.
func (s *Service) GetBySignupToken(ctx context.Context, token string) (Company, error) {
	r, err := s.q.GetCompanyBySignupToken(ctx, &token)
	if errors.Is(err, pgx.ErrNoRows) {
		return Company{}, ErrNotFound
	}
	if err != nil {
		return Company{}, fmt.Errorf("get company by signup token: %w", err)
	}
	return fromRow(r), nil
}
