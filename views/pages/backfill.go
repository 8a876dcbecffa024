package pages

// BackfillProps is the backfill page: the running or latest run and the
// runs before it.
type BackfillProps struct {
	// Configured is false when no OpenAI admin key is set: no run can start.
	Configured bool
	// Current is the running run, else the latest one; nil when none ran.
	Current *BackfillRunProps
	Recent  []BackfillRunRow
}

// BackfillRunRow is one run in the list of recent runs.
type BackfillRunRow struct {
	ID         string
	URL        string
	Status     string // "running", "finished", "failed" or "cancelled"
	StartedBy  string
	Started    string
	StartedISO string
	Summary    string // "190 created, 5 linked existing, 5 failed, 0 skipped"
}

// BackfillDryRunProps is the confirmation page: what a backfill would do.
type BackfillDryRunProps struct {
	CSRF       string
	Configured bool
	Count      string // companies without a project
	None       bool   // Count is zero
	Names      []string
	More       string // "and 1,234 more", "" when Names holds them all
	// RunningURL is the running run's page, "" when none is running.
	RunningURL string
	RunningID  string
	// AutoLinks is how many companies the run would link to a project of
	// their own; Possible are the same-name projects only an admin links.
	AutoLinks    string
	Possible     []PossibleMatchRow
	MatchesError string // OpenAI's list could not be read
}

// PossibleMatchRow is a same-name project a company may not adopt by
// itself, with the button that links it by hand.
type PossibleMatchRow struct {
	CompanyID   string
	CompanyName string
	CompanyURL  string
	ProjectID   string
	ProjectURL  string
	Created     string
	CreatedISO  string
	Why         string
	Released    bool
}

// BackfillRunProps is one run: its progress while it runs, its summary and
// failures once over. The page and its polled fragment share it.
type BackfillRunProps struct {
	CSRF        string
	ID          string
	URL         string
	ProgressURL string
	RetryURL    string
	Running     bool
	Status      string // "running", "finished", "failed" or "cancelled"
	StartedBy   string
	Started     string
	StartedISO  string
	Finished    string // "" while running
	FinishedISO string
	// RetryOf links the run whose failures this one retries; "" otherwise.
	RetryOf     string
	RetryOfURL  string
	Concurrency string
	Percent     string // "0" to "100"
	Total       string
	Done        string
	Remaining   string
	Created     string
	Linked      string
	Failed      string
	Skipped     string
	Rate        string // "91.2/s"
	ETA         string // "3m 20s"; "" when unknown
	LastError   string
	Failures    []BackfillFailureRow
	// MoreFailures is "and 23 more", "" when Failures holds them all.
	MoreFailures string
	// CanRetry shows "Retry failed": the run is over and some failed.
	CanRetry bool
}

// BackfillFailureRow is a company a run could not give a project.
type BackfillFailureRow struct {
	CompanyName string
	CompanyURL  string
	Error       string
}

// runStatusLabel is the display text of a run status.
func runStatusLabel(status string) string {
	switch status {
	case "running":
		return "Running"
	case "finished":
		return "Finished"
	case "failed":
		return "Failed"
	case "cancelled":
		return "Cancelled"
	}
	return status
}

// runStatusClass is the full class list of a run status pill.
func runStatusClass(status string) string {
	const base = "inline-flex items-center whitespace-nowrap rounded-full px-2.5 py-0.5 text-xs font-semibold ring-1 ring-inset "
	switch status {
	case "running":
		return base + "bg-blue-50 text-blue-800 ring-blue-600/30"
	case "finished":
		return base + "bg-green-50 text-green-800 ring-green-600/30"
	case "failed":
		return base + "bg-red-50 text-red-800 ring-red-600/30"
	}
	return base + "bg-slate-100 text-slate-700 ring-slate-500/30"
}
