package pages

import "github.com/provisioner/provisioner/views/components"

// CompaniesProps is the company list page. Values are already formatted.
type CompaniesProps struct {
	Totals CompanyTotals
	// Query, Filter and Sort are the list's current settings, shown in the
	// search form.
	Query  string
	Filter string // "all", "missing" or "failed"
	Sort   string // "newest", "oldest" or "name"
	Rows   []CompanyRow
	Pages  components.PaginationProps
	// NoCompanies is true when no company has signed up at all (rather than
	// none matching the search).
	NoCompanies bool
	// ClearURL is the unfiltered list, offered when nothing matches.
	ClearURL string
}

// CompanyTotals are the counts above the list, with links to the filters.
type CompanyTotals struct {
	Companies   string
	WithProject string
	Missing     string
	Failed      string
	MissingURL  string
	FailedURL   string
	// PolicyNotApplied counts linked companies whose guard-rail policy is
	// pending, drifted or failed; shown when PolicyURL is set.
	PolicyNotApplied string
	PolicyURL        string
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
	Status       string // badge: "provisioned", "missing", "pending" or "failed"
}

var (
	companyFilters = []components.Option{
		{Value: "all", Label: "All companies"},
		{Value: "missing", Label: "Missing a project"},
		{Value: "failed", Label: "Provisioning failed"},
		{Value: "policy", Label: "Policy not applied"},
		{Value: "drifted", Label: "Policy drifted"},
	}
	companySorts = []components.Option{
		{Value: "newest", Label: "Newest first"},
		{Value: "oldest", Label: "Oldest first"},
		{Value: "name", Label: "Name (A–Z)"},
	}
)
