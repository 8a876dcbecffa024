// Package components holds small, reusable view pieces (form fields,
// badges, buttons). They render the data they are given and never fetch any.
package components

import (
	"strconv"
	"strings"
)

// FieldProps configures TextField. ID and Name are required; Type defaults to "text".
type FieldProps struct {
	ID          string
	Name        string
	Label       string
	Type        string
	Value       string
	Error       string
	Placeholder string
	Required    bool
	// MaxLength sets maxlength when > 0.
	MaxLength    int
	Autocomplete string
	// Help is optional hint text shown under the input.
	Help string
}

// SelectProps configures SelectField. Value selects the matching option.
type SelectProps struct {
	ID       string
	Name     string
	Label    string
	Value    string
	Error    string
	Options  []Option
	Required bool
	// Help is optional hint text shown under the select.
	Help string
}

// Option is one <option> of a SelectField.
type Option struct {
	Value string
	Label string
}

// ButtonProps configures Button. Variant is "primary" (default),
// "secondary" or "danger"; Type defaults to "submit".
type ButtonProps struct {
	ID       string
	Label    string
	Type     string
	Variant  string
	Name     string
	Value    string
	Disabled bool
}

// LinkProps configures ButtonLink: a link styled as a button.
// Variant is "primary", "secondary" (default) or "danger".
type LinkProps struct {
	ID      string
	Href    string
	Label   string
	Variant string
}

// inputType returns t, or "text" when t is empty.
func inputType(t string) string {
	if t == "" {
		return "text"
	}
	return t
}

// buttonType returns t, or "submit" when t is empty.
func buttonType(t string) string {
	if t == "" {
		return "submit"
	}
	return t
}

// describedBy returns the aria-describedby value for a field: its help
// and error ids, space separated, or "" when it has neither.
func describedBy(id, help, errText string) string {
	var ids []string
	if help != "" {
		ids = append(ids, id+"-help")
	}
	if errText != "" {
		ids = append(ids, id+"-error")
	}
	return strings.Join(ids, " ")
}

// itoa formats a maxlength attribute value.
func itoa(n int) string { return strconv.Itoa(n) }

// ErrorTextProps configures ErrorText: Sentence is what staff read,
// Detail the technical text behind the disclosure ("" for none).
type ErrorTextProps struct {
	Sentence string
	Detail   string
}
