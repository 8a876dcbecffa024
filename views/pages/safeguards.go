package pages

// SafeguardsProps is the state of the project-creation safeguards, shown
// above the company list: the organization's capacity, the signup budget
// and the waiting companies. Values are already formatted.
type SafeguardsProps struct {
	// Capacity is "1,234 / 2,000" (active projects / OPENAI_PROJECT_LIMIT),
	// "" before the organization's projects were first counted.
	Capacity  string
	CountedAt string // when they were last counted
	// Level is "ok", "near" (warn) or "full" (new projects wait).
	Level string
	// Budget is "12 / 200 this hour", or "no budget" when 0.
	Budget      string
	BudgetSpent bool
	// The waiting companies by reason, "" when none.
	WaitingBudget   string
	WaitingCapacity string
	WaitingApproval string
	WaitingURL      string
	ApprovalMode    bool
}
