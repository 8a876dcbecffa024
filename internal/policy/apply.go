package policy

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
)

// Triggers of an apply, as the history shows them.
const (
	TriggerLinked   = "linked"   // the project was just linked (any path)
	TriggerRetry    = "retry"    // a retry of a failed try
	TriggerManual   = "manual"   // "Re-apply policy" by staff or the API
	TriggerDrifted  = "drifted"  // "Re-apply to all drifted"
	TriggerAutofix  = "autofix"  // reconcile found drift, RECONCILE_AUTOFIX
	TriggerTemplate = "template" // the template or an override changed
)

// Outcomes of an apply.
type Outcome string

const (
	// Applied: written and read back identical.
	Applied Outcome = "applied"
	// Repaired: the read-back showed the spend limit clobbered (the alert
	// trap); it was written again and then read back identical.
	Repaired Outcome = "repaired"
	// Retryable: a passing failure (429, 5xx, timeout); try again later.
	Retryable Outcome = "retryable"
	// Failed: OpenAI refused for good, the project is gone or archived, the
	// read-back still differs, or the attempts ran out.
	Failed Outcome = "failed"
	// Skipped: nothing to do (disabled, no project, offboarded).
	Skipped Outcome = "skipped"
	// Busy: another apply or offboarding step holds the company.
	Busy Outcome = "busy"
)

// Result is what one apply came to.
type Result struct {
	Outcome     Outcome
	Err         error
	RetryAfter  time.Duration
	Calls       int
	Differences []Difference // what still differs after a failed read-back
}

// Attempt says who asks for an apply.
type Attempt struct {
	Trigger string
	Actor   string
	JobID   *int64
}

// Apply writes the company's effective policy to its project, reads it
// back, repairs a clobbered spend limit, and records the try. The error is
// for database failures; OpenAI's are in Result.
func (s *Service) Apply(ctx context.Context, companyID int64, a Attempt) (Result, error) {
	ctx = governor.WithDefaultCall(ctx, governor.CallerPolicy, governor.Background)
	if !s.Enabled() {
		return Result{Outcome: Skipped}, nil
	}
	var res Result
	err := s.withLock(ctx, companyID, func() error {
		var err error
		res, err = s.applyLocked(ctx, companyID, a)
		return err
	})
	if errors.Is(err, errBusy) {
		return Result{Outcome: Busy, RetryAfter: 2 * time.Second}, nil
	}
	return res, err
}

func (s *Service) applyLocked(ctx context.Context, companyID int64, a Attempt) (Result, error) {
	c, err := s.q.GetCompany(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Result{}, ErrCompanyNotFound
	}
	if err != nil {
		return Result{}, err
	}
	if c.OpenAIProjectID == nil {
		return Result{Outcome: Skipped}, nil
	}
	if _, err := s.q.GetOffboarding(ctx, companyID); err == nil {
		return Result{Outcome: Skipped}, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return Result{}, err
	}
	state, err := s.q.GetCompanyPolicy(ctx, companyID)
	if err != nil {
		return Result{}, fmt.Errorf("policy state of company %d: %w", companyID, err)
	}
	projectID := *c.OpenAIProjectID
	doc, version, err := s.Effective(ctx, companyID)
	if err != nil {
		return Result{}, err
	}
	att, err := s.q.CreatePolicyAttempt(ctx, dbgen.CreatePolicyAttemptParams{
		CompanyID: companyID, ProjectID: projectID, Trigger: a.Trigger, Actor: a.Actor, JobID: a.JobID, Version: &version,
	})
	if err != nil {
		return Result{}, fmt.Errorf("record policy attempt: %w", err)
	}

	var n atomic.Int64
	cl := counting{Client: s.client, n: &n}
	wantName := state.ProjectName
	outcome, diffs, name, callErr := apply(ctx, cl, projectID, wantName, doc)
	res := Result{Outcome: outcome, Calls: int(n.Load()), Differences: diffs, Err: callErr}

	// What OpenAI said is booked even if ctx ended meanwhile.
	bookCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	return s.book(bookCtx, companyID, projectID, att, a, version, name, res)
}

