package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
)

// Outcome is what one call to Issue or Rotate came to.
type Outcome string

const (
	// Created: a new service account and key were created and stored.
	Created Outcome = "created"
	// AlreadyIssued: the company has a current key; nothing was done.
	AlreadyIssued Outcome = "already_issued"
	// NoProject: the company has no project yet; its linking will enqueue
	// the key step.
	NoProject Outcome = "no_project"
	// Skipped: keys are disabled.
	Skipped Outcome = "skipped"
	// Retryable: a passing failure; try again after Result.RetryAfter.
	Retryable Outcome = "retryable"
	// Uncertain: a service account may have been created; the next attempt
	// deletes it (its key is lost) before creating another.
	Uncertain Outcome = "uncertain"
	// Failed: OpenAI refused for good, or the attempts ran out.
	Failed Outcome = "failed"
	// Busy: another key attempt for the company is in progress.
	Busy Outcome = "busy"
	// Waiting: an earlier failure asked for a pause that has not passed.
	Waiting Outcome = "waiting"
)

// Final reports whether the outcome needs no further attempt.
func (o Outcome) Final() bool {
	switch o {
	case Created, AlreadyIssued, NoProject, Skipped, Failed:
		return true
	}
	return false
}

// Result is the outcome of Issue or Rotate.
type Result struct {
	Outcome Outcome
	// KeyID is the OpenAI key ID of the company's current key.
	KeyID string
	// Orphans is how many lost service accounts of ours were deleted first.
	Orphans    int
	Err        error
	RetryAfter time.Duration
}

// Attempt says who asks for a key attempt.
type Attempt struct {
	Trigger string
	Actor   audit.Actor // staff or API token, for manual rotations
	JobID   *int64
}

// ErrCompanyNotFound is returned when the company does not exist.
var ErrCompanyNotFound = errors.New("keys: company not found")

// Issue gives the company its key unless it has one. ctx bounds the wait
// for OpenAI; what OpenAI answered is booked even if ctx ends. The error is
// for database failures only.
func (s *Service) Issue(ctx context.Context, companyID int64, a Attempt) (Result, error) {
	return s.attempt(ctx, companyID, a, false)
}

// Rotate gives the company a new key; its current one (if any) turns
// retiring and is deleted on OpenAI after the grace period.
func (s *Service) Rotate(ctx context.Context, companyID int64, a Attempt) (Result, error) {
	return s.attempt(ctx, companyID, a, true)
}

func (s *Service) attempt(ctx context.Context, companyID int64, a Attempt, rotate bool) (Result, error) {
	ctx = governor.WithDefaultCall(ctx, governor.CallerKeys, governor.Background)
	if !s.Enabled() {
		return Result{Outcome: Skipped}, nil
	}
	unlock, ok, err := s.lock(ctx, companyID)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{Outcome: Busy, RetryAfter: s.s.LockWaitBusy}, nil
	}
	defer unlock()

	c, err := s.q.GetCompany(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Result{}, ErrCompanyNotFound
	}
	if err != nil {
		return Result{}, fmt.Errorf("key for company %d: %w", companyID, err)
	}
	if c.OpenAIProjectID == nil {
		return Result{Outcome: NoProject}, nil
	}
	projectID := *c.OpenAIProjectID
	cur, err := s.q.GetCurrentCompanyKey(ctx, companyID)
	hasCur := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Result{}, fmt.Errorf("key for company %d: %w", companyID, err)
	}
	if hasCur && cur.ProjectID != projectID {
		// The project was changed by hand: the key belongs to the old one.
		rotate = true
	}
	if hasCur && !rotate {
		return Result{Outcome: AlreadyIssued, KeyID: cur.OpenAIKeyID}, nil
	}
	if st, err := s.q.GetKeyStatus(ctx, companyID); err == nil && st.NextAttemptAt != nil {
		if wait := st.NextAttemptAt.Sub(s.Now()); wait > 0 && a.Trigger != TriggerManual {
			return Result{Outcome: Waiting, RetryAfter: wait}, nil
		}
	}

	since, err := s.q.OldestUncertainKeyAttemptStart(ctx, companyID)
	uncertain := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Result{}, fmt.Errorf("key for company %d: %w", companyID, err)
	}
	if uncertain {
		last, err := s.q.LastUncertainKeyAttempt(ctx, companyID)
		if err != nil {
			return Result{}, fmt.Errorf("key for company %d: %w", companyID, err)
		}
		if last.FinishedAt == nil {
			// A create cut off by a crash may still land at OpenAI.
			if wait := time.Until(last.StartedAt.Add(s.s.SettleDelay)); wait > 0 {
				return Result{Outcome: Waiting, RetryAfter: wait}, nil
			}
		}
	}

	attempt, err := s.q.CreateKeyAttempt(ctx, dbgen.CreateKeyAttemptParams{
		CompanyID: companyID, ProjectID: projectID, Trigger: a.Trigger, Actor: a.Actor.Email, JobID: a.JobID,
	})
	if err != nil {
		return Result{}, fmt.Errorf("key for company %d: record attempt: %w", companyID, err)
	}
	bookCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()

	orphans := 0
	if uncertain {
		orphans, err = s.deleteOrphans(ctx, projectID, since)
		if err != nil {
			return s.finishFailure(bookCtx, c, attempt, a, orphans, err)
		}
	}
	created, err := s.accounts.CreateServiceAccount(ctx, projectID, s.s.ServiceAccountName)
	if err != nil {
		return s.finishFailure(bookCtx, c, attempt, a, orphans, err)
	}
	var prev *dbgen.CompanyKey
	if hasCur && rotate {
		prev = &cur
	}
	return s.finishSuccess(bookCtx, c, attempt, a, orphans, created, prev)
}

