package pages

// SetupProps is the first-run setup form, which creates the first admin.
// Token is the setup link's token, posted back with the form. Passwords
// are never sent back: their fields carry only errors.
type SetupProps struct {
	CSRF            string
	Token           string
	Email           Field
	Password        Field
	PasswordConfirm Field
}

// hasErrors reports whether any field of p has an error.
func (p SetupProps) hasErrors() bool {
	return p.Email.Error != "" || p.Password.Error != "" || p.PasswordConfirm.Error != ""
}
