// Package apitoken manages the service tokens of the host-app API.
//
// A token is 256 random bits, shown once when it is created and stored only
// as its SHA-256 (a hash of that much randomness cannot be guessed back, so
// no slow hash is needed). It has a name, which the audit log shows for
// everything done with it, and scopes (see Scopes). Each use counts against
// a per-token limit per minute kept on the token's row in PostgreSQL, so the
// limit holds across every process.
//
// Use it from HTTP through the middleware in internal/web (api_v1.go):
//
//	v1.GET("/costs", s.handleCosts, s.requireScope(apitoken.ScopeCostsRead))
//
// and in a handler, apiTokenOf(c) is the authenticated Token.
package apitoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/validation"
)

// Scopes a token may hold.
const (
	ScopeCompaniesRead  = "companies:read"
	ScopeCompaniesWrite = "companies:write"
	ScopeKeysRead       = "keys:read"
	ScopeKeysWrite      = "keys:write"
	ScopeCostsRead      = "costs:read"
)

// Scopes lists every scope, in the order the CLI shows them.
var Scopes = []string{ScopeCompaniesRead, ScopeCompaniesWrite, ScopeKeysRead, ScopeKeysWrite, ScopeCostsRead}

// Prefix starts every token, so that one found in a log or a repository is
// recognisable (and greppable).
const Prefix = "pvt_"

// Audit actions.
const (
	ActionCreate = "api_token.create"
	ActionRevoke = "api_token.revoke"
)

// Token is a service token, without its secret.
type Token struct {
	ID         int64
	Name       string
	Scopes     []string
	CreatedAt  time.Time
	CreatedBy  string
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Has reports whether the token holds scope.
func (t Token) Has(scope string) bool { return slices.Contains(t.Scopes, scope) }

// Actor is who the audit log says acted: "token:<name>".
func (t Token) Actor() audit.Actor { return audit.Actor{Email: "token:" + t.Name} }

// Errors.
var (
	// ErrInvalid: no live token has this value (unknown, malformed or revoked).
	ErrInvalid = errors.New("apitoken: the token is not valid")
	// ErrNotFound: no live token has this name.
	ErrNotFound = errors.New("apitoken: no such token")
	// ErrNameTaken: a live token already has this name.
	ErrNameTaken = errors.New("apitoken: a live token with this name exists")
)

// RateLimitedError is returned by Authenticate when the token has used up
// its requests for the current minute.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("apitoken: rate limit reached; retry in %s", e.RetryAfter.Round(time.Second))
}

// Service creates, lists, revokes and authenticates tokens.
type Service struct {
	pool      *pgxpool.Pool
	q         *dbgen.Queries
	perMinute int
	// Now is the clock (tests move it).
	Now func() time.Time
}

// New returns a Service allowing perMinute requests per token per minute.
func New(pool *pgxpool.Pool, perMinute int) *Service {
	if perMinute <= 0 {
		perMinute = 600
	}
	return &Service{pool: pool, q: dbgen.New(pool), perMinute: perMinute, Now: time.Now}
}

// Create makes a token and returns it with its secret value, which is
// never shown again. Returns validation.Errors naming "name" or "scopes",
// and ErrNameTaken.
func (s *Service) Create(ctx context.Context, name string, scopes []string, by audit.Actor) (Token, string, error) {
	name = strings.TrimSpace(name)
	problems := validation.Errors{}
	switch {
	case name == "":
		problems["name"] = "Give the token a name (who uses it)."
	case len(name) > 100:
		problems["name"] = "The name must be at most 100 characters."
	}
	clean := []string{}
	for _, sc := range scopes {
		sc = strings.TrimSpace(sc)
		if sc == "" {
			continue
		}
		if !slices.Contains(Scopes, sc) {
			problems["scopes"] = fmt.Sprintf("Unknown scope %q; choose from %s.", sc, strings.Join(Scopes, ", "))
			break
		}
		if !slices.Contains(clean, sc) {
			clean = append(clean, sc)
		}
	}
	if len(clean) == 0 && problems["scopes"] == "" {
		problems["scopes"] = "Give the token at least one scope: " + strings.Join(Scopes, ", ") + "."
	}
	if len(problems) > 0 {
		return Token{}, "", problems
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // never fails (crypto/rand)
	value := Prefix + base64.RawURLEncoding.EncodeToString(secret)
	var row dbgen.ApiToken
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		var err error
		row, err = q.CreateAPIToken(ctx, dbgen.CreateAPITokenParams{Name: name, TokenHash: hash(value), Scopes: clean, CreatedBy: by.Email})
		if err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Entry{Actor: by, Action: ActionCreate, After: name, Detail: "scopes " + strings.Join(clean, ",")})
	})
	if db.IsUniqueViolation(err, "api_tokens_live_name") {
		return Token{}, "", ErrNameTaken
	}
	if err != nil {
		return Token{}, "", fmt.Errorf("create token %q: %w", name, err)
	}
	return fromRow(row), value, nil
}

// List returns every token, live ones first.
func (s *Service) List(ctx context.Context) ([]Token, error) {
	rows, err := s.q.ListAPITokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out := make([]Token, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Revoke revokes the live token named name. Returns ErrNotFound.
func (s *Service) Revoke(ctx context.Context, name string, by audit.Actor) (Token, error) {
	var row dbgen.ApiToken
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		q := s.q.WithTx(tx)
		t, err := q.GetLiveAPITokenByName(ctx, strings.TrimSpace(name))
		if err != nil {
			return err
		}
		if row, err = q.RevokeAPIToken(ctx, t.ID); err != nil {
			return err
		}
		return audit.Record(ctx, q, audit.Entry{Actor: by, Action: ActionRevoke, Before: t.Name})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, ErrNotFound
	}
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %q: %w", name, err)
	}
	return fromRow(row), nil
}

// Authenticate returns the live token with this value and counts the
// request against its limit. Returns ErrInvalid, *RateLimitedError.
func (s *Service) Authenticate(ctx context.Context, value string) (Token, error) {
	if !strings.HasPrefix(value, Prefix) || len(value) > 200 {
		return Token{}, ErrInvalid
	}
	now := s.Now()
	window := now.Truncate(time.Minute)
	row, err := s.q.UseAPIToken(ctx, dbgen.UseAPITokenParams{CurrentWindow: window, TokenHash: hash(value)})
	if errors.Is(err, pgx.ErrNoRows) {
		return Token{}, ErrInvalid
	}
	if err != nil {
		return Token{}, fmt.Errorf("authenticate token: %w", err)
	}
	if int(row.RateCount) > s.perMinute {
		return Token{}, &RateLimitedError{RetryAfter: window.Add(time.Minute).Sub(now)}
	}
	return fromRow(row), nil
}

func hash(value string) []byte {
	h := sha256.Sum256([]byte(value))
	return h[:]
}

func fromRow(r dbgen.ApiToken) Token {
	return Token{ID: r.ID, Name: r.Name, Scopes: r.Scopes, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy,
		LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt}
}
