package pages

import "github.com/provisioner/provisioner/views/components"

// HomeProps is the dashboard's home page (/admin): where things stand and
// what needs a human. Values are already formatted.
type HomeProps struct {
	Totals HomeTotals
	OpenAI OpenAIProps
	// Capacity is the organization's projects against its limit; nil until
	// it is known (the limit comes with the hardening issue's capacity
	// check), and then the panel is left out rather than guessed.
	Capacity *CapacityProps
	// Failures are the first companies whose provisioning failed for good.
	Failures    []HomeFailure
	FailedTotal string
	FailedURL   string
	// Backfill is the running or latest run; nil when none ran.
	Backfill *HomeBackfill
	// BackfillURL is the backfill page, "" for support staff (admins only).
	BackfillURL string
	Audit       []HomeAuditRow
	// JobsURL is River's job dashboard, "" when not served or not an admin.
	JobsURL string
	// MaxAttempts is PROVISION_MAX_ATTEMPTS, explained beside the jobs link.
	MaxAttempts string
	// CostSummary is the organization's OpenAI cost this month and its
	// unattributed part; nil when costs are not wired (costs.templ).
	CostSummary *CostSummaryProps
}

// HomeTotals are the companies by state, with links to the list.
type HomeTotals struct {
	Companies, Provisioned, Pending, Waiting, Skipped, Failed string
	AllURL, MissingURL, WaitingURL, FailedURL                 string
}

// OpenAIProps is the OpenAI connection panel: the fragment "Test
// connection" swaps.
type OpenAIProps struct {
	CSRF       string
	Configured bool
	Sandbox    bool
	// KeyWarning is set when the key does not look like an admin key.
	KeyWarning string
	// Last is the last call; FirstFailure the first failed one since start.
	Last         *OpenAICall
	FirstFailure *OpenAICall
	// Tested is the result of "Test connection", when this answers one.
	Tested *OpenAICall
	// CanTest shows "Test connection" (a key is configured).
	CanTest bool
}

// OpenAICall is one call's outcome.
type OpenAICall struct {
	OK     bool
	At     string
	AtISO  string
	What   string // "list projects", "create project", …
	Reason components.ErrorTextProps
}

// CapacityProps is the organization's project count against its limit.
type CapacityProps struct {
	Active  string
	Limit   string
	Percent string
}

// HomeFailure is a company that needs a human.
type HomeFailure struct {
	Name  string
	URL   string
	Error components.ErrorTextProps
}

// HomeBackfill is the running or latest backfill in brief.
type HomeBackfill struct {
	ID      string
	URL     string
	Status  string // run status, "paused" or "stalled" included
	Percent string
	Summary string
	// Problem is the stall sentence or the run's last error, "" if none.
	Problem string
}

// HomeAuditRow is one recent audit entry.
type HomeAuditRow struct {
	At          string
	AtISO       string
	Actor       string
	ActionLabel string
	CompanyName string
	CompanyURL  string
}
