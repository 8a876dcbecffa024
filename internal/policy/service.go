package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/openai"
)

// Audit actions of this package.
const (
	ActionSetTemplate    = "policy.set"
	ActionSetOverride    = "policy.override.set"
	ActionClearOverride  = "policy.override.clear"
	ActionReapply        = "policy.reapply"
	ActionReapplyDrifted = "policy.reapply_drifted"
	ActionOffboard       = "company.offboard"
	ActionResumeOffboard = "company.offboard.resume"
)

// States of a company's policy.
const (
	StatePending = "pending"
	StateApplied = "applied"
	StateDrifted = "drifted"
	StateFailed  = "failed"
)

// Errors returned by Service.
var (
	ErrCompanyNotFound = errors.New("policy: company not found")
	ErrNoProject       = errors.New("policy: the company has no OpenAI project")
	ErrDisabled        = errors.New("policy: guard rails are disabled (POLICY_ENABLED=false or no admin key)")
	ErrOffboarded      = errors.New("policy: the company is offboarded")
)

// Client is what the package needs of OpenAI: projects, their guard rails
// and their service accounts (offboarding revokes keys by deleting them).
type Client interface {
	openai.Projects
	openai.Guardrails
	ListServiceAccounts(ctx context.Context, projectID string, fn func(openai.ServiceAccount) error) error
	DeleteServiceAccount(ctx context.Context, projectID, serviceAccountID string) error
}

// Settings tune the package; see config.Config.
type Settings struct {
	// Enabled is POLICY_ENABLED.
	Enabled bool
	// MaxAttempts bounds the passing failures of one apply job.
	MaxAttempts int
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// ReconcileInterval is RECONCILE_INTERVAL; Autofix is RECONCILE_AUTOFIX.
	ReconcileInterval time.Duration
	Autofix           bool
	// ReconcileConcurrency is how many projects reconcile checks at once.
	ReconcileConcurrency int
	// SweepInterval is how often pending policies are turned into jobs.
	SweepInterval time.Duration
	// ReconcileChunk is how many companies one reconcile job checks (300:
	// at 100 requests/s and 5 calls each, about 15 s), so that a long
	// reconcile is never taken for a stuck job by River's rescuer.
	ReconcileChunk int
}

func (s Settings) withDefaults() Settings {
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 8
	}
	if s.BackoffBase <= 0 {
		s.BackoffBase = 2 * time.Second
	}
	if s.BackoffMax <= 0 {
		s.BackoffMax = 10 * time.Minute
	}
	if s.ReconcileInterval <= 0 {
		s.ReconcileInterval = 6 * time.Hour
	}
	if s.ReconcileConcurrency <= 0 {
		s.ReconcileConcurrency = 10
	}
	if s.ReconcileChunk <= 0 {
		s.ReconcileChunk = 300
	}
	if s.SweepInterval <= 0 {
		s.SweepInterval = 10 * time.Second
	}
	return s
}

// Service holds the policy, applies it, reconciles and offboards.
type Service struct {
	pool     *pgxpool.Pool
	q        *dbgen.Queries
	client   Client // nil when no admin key is configured
	river    *river.Client[pgx.Tx]
	settings Settings
	logger   *slog.Logger
	// revokeKeys, if set, revokes the company's stored keys (internal/keys)
	// before offboarding deletes whatever service accounts remain.
	revokeKeys func(ctx context.Context, companyID int64, actor audit.Actor) (int, error)
}

// New returns a Service. client may be nil (no admin key): nothing is then
// applied. The River client is set with SetRiver once built (its workers
// need the Service first).
func New(pool *pgxpool.Pool, client Client, s Settings, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{pool: pool, q: dbgen.New(pool), client: client, settings: s.withDefaults(), logger: logger}
}

// SetClient sets the OpenAI client, where it is built after the River
// client that runs this Service's workers (the shared test environment).
// Call it before any policy job can run.
func (s *Service) SetClient(c Client) { s.client = c }

// SetKeyRevoker sets how offboarding revokes the company's stored keys, so
// that the keys service marks them revoked (and says so in its history and
// webhooks) rather than only seeing their service accounts vanish.
func (s *Service) SetKeyRevoker(fn func(ctx context.Context, companyID int64, actor audit.Actor) (int, error)) {
	s.revokeKeys = fn
}

// SetRiver gives the Service the River client it enqueues jobs with.
func (s *Service) SetRiver(rc *river.Client[pgx.Tx]) { s.river = rc }

// Enabled reports whether policies are applied at all.
func (s *Service) Enabled() bool { return s.settings.Enabled && s.client != nil }

// Settings returns the settings in force.
func (s *Service) Settings() Settings { return s.settings }

