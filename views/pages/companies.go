package pages

import "github.com/provisioner/provisioner/views/components"

// CompaniesProps is the company list page. Values are already formatted.
type CompaniesProps struct {
	Totals     CompanyTotals
	Safeguards SafeguardsProps
	// CSRF is for the approve/reject form of the companies awaiting
	// approval (Decidable: some row on the page awaits it).
	CSRF      string
	Decidable bool
	// Query, Filter and Sort are the list's current settings, shown in the
	// search form.
	Query  string
	Filter string // "all", "missing", "failed", "no-key" or "waiting"
	Sort   string // "newest", "oldest" or "name"
	Rows   []CompanyRow
	Pages  components.PaginationProps
	// NoCompanies is true when no company has signed up at all (rather than
	// none matching the search).
	NoCompanies bool
	// ClearURL is the unfiltered list, offered when nothing matches.
	ClearURL string
	// CostSummary is this month's organization cost (costs.templ); nil hides it.
	CostSummary *CostSummaryProps
}

// CompanyTotals are the counts above the list, with links to the filters.
type CompanyTotals struct {
	Companies   string
	WithProject string
	Missing     string
	Failed      string
	Waiting     string
	MissingURL  string
	FailedURL   string
	// PolicyNotApplied counts linked companies whose guard-rail policy is
	// pending, drifted or failed; shown when PolicyURL is set.
	PolicyNotApplied string
	PolicyURL        string
	WaitingURL       string
}

// CompanyRow is one company in the list.
type CompanyRow struct {
	ID           string
	Name         string
	DetailURL    string
	Industry     string
	ContactName  string
	ContactEmail string
	SignupDate   string // for people
	SignupISO    string // for <time datetime>
	ProjectID    string // "" when none
	ProjectURL   string // the project on OpenAI's platform
	Status       string // badge: "provisioned", "pending", "waiting", "skipped", "rejected" or "failed"
	// WaitReason is why a waiting company waits.
	WaitReason string
	// AwaitingApproval rows get a checkbox of the approve/reject form.
	AwaitingApproval bool
	MTDCost          string // month-to-date cost, "$12.34"
}

var (
	companyFilters = []components.Option{
		{Value: "all", Label: "All companies"},
		{Value: "missing", Label: "Without a project"},
		{Value: "failed", Label: "Provisioning failed"},
		{Value: "policy", Label: "Policy not applied"},
		{Value: "drifted", Label: "Policy drifted"},
		{Value: "no-key", Label: "No OpenAI key"},
		{Value: "waiting", Label: "Waiting (budget, capacity, approval)"},
	}
	companySorts = []components.Option{
		{Value: "newest", Label: "Newest first"},
		{Value: "oldest", Label: "Oldest first"},
		{Value: "name", Label: "Name (A–Z)"},
		{Value: "cost", Label: "Cost this month (highest first)"},
	}
)