// apply carries out the writes and the read-back. It returns the outcome,
// the differences left, the project's name (for the rename check) and
// OpenAI's error, if any.
func apply(ctx context.Context, c Client, projectID, wantName string, d Document) (Outcome, []Difference, string, error) {
	o, err := read(ctx, c, projectID, wantName, d)
	if err != nil {
		return classify(err), nil, "", err
	}
	if o.missing || !o.project.Active() {
		return Failed, o.diffs, "", nil
	}
	name := o.project.Name
	if wantName == "" {
		wantName = name
	}
	if len(o.diffs) == 0 {
		return Applied, nil, wantName, nil
	}
	if err := write(ctx, c, projectID, wantName, d, o); err != nil {
		return classify(err), nil, wantName, err
	}
	after, err := read(ctx, c, projectID, wantName, d)
	if err != nil {
		return classify(err), nil, wantName, err
	}
	outcome := Applied
	// The trap: writing alerts may have overwritten the limit and turned its
	// enforcement off. Write it again and look once more.
	for round := 0; round < 2 && clobbered(after.diffs) && d.SpendLimitCents != nil; round++ {
		if _, err := c.SetSpendLimit(ctx, projectID, *d.SpendLimitCents); err != nil {
			return classify(err), nil, wantName, err
		}
		if after, err = read(ctx, c, projectID, wantName, d); err != nil {
			return classify(err), nil, wantName, err
		}
		outcome = Repaired
	}
	if len(after.diffs) > 0 {
		return Failed, after.diffs, wantName, nil
	}
	return outcome, nil, wantName, nil
}

// clobbered reports whether only the spend limit differs.
func clobbered(diffs []Difference) bool {
	if len(diffs) == 0 {
		return false
	}
	for _, d := range diffs {
		if d.Field != FieldSpendLimit && d.Field != FieldEnforcement {
			return false
		}
	}
	return true
}

// write changes what o found different. The spend limit goes last: an
// alert written after it could clobber it.
func write(ctx context.Context, c Client, projectID, wantName string, d Document, o observed) error {
	differs := func(prefix string) bool {
		return slices.ContainsFunc(o.diffs, func(x Difference) bool { return strings.HasPrefix(x.Field, prefix) })
	}
	if differs(FieldName) {
		if _, err := c.RenameProject(ctx, projectID, wantName); err != nil {
			return err
		}
	}
	if differs(FieldModels) {
		if _, err := c.SetModelPermissions(ctx, projectID, openai.ModelPermissions{Mode: openai.ModeAllowList, ModelIDs: d.AllowedModels}); err != nil {
			return err
		}
	}
	if differs("rate_limits.") {
		if err := writeRateLimits(ctx, c, projectID, d.RateLimits); err != nil {
			return err
		}
	}
	if differs(FieldAlerts) {
		if err := writeAlerts(ctx, c, projectID, d.Alerts); err != nil {
			return err
		}
	}
	// Not re-written just because alerts were: if an alert clobbers it, the
	// read-back sees it and apply repairs it, and the history says so.
	if d.SpendLimitCents != nil && differs(FieldSpendLimit) {
		if _, err := c.SetSpendLimit(ctx, projectID, *d.SpendLimitCents); err != nil {
			return err
		}
	}
	return nil
}

// errNoRow is a policy naming a model the project has no rate-limit row
// for: there is no create, so it cannot be fixed by retrying.
type errNoRow struct{ model string }

func (e errNoRow) Error() string {
	return fmt.Sprintf("the project has no rate-limit row for model %q (OpenAI has no create; remove the model from the policy)", e.model)
}

