package keys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/openai"
)

// Key is a company key's metadata, never its value.
type Key struct {
	ID               string // OpenAI's key ID (key_…)
	ServiceAccountID string
	ProjectID        string
	RedactedValue    string
	State            string // current, retiring, deleted
	Revoked          bool
	CreatedAt        time.Time
	ExpiresAt        time.Time  // when the scheduled rotation replaces it
	RetireAt         *time.Time // for a retiring key: when it is deleted
	DeletedAt        *time.Time
	LastUsedAt       *time.Time
}

// Status is the key step's state for a company.
type Status struct {
	State         string // "", pending, issued, failed, revoked
	Error         string
	NextAttemptAt *time.Time
}

// ErrNoKey is returned when the company has no current key.
var ErrNoKey = errors.New("keys: the company has no key")

func fromRow(r dbgen.CompanyKey) Key {
	return Key{
		ID: r.OpenAIKeyID, ServiceAccountID: r.ServiceAccountID, ProjectID: r.ProjectID, RedactedValue: r.RedactedValue,
		State: r.State, Revoked: r.Revoked, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, RetireAt: r.RetireAt,
		DeletedAt: r.DeletedAt, LastUsedAt: r.LastUsedAt,
	}
}

// Current returns the company's current key. Returns ErrNoKey.
func (s *Service) Current(ctx context.Context, companyID int64) (Key, error) {
	r, err := s.q.GetCurrentCompanyKey(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Key{}, ErrNoKey
	}
	if err != nil {
		return Key{}, fmt.Errorf("key of company %d: %w", companyID, err)
	}
	return fromRow(r), nil
}

