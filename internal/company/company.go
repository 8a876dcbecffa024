// Package company is Provisioner's domain: companies that sign up, and the
// OpenAI project each one gets. It knows nothing of HTTP or HTML.
package company

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/provisioner/provisioner/internal/db/dbgen"
	"github.com/provisioner/provisioner/internal/namekey"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/validation"
)

// Status is a company's provisioning state. Package provision writes it and
// so owns it; these names let readers of companies say company.Status.
type Status = provision.Status

// Provisioning states of a company (see provision.Status).
const (
	StatusPending     = provision.StatusPending
	StatusWaiting     = provision.StatusWaiting
	StatusProvisioned = provision.StatusProvisioned
	StatusSkipped     = provision.StatusSkipped
	StatusFailed      = provision.StatusFailed
)

// Company is a company that signed up.
type Company struct {
	ID                 int64
	Name               string
	Industry           string
	ContactName        string
	ContactEmail       string
	Website            string
	Size               string
	Country            string
	OpenAIProjectID    string // empty when none
	ProjectDescription string
	Status             Status
	LastError          string
	// Approval is ApprovalNone unless the company came in approval mode.
	Approval      string
	NextAttemptAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func fromRow(r dbgen.Company) Company {
	c := Company{
		ID: r.ID, Name: r.Name, Industry: r.Industry, ContactName: r.ContactName,
		ContactEmail: r.ContactEmail, Website: r.Website, Size: r.CompanySize, Country: r.Country,
		ProjectDescription: r.ProjectDescription, Status: Status(r.ProvisioningStatus),
		LastError: r.ProvisioningError, NextAttemptAt: r.NextAttemptAt, Approval: r.Approval,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if r.OpenAIProjectID != nil {
		c.OpenAIProjectID = *r.OpenAIProjectID
	}
	return c
}

// ProjectDescription is the description kept for a company's project. The
// seed sent it to OpenAI; OpenAI's create call takes none, so it is ours.
func ProjectDescription(name, industry string) string {
	return fmt.Sprintf("Project for %s - %s", name, industry)
}

// Industries a company may choose from.
var Industries = []string{
	"Software", "Finance", "Healthcare", "Education", "Retail", "Manufacturing",
	"Media", "Consulting", "Logistics", "Non-profit", "Other",
}

// Sizes a company may choose from (optional).
var Sizes = []string{"1-10", "11-50", "51-200", "201-1000", "1000+"}

// Field limits, shared with the form's maxlength attributes.
const (
	MaxNameLen    = 200
	MaxEmailLen   = 254
	MaxWebsiteLen = 2048
	MaxCountryLen = 100
)

// SignupParams is what a company submits to sign up.
type SignupParams struct {
	Name         string
	Industry     string
	ContactName  string
	ContactEmail string
	Website      string
	Size         string
	Country      string
	// Token identifies one rendering of the signup form, so that submitting
	// it twice creates one company.
	Token string
	// ExternalID is the host app's own ID for the company (API only),
	// unique; "" for none.
	ExternalID string
}

// Field names used as keys of ValidationError, matching the form's inputs.
const (
	FieldName         = "company_name"
	FieldIndustry     = "industry"
	FieldContactName  = "contact_name"
	FieldContactEmail = "contact_email"
	FieldWebsite      = "website"
	FieldSize         = "company_size"
	FieldCountry      = "country"
)

// ValidationError maps a field to what is wrong with it.
type ValidationError = validation.Errors

// Errors returned by Service.
var (
	ErrNotFound  = errors.New("company: not found")
	ErrNameTaken = errors.New("company: a company with this name is already registered")
	// ErrBusy is returned by the manual changes while a provisioning
	// attempt for the company is in progress. It wraps
	// provision.ErrCompanyBusy, so callers need not import provision.
	ErrBusy = fmt.Errorf("company: %w", provision.ErrCompanyBusy)
)

// Normalize trims the values and completes a website without a scheme.
// The name keeps what was typed, in Unicode NFC (namekey.Display).
func (p SignupParams) Normalize() SignupParams {
	p.Name = namekey.Display(collapseSpaces(p.Name))
	p.Industry = strings.TrimSpace(p.Industry)
	p.ContactName = collapseSpaces(p.ContactName)
	p.ContactEmail = strings.TrimSpace(p.ContactEmail)
	p.Website = strings.TrimSpace(p.Website)
	if p.Website != "" && !strings.Contains(p.Website, "://") {
		p.Website = "https://" + p.Website
	}
	p.Size = strings.TrimSpace(p.Size)
	p.Country = collapseSpaces(p.Country)
	p.Token = strings.TrimSpace(p.Token)
	return p
}

// Validate returns nil or a ValidationError naming each bad field. It
// expects normalized params.
func (p SignupParams) Validate() error {
	v := ValidationError{}
	text := func(field, value, label string, required bool, maxLen int) {
		switch n := utf8.RuneCountInString(value); {
		case !utf8.ValidString(value) || strings.ContainsFunc(value, unicode.IsControl):
			v[field] = label + " contains characters that are not allowed."
		case n == 0 && required:
			v[field] = label + " is required."
		case n > maxLen:
			v[field] = fmt.Sprintf("%s must be at most %d characters (it has %d).", label, maxLen, n)
		}
	}
	if msg := ValidateExternalID(p.ExternalID); msg != "" {
		v[FieldExternalID] = msg
	}
	text(FieldName, p.Name, "Company name", true, MaxNameLen)
	if _, bad := v[FieldName]; !bad {
		switch err := namekey.Check(p.Name); {
		case errors.Is(err, namekey.ErrBidiControl):
			v[FieldName] = "Company name contains text-direction control characters, which are not allowed."
		case errors.Is(err, namekey.ErrInvisible):
			v[FieldName] = "Company name must contain at least one visible letter, digit or sign."
		}
	}
	text(FieldContactName, p.ContactName, "Contact name", true, MaxNameLen)
	text(FieldCountry, p.Country, "Country", false, MaxCountryLen)

	switch {
	case p.Industry == "":
		v[FieldIndustry] = "Choose an industry."
	case !slices.Contains(Industries, p.Industry):
		v[FieldIndustry] = "Choose an industry from the list."
	}
	if p.Size != "" && !slices.Contains(Sizes, p.Size) {
		v[FieldSize] = "Choose a company size from the list."
	}

	text(FieldContactEmail, p.ContactEmail, "Contact email", true, MaxEmailLen)
	if _, bad := v[FieldContactEmail]; !bad && !validEmail(p.ContactEmail) {
		v[FieldContactEmail] = "Enter an email address like name@example.com."
	}
	text(FieldWebsite, p.Website, "Website", false, MaxWebsiteLen)
	if _, bad := v[FieldWebsite]; !bad && p.Website != "" && !validWebsite(p.Website) {
		v[FieldWebsite] = "Enter a web address like https://example.com."
	}
	if len(v) > 0 {
		return v
	}
	return nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".") && !strings.ContainsAny(s, " <>")
}

func validWebsite(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		strings.Contains(u.Hostname(), ".") && u.User == nil
}

// NameKey is the key that makes the company's name unique among
// look-alikes (see internal/namekey). It expects normalized params.
func (p SignupParams) NameKey() *string {
	k := namekey.Key(p.Name)
	return &k
}

func collapseSpaces(s string) string { return strings.Join(strings.Fields(s), " ") }
