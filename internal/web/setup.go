package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/views/pages"
)

// The first-run setup: a server started with no staff users gets a setup
// token (printed by `serve` as a link). /setup?token=… creates the first
// admin once; until a staff user exists, the dashboard redirects to
// /setup/pending, which explains how to finish setup.
//
// The token lives only in this process's memory: a restart prints a new
// link, and with several replicas only the one that printed a link knows
// its token. That is enough for a first run on one machine; deployments
// create their first admin with ADMIN_EMAIL / ADMIN_PASSWORD or
// `provisioner user add`.

// firstRun is the state of a first run.
type firstRun struct {
	token string
	// done is set once a staff user exists, and never unset: staff users
	// are disabled, not deleted.
	done atomic.Bool
	// create serialises submissions: only this process knows the token,
	// so racing submissions all arrive here, and the first one wins.
	create sync.Mutex
}

func newFirstRun(token string) *firstRun {
	if token == "" {
		return nil
	}
	return &firstRun{token: token}
}

// setupPendingPath is the page that explains how to finish setup.
const setupPendingPath = "/setup/pending"

// setupRoutes registers the first-run pages.
func (s *Server) setupRoutes(g *echo.Group) {
	g.GET("/setup", s.handleSetupForm)
	g.POST("/setup", s.handleSetupSubmit)
	g.GET(setupPendingPath, s.handleSetupPending)
}

// setupPending reports whether this is a first run with no staff user yet.
// Once there is one it answers without asking the database.
func (s *Server) setupPending(ctx context.Context) (bool, error) {
	if s.setup == nil || s.setup.done.Load() {
		return false, nil
	}
	n, err := s.auth.CountUsers(ctx)
	if err != nil {
		return false, err
	}
	if n > 0 {
		s.setup.done.Store(true)
		return false, nil
	}
	return true, nil
}

// requireSetupDone sends every dashboard request to the setup explanation
// while a first run has no staff user: nobody could sign in anyway.
func (s *Server) requireSetupDone(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		pending, err := s.setupPending(c.Request().Context())
		if err != nil {
			return err
		}
		if pending {
			return redirect(c, setupPendingPath)
		}
		return next(c)
	}
}

// checkSetupToken answers 404 unless setup is pending and token is the
// setup token: the page does not exist for anyone else.
func (s *Server) checkSetupToken(c echo.Context, token string) error {
	pending, err := s.setupPending(c.Request().Context())
	if err != nil {
		return err
	}
	if !pending || subtle.ConstantTimeCompare([]byte(token), []byte(s.setup.token)) != 1 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	// The URL carries the token: keep the page out of caches.
	c.Response().Header().Set("Cache-Control", "no-store")
	return nil
}

// setupForm is the setup form as posted.
type setupForm struct {
	Token           string `form:"token"`
	Email           string `form:"email"`
	Password        string `form:"password"`
	PasswordConfirm string `form:"password_confirm"`
}

// validate checks the account against auth's rules and the stricter
// rules of the first admin's password.
func (f setupForm) validate() auth.ValidationError {
	problems := auth.ValidationError{}
	err := auth.NewAccount{Email: f.Email, Role: auth.RoleAdmin, Password: f.Password}.Normalize().Validate()
	var v auth.ValidationError
	if errors.As(err, &v) {
		for k, msg := range v {
			problems[k] = msg
		}
	}
	if problems[auth.FieldPassword] == "" {
		if msg := weakPassword(f.Email, f.Password); msg != "" {
			problems[auth.FieldPassword] = msg
		}
	}
	if f.Password != f.PasswordConfirm {
		problems[fieldPasswordConfirm] = "The two passwords do not match."
	}
	return problems
}

// fieldPasswordConfirm is the confirmation input's name.
const fieldPasswordConfirm = "password_confirm"

