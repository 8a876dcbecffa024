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

// errorTitle returns p.Title or a default title for p.Status.
func errorTitle(p ErrorProps) string {
	if p.Title != "" {
		return p.Title
	}
	switch p.Status {
	case http.StatusNotFound:
		return "Page not found"
	case http.StatusForbidden:
		return "Access denied"
	case http.StatusServiceUnavailable:
		return "Service temporarily unavailable"
	case http.StatusInternalServerError, 0:
		return "Something went wrong"
	}
	if t := http.StatusText(p.Status); t != "" {
		return t
	}
	return "Something went wrong"
}

// errorMessage returns p.Message or a default explanation for p.Status.
func errorMessage(p ErrorProps) string {
	if p.Message != "" {
		return p.Message
	}
	switch p.Status {
	case http.StatusNotFound:
		return "The page you are looking for does not exist or has moved."
	case http.StatusForbidden:
		return "You do not have permission to do that."
	case http.StatusServiceUnavailable:
		return "Service temporarily unavailable — the database cannot be reached; try again in a moment."
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