// deleteOrphans deletes the project's service accounts named like ours,
// created since an uncertain attempt began (less the clock skew), that we
// hold no key of. Returns how many it deleted.
func (s *Service) deleteOrphans(ctx context.Context, projectID string, since time.Time) (int, error) {
	cutoff := since.Add(-s.s.ClockSkew)
	var candidates []openai.ServiceAccount
	err := s.accounts.ListServiceAccounts(ctx, projectID, func(sa openai.ServiceAccount) error {
		if sa.Name == s.s.ServiceAccountName && !sa.CreatedAt.Before(cutoff) {
			candidates = append(candidates, sa)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sa := range candidates {
		held, err := s.q.IsServiceAccountHeld(ctx, sa.ID)
		if err != nil {
			return n, fmt.Errorf("look up service account %s: %w", sa.ID, err)
		}
		if held {
			continue
		}
		if err := s.accounts.DeleteServiceAccount(ctx, projectID, sa.ID); err != nil {
			if oe, ok := openai.AsError(err); !ok || !oe.NotFound() {
				return n, err
			}
		}
		n++
	}
	return n, nil
}

func (s *Service) finishSuccess(ctx context.Context, c dbgen.Company, attempt dbgen.KeyAttempt, a Attempt, orphans int,
	created openai.CreatedServiceAccount, prev *dbgen.CompanyKey) (Result, error) {
	now := s.Now()
	ct, err := s.ks.Seal([]byte(created.KeyValue.Reveal()), c.ID, created.KeyID)
	if err == nil {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			q := s.q.WithTx(tx)
			if prev != nil {
				if _, err := q.RetireCompanyKey(ctx, dbgen.RetireCompanyKeyParams{ID: prev.ID, RetireAt: ptr(now.Add(s.s.Grace))}); err != nil {
					return err
				}
			}
			if _, err := q.InsertCompanyKey(ctx, dbgen.InsertCompanyKeyParams{
				CompanyID: c.ID, ProjectID: attempt.ProjectID, ServiceAccountID: created.ID, OpenAIKeyID: created.KeyID,
				RedactedValue: redact(created.KeyValue.Reveal()), Ciphertext: ct,
				CreatedAt: now, ExpiresAt: now.Add(s.s.Rotation),
			}); err != nil {
				return err
			}
			if err := q.FinishKeyAttempt(ctx, dbgen.FinishKeyAttemptParams{
				ID: attempt.ID, Outcome: string(Created), ServiceAccountID: &created.ID,
				OrphansDeleted: int32(orphans), OpenAIRequestID: created.RequestID,
			}); err != nil {
				return err
			}
			if err := q.ResolveUncertainKeyAttempts(ctx, dbgen.ResolveUncertainKeyAttemptsParams{CompanyID: c.ID, KeepID: attempt.ID}); err != nil {
				return err
			}
			if err := q.UpsertKeyStatus(ctx, dbgen.UpsertKeyStatusParams{CompanyID: c.ID, Status: "issued"}); err != nil {
				return err
			}
			action, event, detail := ActionKeyIssued, EventKeyCreated, "key "+created.KeyID
			data := map[string]any{"key_id": created.KeyID, "service_account_id": created.ID}
			if prev != nil {
				action, event = ActionKeyRotate, EventKeyRotated
				detail = fmt.Sprintf("key %s replaces %s (valid until %s)", created.KeyID, prev.OpenAIKeyID, now.Add(s.s.Grace).UTC().Format(time.RFC3339))
				data["previous_key_id"] = prev.OpenAIKeyID
				data["previous_key_expires_at"] = now.Add(s.s.Grace).UTC().Format(time.RFC3339)
			}
			if orphans > 0 {
				detail += fmt.Sprintf("; deleted %d lost service account(s) first", orphans)
			}
			actor := a.Actor
			if actor.Email == "" {
				actor.Email = "system (" + a.Trigger + ")"
			}
			if err := audit.Record(ctx, q, audit.Entry{
				Actor: actor, Action: action, CompanyID: c.ID, CompanyName: c.Name, After: created.KeyID, Detail: detail,
			}); err != nil {
				return err
			}
			return s.event(ctx, tx, event, c.ID, data)
		})
	}
	if err != nil {
		// We cannot keep the key: delete its account now rather than leave
		// a live key nobody holds. If that fails as well, the attempt row
		// still says "started" and the next attempt deletes it.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if derr := s.accounts.DeleteServiceAccount(dctx, attempt.ProjectID, created.ID); derr == nil {
			_ = s.q.FinishKeyAttempt(dctx, dbgen.FinishKeyAttemptParams{
				ID: attempt.ID, Outcome: string(Retryable), OrphansDeleted: int32(orphans),
				Error: "could not store the key; its service account was deleted",
			})
		}
		return Result{}, fmt.Errorf("store key of company %d: %w", c.ID, err)
	}
	s.logger.Info(fmt.Sprintf("✅ [Keys] OpenAI key %s issued for company %d", created.KeyID, c.ID))
	return Result{Outcome: Created, KeyID: created.KeyID, Orphans: orphans}, nil
}

