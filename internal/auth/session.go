package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/jackc/pgx/v5"

	"github.com/provisioner/provisioner/internal/db/dbgen"
)

// CookieName is the name of the session cookie outside production.
const CookieName = "provisioner_session"

// HostCookieName is the session cookie's name with Secure cookies: the
// __Host- prefix binds it to this exact host over HTTPS.
const HostCookieName = "__Host-provisioner_session"

// touchEvery is how stale a session's last_seen_at may get before a
// request updates it, so that browsing does not write on every click.
const touchEvery = time.Minute

// Login checks email and password for a client at addr and, when they
// match an enabled account, starts a session and returns its user and
// token (to be put in the cookie; only its hash is stored). Returns
// ErrBadCredentials for an unknown email, a wrong password or a disabled
// account alike, and a *ThrottledError, without checking the password,
// while this email has failed too often from addr, or addr has failed too
// often for any email (throttle.go). addr is the client address (or the
// network it is counted under).
func (s *Service) Login(ctx context.Context, email, password, addr string) (User, string, error) {
	key := emailKey(email)
	if err := s.checkThrottle(ctx, key, addr); err != nil {
		return User{}, "", err
	}
	if len(password) > MaxPasswordLen*4 { // bytes; never hash a huge body
		password = password[:MaxPasswordLen*4]
	}
	row, err := s.q.GetStaffUserByEmail(ctx, key)
	if errors.Is(err, pgx.ErrNoRows) {
		_, _ = VerifyPassword(password, s.dummy())
		return User{}, "", s.recordFailure(ctx, key, addr)
	}
	if err != nil {
		return User{}, "", fmt.Errorf("login %s: %w", key, err)
	}
	ok, err := VerifyPassword(password, row.PasswordHash)
	if err != nil {
		return User{}, "", fmt.Errorf("login %s: %w", key, err)
	}
	if !ok || row.Disabled {
		return User{}, "", s.recordFailure(ctx, key, addr)
	}

	token, tokenHash, err := newToken()
	if err != nil {
		return User{}, "", err
	}
	now := s.now()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		// Only this address's failures for the account: someone failing
		// from elsewhere keeps their backoff.
		if err := q.DeleteLoginFailuresByEmailAndIP(ctx, dbgen.DeleteLoginFailuresByEmailAndIPParams{Email: key, Addr: addr}); err != nil {
			return err
		}
		if err := q.SetStaffLastLogin(ctx, dbgen.SetStaffLastLoginParams{ID: row.ID, At: now}); err != nil {
			return err
		}
		if err := q.DeleteEndedStaffSessions(ctx, dbgen.DeleteEndedStaffSessionsParams{UserID: row.ID, Now: now}); err != nil {
			return err
		}
		return q.CreateStaffSession(ctx, dbgen.CreateStaffSessionParams{
			TokenHash: tokenHash, UserID: row.ID, Now: now, ExpiresAt: now.Add(s.ttl),
		})
	})
	if err != nil {
		return User{}, "", fmt.Errorf("start session for %s: %w", key, err)
	}
	return User{ID: row.ID, Email: row.Email, Role: Role(row.Role)}, token, nil
}

// Authenticate returns the user of the session token. Returns ErrNoSession
// if the session is unknown, revoked or expired, or the user is disabled.
func (s *Service) Authenticate(ctx context.Context, token string) (User, error) {
	if token == "" {
		return User{}, ErrNoSession
	}
	h := hashToken(token)
	now := s.now()
	row, err := s.q.GetLiveStaffSession(ctx, dbgen.GetLiveStaffSessionParams{TokenHash: h, Now: now})
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNoSession
	}
	if err != nil {
		return User{}, fmt.Errorf("look up session: %w", err)
	}
	if now.Sub(row.LastSeenAt) >= touchEvery {
		if err := s.q.TouchStaffSession(ctx, dbgen.TouchStaffSessionParams{TokenHash: h, Now: now}); err != nil {
			return User{}, fmt.Errorf("touch session: %w", err)
		}
	}
	return User{ID: row.ID, Email: row.Email, Role: Role(row.Role)}, nil
}

