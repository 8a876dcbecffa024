package pages

import "github.com/provisioner/provisioner/views/components"

// CompanyDetailProps is one company's page: its fields, its OpenAI project,
// the actions the viewer may take and the provisioning history. Values are
// already formatted.
type CompanyDetailProps struct {
	CSRF string

	ID           string
	Name         string
	Industry     string
	ContactName  string
	ContactEmail string
	Website      string // "" when none; http(s) only
	Size         string
	Country      string
	SignupDate   string
	SignupISO    string
	Description  string

	Status    string // badge: "provisioned", "pending", "waiting", "skipped", "rejected" or "failed"
	LastError components.ErrorTextProps
	// WaitReason is what a waiting company waits for (budget, capacity,
	// approval); "" otherwise.
	WaitReason string
	// CanDecide shows "Approve" (and "Reject" unless Rejected already).
	CanDecide   bool
	Rejected    bool
	NextAttempt string // "" when no attempt is scheduled
	ProjectID   string
	ProjectURL  string

	// KeyConfigured is false when no OpenAI admin key is configured:
	// projects can be neither created nor verified.
	KeyConfigured bool
	// CanProvision shows "Create project now": the company has no project
	// and an admin key is configured, so the button can work.
	CanProvision bool
	// CanAssign shows the assignment form: to anyone when the company has
	// no project, to admins (as a change) when it has one.
	CanAssign bool
	// CanClear shows "Clear project ID" (admins, when there is one).
	CanClear bool
	Assign   AssignForm

	History []HistoryRow

	// Policy is the guard-rails section (policy.templ).
	Policy CompanyPolicyProps
	// Key is the OpenAI key panel (company_key.templ).
	Key CompanyKeyProps
	// Costs is the costs section (costs.templ); nil hides it.
	Costs *CompanyCostsProps
}

// AssignForm is the "Assign project ID" form as submitted.
type AssignForm struct {
	Value string
	Error string
	// LinkURL and LinkText point at the company that holds the ID, when
	// that is the error.
	LinkURL  string
	LinkText string
}

// HistoryRow is one provisioning attempt.
type HistoryRow struct {
	Started    string
	StartedISO string
	Trigger    string
	Actor      string
	Outcome    string
	ProjectID  string
	Error      components.ErrorTextProps
	HTTPStatus string
	RequestID  string
	Duration   string // "" while running
}
