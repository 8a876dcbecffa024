package pages

// CompanyKeyProps is the company page's OpenAI key panel. Values are
// already formatted; the key's value is never here.
type CompanyKeyProps struct {
	CSRF      string
	CompanyID string
	// Enabled is false when per-company keys are disabled.
	Enabled bool
	// Status: "none", "pending", "issued", "failed" or "revoked".
	Status    string
	LastError string
	HasKey    bool
	KeyID     string
	Redacted  string
	Created   string
	LastUsed  string // "never" when unused
	Expires   string
	// Retiring lists replaced keys still valid, with when they are deleted.
	Retiring []RetiringKey
	// CanRotate (support and admin) and CanRevoke (admin) show the actions.
	CanRotate bool
	CanRevoke bool
	// ConfirmName is what the revoke form's confirmation must match.
	ConfirmName string
	History     []KeyHistoryRow
}

// RetiringKey is a replaced key in its grace period.
type RetiringKey struct {
	KeyID    string
	Redacted string
	Until    string
}

// KeyHistoryRow is one key attempt.
type KeyHistoryRow struct {
	Started        string
	Trigger        string
	Actor          string
	Outcome        string
	ServiceAccount string
	Orphans        string // "" when none were deleted
	Error          string
}
