// Package pages holds complete pages (layout plus content) and the
// fragments that handlers swap into them with htmx.
package pages

import "github.com/provisioner/provisioner/views/components"

// Field is the submitted value of one form field and its validation error.
type Field struct {
	Value string
	Error string
}

// SignupProps is everything the public signup form shows.
type SignupProps struct {
	CSRF        string
	SignupToken string

	CompanyName  Field
	Industry     Field
	ContactName  Field
	ContactEmail Field
	Website      Field
	CompanySize  Field
	Country      Field

	// Industries and Sizes are the choices for the two selects.
	Industries []string
	Sizes      []string

	// FormError is a problem with the form as a whole, shown above the fields.
	FormError string
}

// choices turns plain values into select options, after a blank first option.
func choices(blank string, values []string) []components.Option {
	opts := make([]components.Option, 0, len(values)+1)
	opts = append(opts, components.Option{Value: "", Label: blank})
	for _, v := range values {
		opts = append(opts, components.Option{Value: v, Label: v})
	}
	return opts
}

// hasFieldErrors reports whether any field of p has an error.
func (p SignupProps) hasFieldErrors() bool {
	for _, f := range []Field{p.CompanyName, p.Industry, p.ContactName, p.ContactEmail, p.Website, p.CompanySize, p.Country} {
		if f.Error != "" {
			return true
		}
	}
	return false
}