// weakPassword returns what is wrong with a password that auth's length
// rule lets through, or "": it must mix at least two kinds of characters
// and must not be the email address.
func weakPassword(email, password string) string {
	if strings.EqualFold(strings.TrimSpace(password), strings.TrimSpace(email)) {
		return "The password must not be your email address."
	}
	var lower, upper, digit, other bool
	for _, r := range password {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	kinds := 0
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			kinds++
		}
	}
	if kinds < 2 {
		return "Mix at least two kinds of characters: lower case, upper case, digits, symbols."
	}
	return ""
}

// props renders the form with its values (never the passwords) and errors.
func (f setupForm) props(csrf string, problems auth.ValidationError) pages.SetupProps {
	return pages.SetupProps{
		CSRF:            csrf,
		Token:           f.Token,
		Email:           pages.Field{Value: strings.TrimSpace(f.Email), Error: problems[auth.FieldEmail]},
		Password:        pages.Field{Error: problems[auth.FieldPassword]},
		PasswordConfirm: pages.Field{Error: problems[fieldPasswordConfirm]},
	}
}

// handleSetupForm handles "GET /setup?token=…".
func (s *Server) handleSetupForm(c echo.Context) error {
	f := setupForm{Token: c.QueryParam("token")}
	if err := s.checkSetupToken(c, f.Token); err != nil {
		return err
	}
	return s.renderSetup(c, http.StatusOK, f.props(csrfToken(c), nil))
}

// handleSetupSubmit handles "POST /setup": it creates the first admin,
// unless a staff user exists by then (of racing submissions one wins, the
// others get 404), and signs them in.
func (s *Server) handleSetupSubmit(c echo.Context) error {
	var f setupForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.").SetInternal(err)
	}
	if err := s.checkSetupToken(c, f.Token); err != nil {
		return err
	}
	problems := f.validate()
	if len(problems) > 0 {
		return s.renderSetup(c, http.StatusUnprocessableEntity, f.props(csrfToken(c), problems))
	}
	ctx := c.Request().Context()
	s.setup.create.Lock()
	defer s.setup.create.Unlock()
	if err := s.checkSetupToken(c, f.Token); err != nil { // another submission was first
		return err
	}
	created, err := s.auth.CreateFirstAdmin(ctx, audit.Actor{Email: "first-run setup page", Addr: c.RealIP()}, f.Email, f.Password)
	switch {
	case errors.As(err, &problems):
		return s.renderSetup(c, http.StatusUnprocessableEntity, f.props(csrfToken(c), problems))
	case err != nil:
		return err
	}
	s.setup.done.Store(true)
	if !created { // `provisioner user add` was first
		return echo.NewHTTPError(http.StatusNotFound)
	}
	s.logger.Info("first admin created on the setup page", slog.String("ip", c.RealIP()))

	u, token, err := s.auth.Login(ctx, f.Email, f.Password, rateKey(c.RealIP()))
	if err != nil {
		// The account exists; signing in by hand still works.
		s.logger.Warn("sign in the first admin", slog.Any("error", err))
		s.flash(c, "success", "Your admin account is ready: sign in.")
		return redirect(c, "/admin/login")
	}
	sess, err := s.cookieSession(c)
	if err != nil {
		return err
	}
	auth.SetSessionToken(sess, token)
	s.flash(c, "success", fmt.Sprintf("Welcome, %s: you are the first admin. Add staff under Staff.", u.Email))
	return redirect(c, defaultAfterLogin)
}

// handleSetupPending handles "GET /setup/pending": how to finish setup, or
// the login page once there is a staff user.
func (s *Server) handleSetupPending(c echo.Context) error {
	pending, err := s.setupPending(c.Request().Context())
	if err != nil {
		return err
	}
	if !pending {
		return redirect(c, "/admin/login")
	}
	return render(c, http.StatusOK, pages.SetupPendingPage(s.meta(c, "Finish setup")))
}

func (s *Server) renderSetup(c echo.Context, code int, p pages.SetupProps) error {
	return render(c, code, pages.SetupPage(s.meta(c, "First-run setup"), p))
}
