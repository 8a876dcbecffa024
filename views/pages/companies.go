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
	// CostSummary is this month's organization cost (costs.templ); nil hides it.
	CostSummary *CostSummaryProps
}

// CompanyTotals are the counts above the list, with links to the filters.
type CompanyTotals struct {
	Companies   string
	WithProject string
	Missing     string
	Failed      string
	MissingURL  string
	FailedURL   string
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
	MTDCost      string // month-to-date cost, "$12.34"
}

var (
	companyFilters = []components.Option{
		{Value: "all", Label: "All companies"},
		{Value: "missing", Label: "Missing a project"},
		{Value: "failed", Label: "Provisioning failed"},
	}
	companySorts = []components.Option{
		{Value: "newest", Label: "Newest first"},
		{Value: "oldest", Label: "Oldest first"},
		{Value: "name", Label: "Name (A–Z)"},
		{Value: "cost", Label: "Cost this month (highest first)"},
	}
)
