package pages

import (
	"net/http"
	"strconv"
)

// ErrorProps describes an error page or toast. Title and Message default
// to text suited to Status when empty.
type ErrorProps struct {
	Status  int
	Title   string
	Message string
}

// errorTexts are the default title and explanation of the statuses that
// have their own.
var errorTexts = map[int]struct{ title, message string }{
	http.StatusNotFound:           {"Page not found", "The page you are looking for does not exist or has moved."},
	http.StatusForbidden:          {"Access denied", "You do not have permission to do that."},
	http.StatusServiceUnavailable: {"Service temporarily unavailable", "Service temporarily unavailable — the database cannot be reached; try again in a moment."},
}

// errorTitle returns p.Title or a default title for p.Status.
func errorTitle(p ErrorProps) string {
	if p.Title != "" {
		return p.Title
	}
	if t, ok := errorTexts[p.Status]; ok {
		return t.title
	}
	if t := http.StatusText(p.Status); t != "" && p.Status != http.StatusInternalServerError {
		return t
	}
	return "Something went wrong"
}

// errorMessage returns p.Message or a default explanation for p.Status.
func errorMessage(p ErrorProps) string {
	if p.Message != "" {
		return p.Message
	}
	if t, ok := errorTexts[p.Status]; ok {
		return t.message
	}
	if p.Status >= 500 || p.Status == 0 {
		return "An unexpected error occurred. Please try again; if it keeps happening, contact support."
	}
	return "The request could not be completed."
}

// errorCode formats the status code for display, or "" when unset.
func errorCode(status int) string {
	if status == 0 {
		return ""
	}
	return strconv.Itoa(status)
}
