package provision

// Status is a company's provisioning state, as stored in
// companies.provisioning_status. This package owns it because it is the one
// that writes it (the queries in db/queries/company.sql write the same
// words); package company re-exports it as company.Status for reading.
type Status string

// Provisioning states of a company.
const (
	// StatusPending: no project yet; an attempt is due or under way.
	StatusPending Status = "pending"
	// StatusWaiting: no project yet, and none is created until something
	// outside the company changes: the signup budget frees, the
	// organization has room again, or a staff member approves the company.
	// The company's error text says which (the Reason* constants).
	StatusWaiting Status = "waiting"
	// StatusProvisioned: the company has its project ID.
	StatusProvisioned Status = "provisioned"
	// StatusSkipped: no admin key was configured (or the name was empty).
	StatusSkipped Status = "skipped"
	// StatusFailed: OpenAI refused for good, or the attempts ran out.
	StatusFailed Status = "failed"
)
