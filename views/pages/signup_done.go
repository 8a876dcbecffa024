package pages

// SignupDoneProps is the result shown after a successful signup.
// Status is "provisioned", "pending", "skipped" or "failed"; Message is
// the explanation shown for "failed".
type SignupDoneProps struct {
	CompanyName string
	Industry    string
	ProjectID   string
	Status      string
	Message     string
	// PollURL is fetched by htmx while Status is "pending", to show the
	// project once it exists.
	PollURL string
}

// doneMessage returns the sentence explaining p.Status.
func doneMessage(p SignupDoneProps) string {
	switch p.Status {
	case "provisioned":
		return "Your OpenAI project is ready."
	case "pending":
		return "Your OpenAI project is being created; it will appear shortly."
	case "skipped":
		return "OpenAI project creation is not configured; an administrator can create it later."
	case "failed":
		if p.Message != "" {
			return p.Message
		}
		return "We could not create your OpenAI project. An administrator has been notified and can retry it."
	}
	return p.Message
}
