// Package keys gives every company with an OpenAI project an API key of its
// own, exactly once, and keeps it: storage (encrypted), rotation, revocation.
//
// OpenAI has no "create key" call: creating a service account in a project
// returns its key's value, once. So issuing a key is a second provisioning
// step after the project, with the same rules as the first (see
// internal/provision):
//
//   - an advisory lock per company (its own namespace, so the key step and
//     the project step never wait for each other) on a dedicated
//     connection, outside any transaction;
//   - an attempt row (key_attempts) written before OpenAI is called;
//   - creates are never retried by the SDK; our retries back off like the
//     project step's and honour Retry-After;
//   - after any uncertain outcome (timeout, reset, lost or malformed answer,
//     5xx, crash), the next attempt lists the project's service accounts and
//     DELETES every one named like ours, created since that attempt began,
//     that we do not hold: its value is lost, so it can never be adopted.
//     Then it creates again. Hence, whatever the faults, a project ends with
//     exactly one live service account of ours and we hold its key;
//   - the value is sealed (internal/keystore) with the company and key IDs
//     as associated data and written with the attempt's outcome in one
//     transaction; if that transaction fails, the account just created is
//     deleted at once (and, should that fail too, the attempt row still
//     says "started", so the next attempt deletes it);
//   - no OpenAI call runs while a transaction is open.
//
// Rotation creates a new service account the same way; the old key turns
// "retiring" and stays valid for the grace period, after which its service
// account is deleted on OpenAI. Revocation deletes every live service
// account of the company at once.
//
// The value never appears in logs, errors, audit entries or job arguments:
// it travels as an openai.Secret, whose every printed form is "[redacted]".
package keys

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/keystore"
	"github.com/provisioner/provisioner/internal/openai"
)

// Triggers of key attempts, shown in the history.
const (
	TriggerProject  = "project" // the company's project was just linked
	TriggerBackfill = "backfill"
	TriggerRetry    = "retry"
	TriggerRotation = "rotation" // the scheduled rotation
	TriggerManual   = "manual"   // staff
	TriggerAPI      = "api"      // the host-app API
)

// Audit actions of the key step.
const (
	ActionKeyRead    = "key.read"
	ActionKeyRotate  = "key.rotate"
	ActionKeyRevoke  = "key.revoke"
	ActionKeyIssued  = "key.issued"
	ActionKeyRetired = "key.retired"
	ActionKeyReenc   = "key.reencrypt"
	ActionKeyBackfil = "key.backfill"
)

// Event types, for webhooks.
const (
	EventKeyCreated = "key.created"
	EventKeyRotated = "key.rotated"
	EventKeyRevoked = "key.revoked"
)

// EventFunc is told of a key event inside the transaction that records it
// (webhooks enqueue their delivery there). data never holds the value.
type EventFunc func(ctx context.Context, tx pgx.Tx, eventType string, companyID int64, data map[string]any) error

// Settings tune the key step.
type Settings struct {
	// ServiceAccountName is KEY_SERVICE_ACCOUNT_NAME.
	ServiceAccountName string
	// Rotation is the lifetime of a key before its scheduled rotation.
	Rotation time.Duration
	// Grace is how long a replaced key stays valid.
	Grace        time.Duration
	MaxAttempts  int
	BackoffBase  time.Duration
	BackoffMax   time.Duration
	SettleDelay  time.Duration
	ClockSkew    time.Duration
	LockWaitBusy time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.ServiceAccountName == "" {
		s.ServiceAccountName = "provisioner"
	}
	if s.Rotation <= 0 {
		s.Rotation = 90 * 24 * time.Hour
	}
	if s.Grace <= 0 {
		s.Grace = 24 * time.Hour
	}
	if s.MaxAttempts <= 0 {
		s.MaxAttempts = 10
	}
	if s.BackoffBase <= 0 {
		s.BackoffBase = 2 * time.Second
	}
	if s.BackoffMax <= 0 {
		s.BackoffMax = 10 * time.Minute
	}
	if s.ClockSkew <= 0 {
		s.ClockSkew = time.Minute
	}
	if s.LockWaitBusy <= 0 {
		s.LockWaitBusy = 2 * time.Second
	}
	return s
}

// Service issues, stores, rotates and revokes company keys.
type Service struct {
	pool     *pgxpool.Pool
	q        *dbgen.Queries
	accounts openai.ServiceAccounts // nil: keys are disabled
	ks       *keystore.Keystore
	s        Settings
	logger   *slog.Logger
	river    *river.Client[pgx.Tx]
	onEvent  EventFunc
	// Now is the clock; tests replace it to drive rotation and grace.
	Now func() time.Time
}

// New returns a Service. accounts nil means keys are disabled: Issue then
// answers Skipped and no job is enqueued.
func New(pool *pgxpool.Pool, accounts openai.ServiceAccounts, ks *keystore.Keystore, s Settings, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{pool: pool, q: dbgen.New(pool), accounts: accounts, ks: ks, s: s.withDefaults(), logger: logger, Now: time.Now}
}

// SetRiver gives the service the River client its jobs are inserted with
// (built after the service, since the client's workers need it).
func (s *Service) SetRiver(rc *river.Client[pgx.Tx]) { s.river = rc }

// SetOnEvent sets who is told of key events (webhooks).
func (s *Service) SetOnEvent(fn EventFunc) { s.onEvent = fn }

// Enabled reports whether keys are issued at all.
func (s *Service) Enabled() bool { return s.accounts != nil && s.ks != nil }

// Settings returns the settings in use.
func (s *Service) Settings() Settings { return s.s }

func (s *Service) event(ctx context.Context, tx pgx.Tx, typ string, companyID int64, data map[string]any) error {
	if s.onEvent == nil {
		return nil
	}
	return s.onEvent(ctx, tx, typ, companyID, data)
}