// List returns every key the company has had, newest first.
func (s *Service) List(ctx context.Context, companyID int64) ([]Key, error) {
	rows, err := s.q.ListCompanyKeys(ctx, companyID)
	if err != nil {
		return nil, fmt.Errorf("keys of company %d: %w", companyID, err)
	}
	out := make([]Key, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// StatusOf returns the key step's state for the company.
func (s *Service) StatusOf(ctx context.Context, companyID int64) (Status, error) {
	r, err := s.q.GetKeyStatus(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("key status of company %d: %w", companyID, err)
	}
	return Status{State: r.Status, Error: r.Error, NextAttemptAt: r.NextAttemptAt}, nil
}

// Attempt history row.
type AttemptRow struct {
	ID               int64
	Trigger, Actor   string
	StartedAt        time.Time
	FinishedAt       *time.Time
	Outcome          string
	ServiceAccountID string
	OrphansDeleted   int
	Error            string
}

// History returns the company's latest key attempts, newest first.
func (s *Service) History(ctx context.Context, companyID int64, n int) ([]AttemptRow, error) {
	rows, err := s.q.ListCompanyKeyAttempts(ctx, dbgen.ListCompanyKeyAttemptsParams{CompanyID: companyID, MaxRows: int32(n)})
	if err != nil {
		return nil, fmt.Errorf("key attempts of company %d: %w", companyID, err)
	}
	out := make([]AttemptRow, len(rows))
	for i, r := range rows {
		out[i] = AttemptRow{ID: r.ID, Trigger: r.Trigger, Actor: r.Actor, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
			Outcome: r.Outcome, OrphansDeleted: int(r.OrphansDeleted), Error: r.Error}
		if r.ServiceAccountID != nil {
			out[i].ServiceAccountID = *r.ServiceAccountID
		}
	}
	return out, nil
}

// Reveal returns the company's current key with its value, and records in
// the audit log that actor (e.g. a service token's name) read it; the
// value itself is never recorded. Returns ErrNoKey.
func (s *Service) Reveal(ctx context.Context, companyID int64, actor audit.Actor) (Key, openai.Secret, error) {
	var (
		k     Key
		value openai.Secret
	)
	if s.ks == nil {
		return Key{}, openai.Secret{}, ErrDisabled
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		r, err := q.GetCurrentCompanyKey(ctx, companyID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoKey
		}
		if err != nil {
			return err
		}
		pt, err := s.ks.Open(r.Ciphertext, r.CompanyID, r.OpenAIKeyID)
		if err != nil {
			return fmt.Errorf("key %s of company %d: %w", r.OpenAIKeyID, companyID, err)
		}
		k, value = fromRow(r), openai.NewSecret(string(pt))
		return audit.Record(ctx, q, audit.Entry{
			Actor: actor, Action: ActionKeyRead, CompanyID: companyID, After: r.OpenAIKeyID,
			Detail: "key value read by " + actor.Email,
		})
	})
	if errors.Is(err, ErrNoKey) {
		return Key{}, openai.Secret{}, ErrNoKey
	}
	if err != nil {
		return Key{}, openai.Secret{}, fmt.Errorf("reveal key of company %d: %w", companyID, err)
	}
	return k, value, nil
}

// ErrBusy is returned by Revoke while a key attempt holds the company.
var ErrBusy = errors.New("keys: a key attempt for this company is in progress")

// Revoke deletes every live service account of the company on OpenAI at
// once (its current key and any retiring one) and marks the keys revoked.
// No key is issued again until someone rotates (issues) one by hand.
// Returns ErrNoKey if there was nothing to revoke, ErrBusy.
func (s *Service) Revoke(ctx context.Context, companyID int64, actor audit.Actor) (int, error) {
	ctx = governor.WithDefaultCall(ctx, governor.CallerKeys, governor.Background)
	if !s.Enabled() {
		return 0, ErrDisabled
	}
	unlock, ok, err := s.lock(ctx, companyID)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, ErrBusy
	}
	defer unlock()
	c, err := s.q.GetCompany(ctx, companyID)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrCompanyNotFound
	}
	if err != nil {
		return 0, err
	}
	live, err := s.q.ListLiveCompanyKeys(ctx, companyID)
	if err != nil {
		return 0, err
	}
	if len(live) == 0 {
		return 0, ErrNoKey
	}
	n := 0
	for _, k := range live {
		if err := s.accounts.DeleteServiceAccount(ctx, k.ProjectID, k.ServiceAccountID); err != nil {
			if oe, ok := openai.AsError(err); !ok || !oe.NotFound() {
				return n, fmt.Errorf("revoke key %s: %w", k.OpenAIKeyID, err)
			}
		}
		now := s.Now()
		err := pgx.BeginFunc(context.WithoutCancel(ctx), s.pool, func(tx pgx.Tx) error {
			q := s.q.WithTx(tx)
			if err := q.MarkCompanyKeyDeleted(ctx, dbgen.MarkCompanyKeyDeletedParams{ID: k.ID, DeletedAt: &now, Revoked: true}); err != nil {
				return err
			}
			if err := q.UpsertKeyStatus(ctx, dbgen.UpsertKeyStatusParams{CompanyID: companyID, Status: "revoked", Error: "revoked by " + actor.Email}); err != nil {
				return err
			}
			if err := audit.Record(ctx, q, audit.Entry{
				Actor: actor, Action: ActionKeyRevoke, CompanyID: companyID, CompanyName: c.Name, Before: k.OpenAIKeyID,
				Detail: "service account " + k.ServiceAccountID + " deleted on OpenAI",
			}); err != nil {
				return err
			}
			return s.event(ctx, tx, EventKeyRevoked, companyID, map[string]any{"key_id": k.OpenAIKeyID})
		})
		if err != nil {
			return n, fmt.Errorf("record revocation of key %s: %w", k.OpenAIKeyID, err)
		}
		n++
	}
	return n, nil
}

// ErrDisabled is returned when keys are disabled.
var ErrDisabled = errors.New("keys: keys are disabled (KEYS_ENABLED=false or no admin key)")