// Version is one version of the template.
type Version struct {
	Number   int64 // 0: no template saved yet (an empty policy)
	Document Document
	Actor    string
	At       time.Time
}

// Template returns the policy template in force.
func (s *Service) Template(ctx context.Context) (Version, error) {
	return template(ctx, s.q)
}

func template(ctx context.Context, q *dbgen.Queries) (Version, error) {
	row, err := q.GetCurrentPolicy(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		return Version{}, nil
	}
	if err != nil {
		return Version{}, fmt.Errorf("load policy template: %w", err)
	}
	d, err := Parse(row.Document)
	if err != nil {
		return Version{}, fmt.Errorf("stored policy version %d: %w", row.Version, err)
	}
	return Version{Number: row.Version, Document: d, Actor: row.ActorEmail, At: row.CreatedAt}, nil
}

// Versions returns the latest versions, newest first.
func (s *Service) Versions(ctx context.Context, limit int) ([]Version, error) {
	rows, err := s.q.ListPolicyVersions(ctx, int32(limit))
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(rows))
	for _, r := range rows {
		d, _ := Parse(r.Document)
		out = append(out, Version{Number: r.Version, Document: d, Actor: r.ActorEmail, At: r.CreatedAt})
	}
	return out, nil
}

// SetTemplate saves d as the new version of the template, audited, and
// makes every company's policy pending so that it is applied again.
// Returns unchanged true (and saves nothing) when d equals the template.
func (s *Service) SetTemplate(ctx context.Context, d Document, by audit.Actor) (v Version, unchanged bool, err error) {
	doc, err := json.Marshal(d)
	if err != nil {
		return Version{}, false, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		// One writer at a time, so versions and audit entries agree.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", templateLockKey); err != nil {
			return err
		}
		cur, err := template(ctx, q)
		if err != nil {
			return err
		}
		before, _ := json.Marshal(cur.Document)
		if string(before) == string(doc) && cur.Number != 0 {
			v, unchanged = cur, true
			return nil
		}
		row, err := q.CreatePolicyVersion(ctx, dbgen.CreatePolicyVersionParams{Document: doc, ActorEmail: by.Email})
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, q, audit.Entry{
			Actor: by, Action: ActionSetTemplate, Before: string(before), After: string(doc),
			Detail: fmt.Sprintf("policy version %d", row.Version),
		}); err != nil {
			return err
		}
		if _, err := q.MarkPoliciesPending(ctx); err != nil {
			return err
		}
		v = Version{Number: row.Version, Document: d, Actor: by.Email, At: row.CreatedAt}
		return nil
	})
	if err != nil {
		return Version{}, false, fmt.Errorf("save policy template: %w", err)
	}
	return v, unchanged, nil
}

// templateLockKey serializes template writers (namespace "PT").
const templateLockKey = int64(0x5054) << 48

// Override returns the company's override; ok is false when it has none.
func (s *Service) Override(ctx context.Context, companyID int64) (d Document, ok bool, err error) {
	row, err := s.q.GetPolicyOverride(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Document{}, false, nil
	}
	if err != nil {
		return Document{}, false, err
	}
	d, err = Parse(row.Document)
	return d, err == nil, err
}

// SetOverride stores the company's override (an empty document clears
// it), audited, and makes its policy pending. Returns ErrCompanyNotFound.
func (s *Service) SetOverride(ctx context.Context, companyID int64, d Document, by audit.Actor) error {
	doc, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		c, err := q.GetCompanyForUpdate(ctx, companyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrCompanyNotFound
		}
		if err != nil {
			return err
		}
		before := ""
		if old, err := q.GetPolicyOverride(ctx, companyID); err == nil {
			before = string(old.Document)
		}
		action := ActionSetOverride
		if d.Empty() {
			action = ActionClearOverride
			if before == "" {
				return nil
			}
			if _, err := q.DeletePolicyOverride(ctx, companyID); err != nil {
				return err
			}
			doc = nil
		} else {
			if before == string(doc) {
				return nil
			}
			if _, err := q.UpsertPolicyOverride(ctx, dbgen.UpsertPolicyOverrideParams{CompanyID: companyID, Document: doc, ActorEmail: by.Email}); err != nil {
				return err
			}
		}
		if err := audit.Record(ctx, q, audit.Entry{
			Actor: by, Action: action, CompanyID: c.ID, CompanyName: c.Name, Before: before, After: string(doc),
		}); err != nil {
			return err
		}
		_, err = q.MarkPolicyPending(ctx, companyID)
		return err
	})
}

// Effective returns the company's effective policy: template + override.
func (s *Service) Effective(ctx context.Context, companyID int64) (Document, int64, error) {
	v, err := s.Template(ctx)
	if err != nil {
		return Document{}, 0, err
	}
	o, _, err := s.Override(ctx, companyID)
	if err != nil {
		return Document{}, 0, err
	}
	return Merge(v.Document, o), v.Number, nil
}