func (s *Service) finishFailure(ctx context.Context, c dbgen.Company, attempt dbgen.KeyAttempt, a Attempt, orphans int, callErr error) (Result, error) {
	oe, ok := openai.AsError(callErr)
	if !ok {
		oe = &openai.Error{Op: openai.EndpointCreateServiceAccount, Kind: openai.Transient, Uncertain: true, Err: callErr}
	}
	res := Result{Err: oe, Orphans: orphans}
	status, errText := "pending", oe.Error()
	switch {
	case oe.Kind == openai.Permanent:
		res.Outcome, status, errText = Failed, "failed", oe.Reason()
	case oe.Uncertain:
		res.Outcome = Uncertain
	default:
		res.Outcome = Retryable
	}
	var next *time.Time
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		var httpStatus *int32
		if oe.StatusCode != 0 {
			v := int32(oe.StatusCode)
			httpStatus = &v
		}
		if err := q.FinishKeyAttempt(ctx, dbgen.FinishKeyAttemptParams{
			ID: attempt.ID, Outcome: string(res.Outcome), OrphansDeleted: int32(orphans), Error: oe.Error(),
			HTTPStatus: httpStatus, OpenAIRequestID: oe.RequestID,
		}); err != nil {
			return err
		}
		if !res.Outcome.Final() {
			tries := 1
			if a.JobID != nil {
				n, err := q.CountRetryableKeyAttempts(ctx, dbgen.CountRetryableKeyAttemptsParams{CompanyID: c.ID, JobID: a.JobID})
				if err != nil {
					return err
				}
				tries = int(n)
			}
			if tries >= s.s.MaxAttempts {
				res.Outcome, status = Failed, "failed"
				errText = fmt.Sprintf("gave up after %d attempts: %s", tries, oe.Reason())
			} else {
				res.RetryAfter = openai.RetryDelay(tries, s.s.BackoffBase, s.s.BackoffMax, s.s.SettleDelay, oe)
				t := s.Now().Add(res.RetryAfter)
				next = &t
			}
		}
		return q.UpsertKeyStatus(ctx, dbgen.UpsertKeyStatusParams{CompanyID: c.ID, Status: status, Error: errText, NextAttemptAt: next})
	})
	if err != nil {
		return Result{}, fmt.Errorf("record failed key attempt for company %d: %w", c.ID, err)
	}
	return res, nil
}

// keyLockNamespace keeps the key step's advisory locks apart from the
// project step's (0x5052 << 48) and from River's.
const keyLockNamespace = int64(0x4B45) << 48

// lock takes the company's key lock on a connection of its own.
func (s *Service) lock(ctx context.Context, companyID int64) (unlock func(), ok bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("key for company %d: acquire connection: %w", companyID, err)
	}
	key := keyLockNamespace | companyID
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("key for company %d: take lock: %w", companyID, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return func() { unlockOn(conn, key) }, true, nil
}

func unlockOn(conn *pgxpool.Conn, key int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", key); err != nil {
		_ = conn.Conn().Close(ctx)
	}
	conn.Release()
}

// redact shows a value the way OpenAI lists keys: "sk-svc...wxyz".
func redact(v string) string {
	if len(v) < 16 {
		return "sk-..."
	}
	return v[:6] + "..." + v[len(v)-4:]
}

func ptr[T any](v T) *T { return &v }
