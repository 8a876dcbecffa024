// Package auth is staff authentication: accounts with roles, password
// hashing, login throttling, server-side sessions carried by a
// gorilla/sessions cookie, and flash messages.
package auth

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

// User is a signed-in staff member.
type User struct {
	ID    int64
	Email string
	Role  Role
}

// IsAdmin reports whether u is an admin.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }
