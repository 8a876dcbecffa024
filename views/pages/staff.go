package pages

// StaffProps is the staff management page: every staff user and the form
// that adds one.
type StaffProps struct {
	CSRF string
	Rows []StaffRow
	Form StaffFormProps
}

// StaffRow is one staff user in the list, with values already formatted.
type StaffRow struct {
	ID        string
	Email     string
	Role      string // "admin" or "support"
	Disabled  bool
	Created   string
	LastLogin string // "Never" when the user has not signed in
	// IsSelf hides the disable button on the viewer's own row.
	IsSelf     bool
	DisableURL string
}

// StaffFormProps is the "add staff user" form. Passwords are never sent
// back: their fields carry only errors.
type StaffFormProps struct {
	CSRF            string
	Email           Field
	Role            Field
	Password        Field
	PasswordConfirm Field
	// Roles are the role choices, in display order.
	Roles []string
}

// hasErrors reports whether any field of p has an error.
func (p StaffFormProps) hasErrors() bool {
	return p.Email.Error != "" || p.Role.Error != "" || p.Password.Error != "" || p.PasswordConfirm.Error != ""
}
