package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/ratelimit"
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
	ctx := c.Request().Context()
	// A form submitted again finds its company and spends no signup slot.
	if _, err := s.companies.GetBySignupToken(ctx, f.SignupToken); err == nil {
		return redirect(c, "/signup/done?token="+url.QueryEscape(f.SignupToken))
	} else if !errors.Is(err, company.ErrNotFound) {
		return err
	}
	var problems company.ValidationError
	if err := f.params().Normalize().Validate(); err != nil && !errors.As(err, &problems) {
		return err
	}
	if len(problems) > 0 {
		return s.renderSignupForm(c, http.StatusUnprocessableEntity, f.props(csrfToken(c), problems))
	}
	// The per-address limit: the slot is taken before the company is
	// created, so that concurrent requests cannot overshoot, and given
	// back when no company came of it.
	slot, err := s.signupLimit.Reserve(ctx, rateKey(c.RealIP()))
	if limited, ok := ratelimit.IsLimited(err); ok {
		s.logger.Warn("signup rate limited", slog.String("ip", c.RealIP()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(limited.RetryAfter.Seconds())+1))
		props := f.props(csrfToken(c), nil)
		props.FormError = fmt.Sprintf("Too many signups from your network. Nothing was created; please try again in %s.", waitText(limited.RetryAfter))
		return s.renderSignupForm(c, http.StatusTooManyRequests, props)
	} else if err != nil {
		return err
	}
	res, err := s.companies.CreateCompanyFromSignup(ctx, f.params())
	if err != nil || res.Resubmitted {
		if cerr := slot.Cancel(context.WithoutCancel(ctx)); cerr != nil {
			s.logger.Error("give back signup slot", slog.Any("error", cerr))
		}
	}
	switch {
	case errors.As(err, &problems):
	case errors.Is(err, company.ErrNameTaken):
		problems = company.ValidationError{company.FieldName: "A company with this name is already registered."}
	case err != nil:
		return err
	}
	if len(problems) > 0 {
		return s.renderSignupForm(c, http.StatusUnprocessableEntity, f.props(csrfToken(c), problems))
	}
	return redirect(c, "/signup/done?token="+url.QueryEscape(f.SignupToken))
}

// renderSignupForm answers with the form (a fragment for htmx, else the
// page) holding the user's values and the problems.
func (s *Server) renderSignupForm(c echo.Context, code int, props pages.SignupProps) error {
	if wantsFragment(c) {
		return render(c, code, pages.SignupForm(props))
	}
	return render(c, code, pages.SignupPage(s.meta(c, "Sign up"), props))
}

// waitText is a wait for people to read: "1 minute", "12 minutes".
func waitText(d time.Duration) string {
	m := int((d + time.Minute - 1) / time.Minute)
	if m <= 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
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
