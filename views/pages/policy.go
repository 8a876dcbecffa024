package pages

// PolicyPageProps is the guard-rail policy page: the template form, the
// companies whose policy is not in place, and the actions on them.
type PolicyPageProps struct {
	CSRF     string
	CanEdit  bool // admins edit the template and re-apply to all drifted
	Enabled  bool // POLICY_ENABLED and an admin key
	Version  string
	SavedBy  string
	SavedAt  string
	Summary  []string
	Form     PolicyForm
	Pending  string
	Applied  string
	Drifted  string
	Failed   string
	NotReady []PolicyCompanyRow
	Orphans  string // how many orphan projects the last reconcile found
}

// PolicyForm is the policy form's values and its errors by field name.
type PolicyForm struct {
	Action          string // where it posts
	SpendLimitCents string
	Alerts          string
	RateLimits      string
	AllowedModels   string
	Errors          map[string]string
	Submit          string
}

// PolicyCompanyRow is a company whose policy is not applied.
type PolicyCompanyRow struct {
	Name      string
	URL       string
	State     string
	Error     string
	UpdatedAt string
}

// CompanyPolicyProps is the policy section of a company's page.
type CompanyPolicyProps struct {
	CSRF        string
	Enabled     bool
	HasProject  bool
	State       string // "pending", "applied", "drifted", "failed", "offboarded" or ""
	Error       string
	AppliedAt   string
	CheckedAt   string
	Effective   []string
	Differences []DifferenceRow
	History     []PolicyHistoryRow
	CanReapply  bool
	ReapplyURL  string
	// Override form (admins).
	CanOverride bool
	Override    PolicyForm
	// Offboarding (admins).
	CanOffboard  bool
	OffboardURL  string
	Confirm      string
	ConfirmError string
	Offboarding  *OffboardingProps
}

// DifferenceRow is one difference reconcile found.
type DifferenceRow struct {
	Field    string
	Expected string
	Found    string
	Since    string
	SinceISO string
}

// PolicyHistoryRow is one apply attempt.
type PolicyHistoryRow struct {
	Started string
	Trigger string
	Actor   string
	Outcome string
	Calls   string
	Error   string
}

// OffboardingProps is where a company's offboarding stands.
type OffboardingProps struct {
	Step          string
	State         string
	Error         string
	Actor         string
	Started       string
	Finished      string
	KeysRevoked   string
	AlertsRemoved string
	CanResume     bool
	ResumeURL     string
}

// OrphansProps lists projects that no company holds.
type OrphansProps struct {
	CSRF  string
	Rows  []OrphanRow
	Error string // the assignment error, shown beside its row
}

// OrphanRow is one orphan project, with its "assign to company" form.
type OrphanRow struct {
	ProjectID string
	Name      string
	CreatedAt string
	FirstSeen string
	AssignURL string
	Company   string // the value typed, kept after an error
	Error     string
}
