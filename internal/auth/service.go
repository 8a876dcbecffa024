package auth

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// Options configure a Service. Only Secret is required.
type Options struct {
	// Secret is SESSION_SECRET: the cookie's signing and encryption keys
	// are derived from it. At least MinSecretLen bytes.
	Secret string
	// Secure marks the cookie Secure (HTTPS only); on in production.
	Secure bool
	// SessionTTL is how long a login lasts; default 12h.
	SessionTTL time.Duration
	// Throttle defaults to DefaultThrottle.
	Throttle Throttle
	// Hash defaults to DefaultHashParams.
	Hash HashParams
	// Now defaults to time.Now; tests move the clock.
	Now func() time.Time
}

// MinSecretLen is the shortest session secret NewService accepts.
const MinSecretLen = 32

// DefaultSessionTTL is how long a login lasts unless Options say otherwise.
const DefaultSessionTTL = 12 * time.Hour

// Service manages staff accounts, logins and sessions.
type Service struct {
	pool     *pgxpool.Pool
	q        *dbgen.Queries
	store    *sessions.CookieStore
	cookie   string // the session cookie's name (CookieName or HostCookieName)
	csrfKey  []byte // keys CSRF tokens (csrf.go)
	ttl      time.Duration
	throttle Throttle
	hash     HashParams
	now      func() time.Time

	// dummyHash is compared against when the email is unknown, so that a
	// failed login takes as long whether or not the account exists.
	dummyOnce sync.Once
	dummyHash string
}

// NewService returns a Service on pool. Returns an error if the secret is
// too short.
func NewService(pool *pgxpool.Pool, o Options) (*Service, error) {
	if len(o.Secret) < MinSecretLen {
		return nil, fmt.Errorf("auth: session secret must be at least %d bytes", MinSecretLen)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Throttle == (Throttle{}) {
		o.Throttle = DefaultThrottle
	}
	if o.Hash == (HashParams{}) {
		o.Hash = DefaultHashParams
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	hashKey, err := hkdf.Key(sha256.New, []byte(o.Secret), nil, "provisioner session cookie hash key", 64)
	if err != nil {
		return nil, fmt.Errorf("auth: derive cookie keys: %w", err)
	}
	blockKey, err := hkdf.Key(sha256.New, []byte(o.Secret), nil, "provisioner session cookie block key", 32)
	if err != nil {
		return nil, fmt.Errorf("auth: derive cookie keys: %w", err)
	}
	csrfKey, err := hkdf.Key(sha256.New, []byte(o.Secret), nil, "provisioner csrf token key", 32)
	if err != nil {
		return nil, fmt.Errorf("auth: derive csrf key: %w", err)
	}
	store := sessions.NewCookieStore(hashKey, blockKey)
	store.MaxAge(int(o.SessionTTL / time.Second)) // also bounds the age the codec accepts
	store.Options.Path = "/"
	store.Options.HttpOnly = true
	store.Options.Secure = o.Secure
	store.Options.SameSite = http.SameSiteLaxMode
	cookie := CookieName
	if o.Secure {
		// __Host-: the browser takes the cookie only from a secure origin,
		// for Path=/ and without Domain, so no sibling subdomain or plain
		// HTTP page can set or overwrite it.
		cookie = HostCookieName
	}
	return &Service{
		pool: pool, q: dbgen.New(pool), store: store, cookie: cookie, csrfKey: csrfKey, ttl: o.SessionTTL,
		throttle: o.Throttle, hash: o.Hash, now: o.Now,
	}, nil
}

// CookieName is the name of the session cookie: HostCookieName when
// cookies are Secure (production), else the package's CookieName.
func (s *Service) CookieName() string { return s.cookie }

// CookieStore is the gorilla/sessions store for the session cookie, which
// carries only the session token and flash messages.
func (s *Service) CookieStore() sessions.Store { return s.store }

// CreateUser adds a staff user and records who did it. Returns a
// ValidationError for bad input and ErrEmailTaken if the email is in use
// in any letter case.
func (s *Service) CreateUser(ctx context.Context, actor audit.Actor, a NewAccount) (Account, error) {
	a = a.Normalize()
	if err := a.Validate(); err != nil {
		return Account{}, err
	}
	hash, err := HashPassword(a.Password, s.hash)
	if err != nil {
		return Account{}, err
	}
	var row dbgen.StaffUser
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		row, err = q.CreateStaffUser(ctx, dbgen.CreateStaffUserParams{Email: a.Email, PasswordHash: hash, Role: string(a.Role)})
		if err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Entry{
			Actor: actor, Action: audit.ActionStaffAdd, After: string(a.Role), Detail: a.Email,
		})
	})
	if db.IsUniqueViolation(err, "staff_users_email_key") {
		return Account{}, ErrEmailTaken
	}
	if err != nil {
		return Account{}, fmt.Errorf("create staff user %s: %w", a.Email, err)
	}
	return accountFromRow(row), nil
}

