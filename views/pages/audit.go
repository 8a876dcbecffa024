package pages

import "github.com/provisioner/provisioner/views/components"

// AuditProps is the audit log page: the filters as submitted, one page of
// entries (newest first) and the page links.
type AuditProps struct {
	Action  string
	Actor   string
	Company string
	// Actions are the action filter's choices, "All actions" first.
	Actions []components.Option
	Rows    []AuditRow
	Pages   components.PaginationProps
	// Filtered is true when a filter is set: an empty page then means no
	// match rather than an empty log.
	Filtered bool
}

// AuditRow is one audit entry, already formatted.
type AuditRow struct {
	At          string
	AtISO       string
	Actor       string
	Action      string // the action's code, for tests and filters
	ActionLabel string
	CompanyName string
	CompanyURL  string // "" when the entry is not about a company still on file
	Before      string
	After       string
	Detail      string
}