func writeRateLimits(ctx context.Context, c Client, projectID string, want map[string]RateLimit) error {
	rows, err := c.ListRateLimits(ctx, projectID)
	if err != nil {
		return err
	}
	for model, rl := range want {
		i := slices.IndexFunc(rows, func(r openai.RateLimit) bool { return r.Model == model })
		if i < 0 {
			return errNoRow{model}
		}
		var u openai.RateLimitUpdate
		changed := false
		for f, v := range rl.Fields() {
			if rowField(rows[i], f) == v {
				continue
			}
			v := v
			changed = true
			switch f {
			case "max_requests_per_1_minute":
				u.MaxRequestsPer1Minute = &v
			case "max_tokens_per_1_minute":
				u.MaxTokensPer1Minute = &v
			case "max_images_per_1_minute":
				u.MaxImagesPer1Minute = &v
			case "max_audio_megabytes_per_1_minute":
				u.MaxAudioMegabytesPer1Minute = &v
			case "max_requests_per_1_day":
				u.MaxRequestsPer1Day = &v
			case "batch_1_day_max_input_tokens":
				u.Batch1DayMaxInputTokens = &v
			}
		}
		if changed {
			if _, err := c.UpdateRateLimit(ctx, projectID, rows[i].ID, u); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeAlerts makes the project's alerts exactly want, matching existing
// ones by threshold: matched ones are updated if their recipients differ,
// others deleted, missing ones created. Listing first makes a retried apply
// (after a lost answer to a create) find the alert instead of doubling it.
func writeAlerts(ctx context.Context, c Client, projectID string, want []Alert) error {
	have, err := c.ListSpendAlerts(ctx, projectID)
	if err != nil {
		return err
	}
	matched := make([]bool, len(want))
	for _, h := range have {
		i := slices.IndexFunc(want, func(a Alert) bool { return a.ThresholdCents == h.ThresholdCents })
		if i < 0 || matched[i] {
			if err := c.DeleteSpendAlert(ctx, projectID, h.ID); err != nil {
				return err
			}
			continue
		}
		matched[i] = true
		if !slices.Equal(NormalizeRecipients(h.Recipients), want[i].Recipients) {
			if _, err := c.UpdateSpendAlert(ctx, projectID, h.ID, want[i].ThresholdCents, want[i].Recipients); err != nil {
				return err
			}
		}
	}
	for i, a := range want {
		if !matched[i] {
			if _, err := c.CreateSpendAlert(ctx, projectID, a.ThresholdCents, a.Recipients); err != nil {
				return err
			}
		}
	}
	return nil
}

func classify(err error) Outcome {
	if openai.IsTransient(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Retryable
	}
	return Failed
}

// book records the try's outcome, the company's policy state and the
// differences left, in one transaction.
func (s *Service) book(ctx context.Context, companyID int64, projectID string, att dbgen.PolicyAttempt, a Attempt, version int64, name string, res Result) (Result, error) {
	errText, detail := "", ""
	if res.Err != nil {
		if oe, ok := openai.AsError(res.Err); ok {
			errText = oe.Error()
		} else {
			errText = res.Err.Error()
		}
	}
	if len(res.Differences) > 0 {
		parts := make([]string, len(res.Differences))
		for i, d := range res.Differences {
			parts[i] = fmt.Sprintf("%s: expected %s, found %s", d.Field, d.Expected, d.Found)
		}
		detail = strings.Join(parts, "; ")
		if errText == "" {
			errText = "read back differs from the policy: " + detail
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		state := StateApplied
		var next *time.Time
		if res.Outcome == Retryable {
			tries := 1
			if a.JobID != nil {
				n, err := q.CountPolicyAttemptsForJob(ctx, dbgen.CountPolicyAttemptsForJobParams{CompanyID: companyID, JobID: a.JobID})
				if err != nil {
					return err
				}
				tries = int(n)
			}
			if tries >= s.settings.MaxAttempts {
				res.Outcome = Failed
				errText = fmt.Sprintf("gave up after %d attempts: %s", tries, errText)
			} else {
				res.RetryAfter = s.delay(tries, res.Err)
				t := time.Now().Add(res.RetryAfter)
				next = &t
				state = StatePending
			}
		}
		if res.Outcome == Failed {
			state = StateFailed
		}
		if err := q.FinishPolicyAttempt(ctx, dbgen.FinishPolicyAttemptParams{
			ID: att.ID, Outcome: string(res.Outcome), Error: errText, Calls: int32(res.Calls), Detail: detail,
		}); err != nil {
			return err
		}
		var applied *int64
		if state == StateApplied {
			applied = &version
		}
		if _, err := q.SetPolicyState(ctx, dbgen.SetPolicyStateParams{
			CompanyID: companyID, ProjectID: projectID, State: state, Error: errText, NextAttemptAt: next,
			AppliedVersion: applied, ProjectName: name, Checked: state != StatePending,
		}); err != nil {
			return err
		}
		if state == StatePending {
			return nil // the differences are not known
		}
		return storeDifferences(ctx, q, companyID, res.Differences)
	})
	if err != nil {
		return Result{}, fmt.Errorf("record policy attempt for company %d: %w", companyID, err)
	}
	return res, nil
}

// storeDifferences makes the company's recorded differences exactly diffs,
// keeping "since" for those already known.
func storeDifferences(ctx context.Context, q *dbgen.Queries, companyID int64, diffs []Difference) error {
	keep := make([]string, 0, len(diffs))
	for _, d := range diffs {
		keep = append(keep, d.Field)
		if err := q.UpsertPolicyDifference(ctx, dbgen.UpsertPolicyDifferenceParams{
			CompanyID: companyID, Field: d.Field, Expected: d.Expected, Found: d.Found,
		}); err != nil {
			return err
		}
	}
	return q.DeletePolicyDifferencesExcept(ctx, dbgen.DeletePolicyDifferencesExceptParams{CompanyID: companyID, Keep: keep})
}

// delay is exponential backoff with equal jitter, never shorter than a
// 429's Retry-After.
func (s *Service) delay(tries int, err error) time.Duration {
	d := s.settings.BackoffBase
	for i := 1; i < tries && d < s.settings.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.settings.BackoffMax)
	d = d/2 + rand.N(d/2+1)
	if oe, ok := openai.AsError(err); ok && oe.RetryAfter > d {
		d = oe.RetryAfter
	}
	return d
}

var errBusy = errors.New("policy: company busy")

// lockNamespace keeps the policy's advisory locks apart from provisioning's
// ("PR") and others ("PL").
const lockNamespace = int64(0x504C) << 48

// withLock runs fn holding the company's policy lock on a connection of its
// own (session-level, so a crash releases it). Returns errBusy if held.
func (s *Service) withLock(ctx context.Context, companyID int64, fn func() error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	key := lockNamespace | companyID
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return errBusy
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
			_ = conn.Conn().Close(uctx)
		}
	}()
	return fn()
}