// Logout revokes the session token, so that the cookie no longer works
// even if a copy of it survives. An unknown token is not an error.
func (s *Service) Logout(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	if err := s.q.RevokeStaffSession(ctx, dbgen.RevokeStaffSessionParams{TokenHash: hashToken(token), Now: s.now()}); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// checkThrottle returns a *ThrottledError while the (key, addr) pair is
// in its backoff or addr is locked out (throttle.go).
func (s *Service) checkThrottle(ctx context.Context, key, addr string) error {
	now := s.now()
	since := now.Add(-s.throttle.Window)
	byPair, err := s.q.ListLoginFailuresByEmailAndIP(ctx, dbgen.ListLoginFailuresByEmailAndIPParams{
		Email: key, Addr: addr, Since: since, MaxRows: maxPairRows,
	})
	if err != nil {
		return fmt.Errorf("check login throttle: %w", err)
	}
	byAddr, err := s.q.ListLoginFailuresByIP(ctx, dbgen.ListLoginFailuresByIPParams{
		Addr: addr, Since: since, MaxRows: int32(s.throttle.MaxPerAddr),
	})
	if err != nil {
		return fmt.Errorf("check login throttle: %w", err)
	}
	wait := max(
		backoff(byPair, s.throttle.FreePerPair, s.throttle.BaseDelay, s.throttle.MaxDelay, now),
		lockout(byAddr, s.throttle.MaxPerAddr, s.throttle.Window, now),
	)
	if wait > 0 {
		return &ThrottledError{Wait: wait}
	}
	return nil
}

// recordFailure stores a failed login, prunes failures that no longer
// count, and returns ErrBadCredentials.
func (s *Service) recordFailure(ctx context.Context, key, addr string) error {
	now := s.now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		if err := q.CreateLoginFailure(ctx, dbgen.CreateLoginFailureParams{Email: key, Addr: addr, At: now}); err != nil {
			return err
		}
		return q.DeleteLoginFailuresBefore(ctx, now.Add(-s.throttle.Window))
	})
	if err != nil {
		return fmt.Errorf("record failed login: %w", err)
	}
	return ErrBadCredentials
}

// dummy returns a hash of a random password, made once, with the
// service's parameters.
func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		h, err := HashPassword(rand.Text(), s.hash)
		if err != nil {
			panic(fmt.Sprintf("auth: hash dummy password: %v", err)) // crypto/rand does not fail
		}
		s.dummyHash = h
	})
	return s.dummyHash
}

// newToken returns a random 32-byte session token and its SHA-256.
func newToken() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("make session token: %w", err)
	}
	t := base64.RawURLEncoding.EncodeToString(b)
	return t, hashToken(t), nil
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Keys of the session cookie's values.
const (
	tokenKey = "token"
	flashKey = "flash"
)

// SessionToken returns the session token held by the cookie session, or "".
func SessionToken(sess *sessions.Session) string {
	t, _ := sess.Values[tokenKey].(string)
	return t
}

// SetSessionToken puts token in the cookie session, replacing any other,
// and ends the pre-session, so that CSRF tokens issued before the login
// no longer work (csrf.go).
func SetSessionToken(sess *sessions.Session, token string) {
	sess.Values[tokenKey] = token
	delete(sess.Values, preSessionKey)
}

// ClearSessionToken removes the token from the cookie session.
func ClearSessionToken(sess *sessions.Session) { delete(sess.Values, tokenKey) }

// Flash is a one-shot message. Kind is "success", "error" or "info".
type Flash struct {
	Kind string
	Text string
}

// AddFlash queues a message in the cookie session. The caller saves it.
func AddFlash(sess *sessions.Session, kind, text string) {
	sess.AddFlash(kind+"|"+text, flashKey)
}

// TakeFlashes removes and returns the queued messages, oldest first. The
// caller saves the session so that they are shown once.
func TakeFlashes(sess *sessions.Session) []Flash {
	raw := sess.Flashes(flashKey)
	out := make([]Flash, 0, len(raw))
	for _, r := range raw {
		s, _ := r.(string)
		kind, text, ok := strings.Cut(s, "|")
		if !ok {
			continue
		}
		out = append(out, Flash{Kind: kind, Text: text})
	}
	return out
}
