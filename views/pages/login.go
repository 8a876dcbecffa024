package pages

// LoginProps is the staff login form. Next is where to go after signing
// in; Error is shown above the fields.
type LoginProps struct {
	CSRF  string
	Email string
	Error string
	Next  string
}