// Difference is one way a project differs from its company's policy.
type Difference struct {
	Field    string    `json:"field"`
	Expected string    `json:"expected"`
	Found    string    `json:"found"`
	Since    time.Time `json:"since"`
}

// Status is where a company's policy stands.
type Status struct {
	// State is StatePending, StateApplied, StateDrifted or StateFailed; ""
	// when the company has no project (nothing to apply to).
	State       string
	Error       string
	ProjectID   string
	AppliedAt   *time.Time
	CheckedAt   *time.Time
	NextAttempt *time.Time
	Differences []Difference
}

// Status returns the company's policy state and differences.
func (s *Service) Status(ctx context.Context, companyID int64) (Status, error) {
	row, err := s.q.GetCompanyPolicy(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	st := Status{State: row.State, Error: row.Error, ProjectID: row.ProjectID, AppliedAt: row.AppliedAt,
		CheckedAt: row.CheckedAt, NextAttempt: row.NextAttemptAt}
	diffs, err := s.q.ListPolicyDifferences(ctx, companyID)
	if err != nil {
		return Status{}, err
	}
	for _, d := range diffs {
		st.Differences = append(st.Differences, Difference{Field: d.Field, Expected: d.Expected, Found: d.Found, Since: d.Since})
	}
	return st, nil
}

// AttemptRecord is one row of a company's policy history.
type AttemptRecord struct {
	ID         int64
	Trigger    string
	Actor      string
	Version    int64
	StartedAt  time.Time
	FinishedAt *time.Time
	Outcome    string
	Error      string
	Calls      int
	Detail     string
}

// History returns the company's latest apply attempts, newest first.
func (s *Service) History(ctx context.Context, companyID int64) ([]AttemptRecord, error) {
	rows, err := s.q.ListPolicyAttempts(ctx, dbgen.ListPolicyAttemptsParams{CompanyID: companyID, MaxRows: 50})
	if err != nil {
		return nil, err
	}
	out := make([]AttemptRecord, len(rows))
	for i, r := range rows {
		out[i] = AttemptRecord{ID: r.ID, Trigger: r.Trigger, Actor: r.Actor, StartedAt: r.StartedAt,
			FinishedAt: r.FinishedAt, Outcome: r.Outcome, Error: r.Error, Calls: int(r.Calls), Detail: r.Detail}
		if r.Version != nil {
			out[i].Version = *r.Version
		}
	}
	return out, nil
}

// Counts are how many companies are in each policy state (offboarded
// ones excluded).
type Counts struct{ Pending, Applied, Drifted, Failed int64 }

// NotApplied is how many linked companies do not have their policy in place.
func (c Counts) NotApplied() int64 { return c.Pending + c.Drifted + c.Failed }

// Counts counts companies per policy state.
func (s *Service) Counts(ctx context.Context) (Counts, error) {
	rows, err := s.q.CountPolicyStates(ctx)
	if err != nil {
		return Counts{}, err
	}
	var c Counts
	for _, r := range rows {
		switch r.State {
		case StatePending:
			c.Pending = r.N
		case StateApplied:
			c.Applied = r.N
		case StateDrifted:
			c.Drifted = r.N
		case StateFailed:
			c.Failed = r.N
		}
	}
	return c, nil
}

// NotAppliedAtMost counts the linked companies whose policy is not in
// place, stopping at limit: more is true when there are more than limit.
// The list's totals read it on every full page, where Counts would read
// every linked company.
func (s *Service) NotAppliedAtMost(ctx context.Context, limit int) (n int64, more bool, err error) {
	n, err = s.q.CountPolicyNotAppliedCapped(ctx, int32(limit+1))
	if err != nil {
		return 0, false, err
	}
	if n > int64(limit) {
		return int64(limit), true, nil
	}
	return n, false, nil
}

// CompanyState is a company in a list of policy states.
type CompanyState struct {
	CompanyID int64
	Name      string
	State     string
	Error     string
	ProjectID string
	UpdatedAt time.Time
}

// ListByState lists companies whose policy is in one of states, most
// recently changed first.
func (s *Service) ListByState(ctx context.Context, limit int, states ...string) ([]CompanyState, error) {
	rows, err := s.q.ListCompaniesInPolicyState(ctx, dbgen.ListCompaniesInPolicyStateParams{States: states, MaxRows: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]CompanyState, len(rows))
	for i, r := range rows {
		out[i] = CompanyState{CompanyID: r.ID, Name: r.Name, State: r.State, Error: r.Error, ProjectID: r.ProjectID, UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}
