package pages

import "github.com/provisioner/provisioner/views/components"

// CompanyCostsProps is the costs section of a company's page. Amounts are
// formatted ("$12.34").
type CompanyCostsProps struct {
	Days        string // "30" or "90"
	Link30      string
	Link90      string
	MonthToDate string
	LastMonth   string
	WindowTotal string
	Chart       components.StackedBarsProps
	Tokens      components.StackedBarsProps
	Models      []ModelUsageRow
	Holdings    []HoldingRow
	LastSync    string // "" when never synced
	// Markup: the company's override ("" for the default) and whether the
	// viewer (an admin) may change it.
	Markup        string
	DefaultMarkup string
	CanEditMarkup bool
	MarkupAction  string
	MarkupError   string
	CSRF          string
}

// ModelUsageRow is one model's usage over the window.
type ModelUsageRow struct {
	Model, Input, Output, Cached, Requests string
}

// HoldingRow is one period the company held a project.
type HoldingRow struct {
	ProjectID, From, To string
}

// CostSummaryProps is the organization's cost this month, above the
// company list.
type CostSummaryProps struct {
	Month        string // "November 2026"
	Total        string
	Unattributed string
	Other        []string // totals in other currencies, "€1.00 (EUR)"
	LastSync     string   // "" when never synced
	SyncError    string
	CostsURL     string
	TopURL       string
}

// CostsPageProps is /admin/costs: the sync's state and a month's statement.
type CostsPageProps struct {
	CSRF          string
	Month         string // the month asked for, as typed
	MonthError    string
	MonthLabel    string
	CSVURL        string
	Partial       bool
	AsOf          string
	CanSync       bool
	Configured    bool
	Summary       CostSummaryProps
	Runs          []SyncRunRow
	LineItems     []string
	Rows          []StatementRowProps
	MoreRows      int // rows not shown (download the CSV)
	Totals        []StatementTotalRow
	DefaultMarkup string
}

// SyncRunRow is one sync run.
type SyncRunRow struct {
	ID, Trigger, Status, Range, Started, Duration, Pages, Rows, Error string
}

// StatementRowProps is one row of a statement.
type StatementRowProps struct {
	Company, CompanyURL, Projects, Currency string
	Items                                   []string // by LineItems
	Total, Markup, MarkupPercent, Billable  string
	Override, Unattributed                  bool
}

// StatementTotalRow is a statement's totals in one currency.
type StatementTotalRow struct {
	Currency, Total, Unattributed, Markup, Billable, Companies string
}

// itemLabel names the line item of column i, for the label a statement
// cell carries where the table is shown as one card per company (phones).
func itemLabel(items []string, i int) string {
	if i < len(items) {
		return items[i]
	}
	return ""
}
