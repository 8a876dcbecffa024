package pages

// SignupDoneProps is the result shown after a successful signup.
// Status is "provisioned", "pending", "waiting", "skipped" or "failed".
type SignupDoneProps struct {
	CompanyName string
	Industry    string
	ProjectID   string
	Status      string
	// PollURL is fetched by htmx while Status is "pending", to show the
	// project once it exists.
	PollURL string
}

// doneMessage returns the sentence explaining p.Status. The page is
// public: it never shows why an attempt failed (OpenAI's or Go's error
// text is for staff, on the company's page).
func doneMessage(p SignupDoneProps) string {
	switch p.Status {
	case "provisioned":
		return "Your OpenAI project is ready."
	case "pending":
		return "Your OpenAI project is being created; it will appear shortly."
	case "waiting":
		// Public: the reason (budget, capacity, approval) is for staff.
		return "Your account is created. Your OpenAI project is queued and will be created after a short review; you do not need to sign up again."
	case "skipped":
		return "OpenAI project creation is not configured; an administrator can create it later."
	case "failed":
		return "We are still setting up your workspace. Our team will finish it; you do not need to sign up again."
	}
	return ""
}