// RetireDue deletes on OpenAI the service accounts of retiring keys whose
// grace period has ended, by the service's clock. A failed delete stays
// for the next run. Returns how many were deleted.
func (s *Service) RetireDue(ctx context.Context) (int, error) {
	if !s.Enabled() {
		return 0, nil
	}
	rows, err := s.q.ListKeysToRetire(ctx, dbgen.ListKeysToRetireParams{Now: ptr(s.Now()), MaxRows: 500})
	if err != nil {
		return 0, err
	}
	n := 0
	var firstErr error
	for _, k := range rows {
		if err := s.accounts.DeleteServiceAccount(ctx, k.ProjectID, k.ServiceAccountID); err != nil {
			if oe, ok := openai.AsError(err); !ok || !oe.NotFound() {
				if firstErr == nil {
					firstErr = fmt.Errorf("retire key %s: %w", k.OpenAIKeyID, err)
				}
				continue
			}
		}
		now := s.Now()
		err := pgx.BeginFunc(context.WithoutCancel(ctx), s.pool, func(tx pgx.Tx) error {
			q := s.q.WithTx(tx)
			if err := q.MarkCompanyKeyDeleted(ctx, dbgen.MarkCompanyKeyDeletedParams{ID: k.ID, DeletedAt: &now}); err != nil {
				return err
			}
			return audit.Record(ctx, q, audit.Entry{
				Actor: audit.Actor{Email: "system (rotation)"}, Action: ActionKeyRetired, CompanyID: k.CompanyID, Before: k.OpenAIKeyID,
				Detail: "grace period over; service account " + k.ServiceAccountID + " deleted on OpenAI",
			})
		})
		if err != nil {
			return n, err
		}
		n++
	}
	return n, firstErr
}

// DueForRotation returns the companies whose current key is older than the
// rotation period, by the service's clock.
func (s *Service) DueForRotation(ctx context.Context, max int) ([]int64, error) {
	rows, err := s.q.ListKeysDueForRotation(ctx, dbgen.ListKeysDueForRotationParams{Now: s.Now(), MaxRows: int32(max)})
	if err != nil {
		return nil, err
	}
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.CompanyID
	}
	return out, nil
}

// RefreshUsage reads the project's keys from OpenAI and records their
// redacted value and last use for the company's live keys.
func (s *Service) RefreshUsage(ctx context.Context, companyID int64) error {
	if !s.Enabled() {
		return nil
	}
	live, err := s.q.ListLiveCompanyKeys(ctx, companyID)
	if err != nil || len(live) == 0 {
		return err
	}
	byKey := map[string]dbgen.CompanyKey{}
	projects := map[string]bool{}
	for _, k := range live {
		byKey[k.OpenAIKeyID] = k
		projects[k.ProjectID] = true
	}
	for pid := range projects {
		err := s.accounts.ListAPIKeys(ctx, pid, func(ak openai.APIKey) error {
			k, ok := byKey[ak.ID]
			if !ok {
				return nil
			}
			return s.q.UpdateCompanyKeyUsage(ctx, dbgen.UpdateCompanyKeyUsageParams{ID: k.ID, RedactedValue: ak.RedactedValue, LastUsedAt: ak.LastUsedAt})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Reencrypt re-seals every stored value that is not under the keyset's
// primary key (after a keyset rotation). Returns how many it re-sealed and
// how many were already current.
func (s *Service) Reencrypt(ctx context.Context) (resealed, current int, err error) {
	var after int64
	for {
		rows, err := s.q.ListKeyCiphertexts(ctx, dbgen.ListKeyCiphertextsParams{AfterID: after, MaxRows: 500})
		if err != nil {
			return resealed, current, err
		}
		if len(rows) == 0 {
			break
		}
		for _, r := range rows {
			after = r.ID
			if s.ks.UnderPrimary(r.Ciphertext) {
				current++
				continue
			}
			pt, err := s.ks.Open(r.Ciphertext, r.CompanyID, r.OpenAIKeyID)
			if err != nil {
				return resealed, current, fmt.Errorf("key %s of company %d: %w", r.OpenAIKeyID, r.CompanyID, err)
			}
			ct, err := s.ks.Seal(pt, r.CompanyID, r.OpenAIKeyID)
			if err != nil {
				return resealed, current, err
			}
			if err := s.q.UpdateKeyCiphertext(ctx, dbgen.UpdateKeyCiphertextParams{ID: r.ID, Ciphertext: ct}); err != nil {
				return resealed, current, err
			}
			resealed++
		}
	}
	return resealed, current, nil
}
