package web

import (
	"crypto/rand"
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/views/pages"
)

// signupForm is the signup form as posted.
type signupForm struct {
	CompanyName  string `form:"company_name"`
	Industry     string `form:"industry"`
	ContactName  string `form:"contact_name"`
	ContactEmail string `form:"contact_email"`
	Website      string `form:"website"`
	CompanySize  string `form:"company_size"`
	Country      string `form:"country"`
	SignupToken  string `form:"signup_token"`
}

func (f signupForm) params() company.SignupParams {
	return company.SignupParams{
		Name: f.CompanyName, Industry: f.Industry, ContactName: f.ContactName, ContactEmail: f.ContactEmail,
		Website: f.Website, Size: f.CompanySize, Country: f.Country, Token: f.SignupToken,
	}
}

// props renders the form with the user's values and the errors by field.
func (f signupForm) props(csrf string, problems company.ValidationError) pages.SignupProps {
	field := func(v, name string) pages.Field { return pages.Field{Value: v, Error: problems[name]} }
	return pages.SignupProps{
		CSRF:         csrf,
		SignupToken:  f.SignupToken,
		CompanyName:  field(f.CompanyName, company.FieldName),
		Industry:     field(f.Industry, company.FieldIndustry),
		ContactName:  field(f.ContactName, company.FieldContactName),
		ContactEmail: field(f.ContactEmail, company.FieldContactEmail),
		Website:      field(f.Website, company.FieldWebsite),
		CompanySize:  field(f.CompanySize, company.FieldSize),
		Country:      field(f.Country, company.FieldCountry),
		Industries:   company.Industries,
		Sizes:        company.Sizes,
	}
}

// newToken returns a random token for one rendering of the signup form.
func newToken() string { return rand.Text() }

// handleSignupForm handles "GET /signup".
func (s *Server) handleSignupForm(c echo.Context) error {
	f := signupForm{SignupToken: newToken()}
	return render(c, http.StatusOK, pages.SignupPage(s.meta(c, "Sign up"), f.props(csrfToken(c), nil)))
}

// handleSignupSubmit handles "POST /signup".
func (s *Server) handleSignupSubmit(c echo.Context) error {
	var f signupForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.").SetInternal(err)
	}
	if f.SignupToken == "" {
		f.SignupToken = newToken()
	}
	res, err := s.companies.CreateCompanyFromSignup(c.Request().Context(), f.params())
	var problems company.ValidationError
	switch {
	case errors.As(err, &problems):
	case errors.Is(err, company.ErrNameTaken):
		problems = company.ValidationError{company.FieldName: "A company with this name is already registered."}
	case err != nil:
		return err
	}
	if len(problems) > 0 {
		props := f.props(csrfToken(c), problems)
		if wantsFragment(c) {
			return render(c, http.StatusUnprocessableEntity, pages.SignupForm(props))
		}
		return render(c, http.StatusUnprocessableEntity, pages.SignupPage(s.meta(c, "Sign up"), props))
	}
	_ = res
	return redirect(c, "/signup/done?token="+url.QueryEscape(f.SignupToken))
}

// handleSignupDone handles "GET /signup/done?token=…": the confirmation,
// found by the form's token so that only the person who signed up sees it.
func (s *Server) handleSignupDone(c echo.Context) error {
	token := c.QueryParam("token")
	if token == "" {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	co, err := s.companies.GetBySignupToken(c.Request().Context(), token)
	if err != nil {
		return err
	}
	p := pages.SignupDoneProps{
		CompanyName: co.Name, Industry: co.Industry, ProjectID: co.OpenAIProjectID, Status: string(co.Status),
		PollURL: "/signup/done?token=" + url.QueryEscape(token),
	}
	if wantsFragment(c) {
		return render(c, http.StatusOK, pages.SignupDoneCard(p))
	}
	return render(c, http.StatusOK, pages.SignupDonePage(s.meta(c, "Welcome"), p))
}
