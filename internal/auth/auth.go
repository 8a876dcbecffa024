// Package auth is staff authentication: accounts with roles, password
// hashing, login throttling, server-side sessions carried by a
// gorilla/sessions cookie, and flash messages.
package auth

import (
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/provisioner/provisioner/internal/validation"
)

// Role is what a staff member may do.
type Role string

const (
	// RoleAdmin may do everything: change or clear project IDs, run the
	// backfill, manage staff.
	RoleAdmin Role = "admin"
	// RoleSupport may view companies, assign a project ID to a company that
	// has none, and retry provisioning of one company.
	RoleSupport Role = "support"
)

// Roles lists every role, for forms and the command line.
var Roles = []Role{RoleAdmin, RoleSupport}

// User is a signed-in staff member.
type User struct {
	ID    int64
	Email string
	Role  Role
}

// IsAdmin reports whether u is an admin.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// Account is a staff user as the staff list shows it.
type Account struct {
	User
	Disabled    bool
	CreatedAt   time.Time
	LastLoginAt *time.Time
}

// NewAccount is a staff user to be created.
type NewAccount struct {
	Email    string
	Role     Role
	Password string
}

// Field names used as keys of ValidationError, matching the form's inputs.
const (
	FieldEmail    = "email"
	FieldRole     = "role"
	FieldPassword = "password"
)

// Limits on account fields.
const (
	MinPasswordLen = 12
	// MaxPasswordLen bounds the work one login can cause.
	MaxPasswordLen = 256
	MaxEmailLen    = 254
)

// ValidationError maps a field to what is wrong with it.
type ValidationError = validation.Errors

// Errors returned by Service.
var (
	ErrNotFound        = errors.New("auth: staff user not found")
	ErrEmailTaken      = errors.New("auth: a staff user with this email already exists")
	ErrDisableSelf     = errors.New("auth: you cannot disable your own account")
	ErrAlreadyDisabled = errors.New("auth: staff user is already disabled")
	// ErrLastAdmin means the change would leave no active admin.
	ErrLastAdmin = errors.New("auth: this is the last active admin; add another admin first")
	// ErrBadCredentials is every failed login, whether or not the email
	// exists, so that the answer never tells.
	ErrBadCredentials = errors.New("auth: email or password is incorrect")
	// ErrNoSession means the session token is unknown, revoked or expired,
	// or its user is disabled.
	ErrNoSession = errors.New("auth: no live session")
)

// ParseRole returns the role named s. Returns an error for anything else.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(s))
	if !slices.Contains(Roles, r) {
		return "", fmt.Errorf("unknown role %q; want admin or support", s)
	}
	return r, nil
}

// Normalize trims the email.
func (a NewAccount) Normalize() NewAccount {
	a.Email = strings.TrimSpace(a.Email)
	return a
}

// Validate returns nil or a ValidationError naming each bad field. It
// expects a normalized account.
func (a NewAccount) Validate() error {
	v := ValidationError{}
	switch {
	case a.Email == "":
		v[FieldEmail] = "Email is required."
	case len(a.Email) > MaxEmailLen || !validEmail(a.Email):
		v[FieldEmail] = "Enter an email address like name@example.com."
	}
	if !slices.Contains(Roles, a.Role) {
		v[FieldRole] = "Choose admin or support."
	}
	switch n := utf8.RuneCountInString(a.Password); {
	case n < MinPasswordLen:
		v[FieldPassword] = fmt.Sprintf("Password must be at least %d characters.", MinPasswordLen)
	case n > MaxPasswordLen:
		v[FieldPassword] = fmt.Sprintf("Password must be at most %d characters.", MaxPasswordLen)
	}
	if len(v) > 0 {
		return v
	}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}

// emailKey is the form of an email that lookups and throttling use.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