// CreateFirstAdmin creates an admin only if there are no staff users at
// all, and reports whether it did. Returns a ValidationError for bad input.
func (s *Service) CreateFirstAdmin(ctx context.Context, actor audit.Actor, email, password string) (bool, error) {
	a := NewAccount{Email: email, Role: RoleAdmin, Password: password}.Normalize()
	if n, err := s.q.CountStaffUsers(ctx); err != nil {
		return false, fmt.Errorf("count staff users: %w", err)
	} else if n > 0 {
		return false, nil
	}
	if err := a.Validate(); err != nil {
		return false, err
	}
	hash, err := HashPassword(a.Password, s.hash)
	if err != nil {
		return false, err
	}
	var created bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		// Serialise first-admin creation across processes: under READ
		// COMMITTED, racing "insert if none exists" would all succeed.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", firstAdminLock); err != nil {
			return err
		}
		n, err := q.CreateFirstStaffUser(ctx, dbgen.CreateFirstStaffUserParams{Email: a.Email, PasswordHash: hash, Role: string(RoleAdmin)})
		if err != nil || n == 0 {
			return err
		}
		created = true
		return audit.Record(ctx, q, audit.Entry{
			Actor: actor, Action: audit.ActionStaffAdd,
			After: string(RoleAdmin), Detail: a.Email,
		})
	})
	if db.IsUniqueViolation(err, "staff_users_email_key") { // another replica created it meanwhile
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create first admin %s: %w", a.Email, err)
	}
	return created, nil
}

// firstAdminLock is the advisory lock key that serialises CreateFirstAdmin.
const firstAdminLock = 7_283_002

// ListUsers returns every staff user, by email.
func (s *Service) ListUsers(ctx context.Context) ([]Account, error) {
	rows, err := s.q.ListStaffUsers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list staff users: %w", err)
	}
	out := make([]Account, len(rows))
	for i, r := range rows {
		out[i] = accountFromRow(r)
	}
	return out, nil
}

// GetUserByEmail returns the staff user with email, in any letter case.
// Returns ErrNotFound if there is none.
func (s *Service) GetUserByEmail(ctx context.Context, email string) (Account, error) {
	row, err := s.q.GetStaffUserByEmail(ctx, emailKey(email))
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, ErrNotFound
	}
	if err != nil {
		return Account{}, fmt.Errorf("get staff user %s: %w", email, err)
	}
	return accountFromRow(row), nil
}

// DisableUser disables the staff user id and revokes all their sessions
// at once, recording who did it. Returns ErrNotFound, ErrDisableSelf when
// actor is that user, ErrAlreadyDisabled (nothing changes) and
// ErrLastAdmin when id is the last active admin: disables are serialised
// in the database, so two admins disabling each other at the same moment
// leave one of them active.
func (s *Service) DisableUser(ctx context.Context, actor audit.Actor, id int64) (Account, error) {
	if actor.ID == id {
		return Account{}, ErrDisableSelf
	}
	var row dbgen.StaffUser
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		if err := q.LockStaffAdmins(ctx); err != nil {
			return err
		}
		var err error
		row, err = q.GetStaffUser(ctx, id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if row.Disabled {
			return ErrAlreadyDisabled
		}
		if Role(row.Role) == RoleAdmin {
			others, err := q.CountOtherActiveAdmins(ctx, id)
			if err != nil {
				return err
			}
			if others == 0 {
				return ErrLastAdmin
			}
		}
		if _, err := q.DisableStaffUser(ctx, id); err != nil {
			return err
		}
		row.Disabled = true
		revoked, err := q.RevokeStaffSessionsOfUser(ctx, dbgen.RevokeStaffSessionsOfUserParams{UserID: id, Now: s.now()})
		if err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Entry{
			Actor: actor, Action: audit.ActionStaffDisable, Before: "active", After: "disabled",
			Detail: fmt.Sprintf("%s (%s); %d session(s) ended", row.Email, row.Role, revoked),
		})
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyDisabled) || errors.Is(err, ErrLastAdmin) {
		return accountFromRow(row), err
	}
	if err != nil {
		return Account{}, fmt.Errorf("disable staff user %d: %w", id, err)
	}
	return accountFromRow(row), nil
}

func accountFromRow(r dbgen.StaffUser) Account {
	return Account{
		User:     User{ID: r.ID, Email: r.Email, Role: Role(r.Role)},
		Disabled: r.Disabled, CreatedAt: r.CreatedAt, LastLoginAt: r.LastLoginAt,
	}
}

// CountUsers returns how many staff users exist, disabled ones included.
func (s *Service) CountUsers(ctx context.Context) (int, error) {
	n, err := s.q.CountStaffUsers(ctx)
	if err != nil {
		return 0, fmt.Errorf("count staff users: %w", err)
	}
	return int(n), nil
}
