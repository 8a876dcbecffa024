package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/views/pages"
)

// loginRoutes registers the staff login and logout, which need no session.
func (s *Server) loginRoutes(g *echo.Group) {
	g.GET("/login", s.handleLoginForm)
	g.POST("/login", s.handleLoginSubmit)
	g.POST("/logout", s.handleLogout)
}

// staffRoutes registers staff management, for admins only.
func (s *Server) staffRoutes(g *echo.Group) {
	g.GET("/staff", s.handleStaffList, s.requireAdmin)
	g.POST("/staff", s.handleStaffAdd, s.requireAdmin)
	g.POST("/staff/:id/disable", s.handleStaffDisable, s.requireAdmin)
}

// badLogin is the one answer to every failed login, so that it never
// tells whether the email exists.
const badLogin = "Email or password is incorrect."

// loginForm is the login form as posted.
type loginForm struct {
	Email    string `form:"email"`
	Password string `form:"password"`
	Next     string `form:"next"`
}

// handleLoginForm handles "GET /admin/login".
func (s *Server) handleLoginForm(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if _, ok := currentUser(c); ok {
		return redirect(c, afterLogin(next))
	}
	return s.renderLogin(c, http.StatusOK, pages.LoginProps{Next: next})
}

// handleLoginSubmit handles "POST /admin/login".
func (s *Server) handleLoginSubmit(c echo.Context) error {
	var f loginForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.").SetInternal(err)
	}
	props := pages.LoginProps{Email: strings.TrimSpace(f.Email), Next: safeNext(f.Next)}
	ctx := c.Request().Context()
	u, token, err := s.auth.Login(ctx, f.Email, f.Password, rateKey(c.RealIP()))
	var throttled *auth.ThrottledError
	switch {
	case errors.As(err, &throttled):
		c.Response().Header().Set("Retry-After", strconv.Itoa(throttled.Seconds()))
		props.Error = "Too many attempts, try again in " + throttleWait(throttled) + "."
		s.logger.Warn("login throttled", slog.String("ip", c.RealIP()))
		return s.renderLogin(c, http.StatusTooManyRequests, props)
	case errors.Is(err, auth.ErrBadCredentials):
		props.Error = badLogin
		s.logger.Warn("login failed", slog.String("ip", c.RealIP()))
		return s.renderLogin(c, http.StatusUnauthorized, props)
	case err != nil:
		return err
	}

	sess, err := s.cookieSession(c)
	if err != nil {
		return err
	}
	// Whatever session the browser had before ends here: the new token is
	// the only one this cookie will carry (no session fixation).
	if old := auth.SessionToken(sess); old != "" {
		if err := s.auth.Logout(ctx, old); err != nil {
			return err
		}
	}
	auth.SetSessionToken(sess, token)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return fmt.Errorf("save session cookie: %w", err)
	}
	s.logger.Info("staff signed in", slog.Int64("staff_id", u.ID), slog.String("role", string(u.Role)))
	return redirect(c, afterLogin(props.Next))
}

// handleLogout handles "POST /admin/logout": the server-side session is
// revoked, so a copy of the old cookie no longer works either.
func (s *Server) handleLogout(c echo.Context) error {
	sess, err := s.cookieSession(c)
	if err != nil {
		return err
	}
	if err := s.auth.Logout(c.Request().Context(), auth.SessionToken(sess)); err != nil {
		return err
	}
	auth.ClearSessionToken(sess)
	if u, ok := currentUser(c); ok {
		s.logger.Info("staff signed out", slog.Int64("staff_id", u.ID))
	}
	s.flash(c, "success", "You have signed out.")
	return redirect(c, "/admin/login")
}

func (s *Server) renderLogin(c echo.Context, code int, p pages.LoginProps) error {
	m := s.meta(c, "Staff sign in")
	m.Flashes = s.takeFlashes(c)
	p.CSRF = m.CSRF
	return render(c, code, pages.LoginPage(m, p))
}

// throttleWait is a login throttle's wait for people to read.
func throttleWait(t *auth.ThrottledError) string {
	switch n := t.Seconds(); {
	case n < 60:
		if n == 1 {
			return "1 second"
		}
		return fmt.Sprintf("%d seconds", n)
	case t.Minutes() == 1:
		return "1 minute"
	default:
		return fmt.Sprintf("%d minutes", t.Minutes())
	}
}

// afterLogin is where a login goes: next if given, else the dashboard.
func afterLogin(next string) string {
	if next == "" {
		return defaultAfterLogin
	}
	return next
}

// staffForm is the "add staff user" form as posted.
type staffForm struct {
	Email           string `form:"email"`
	Role            string `form:"role"`
	Password        string `form:"password"`
	PasswordConfirm string `form:"password_confirm"`
}

// props renders the form with its values (never the passwords) and errors.
func (f staffForm) props(csrf string, problems auth.ValidationError, confirmErr string) pages.StaffFormProps {
	roles := make([]string, len(auth.Roles))
	for i, r := range auth.Roles {
		roles[i] = string(r)
	}
	return pages.StaffFormProps{
		CSRF:            csrf,
		Email:           pages.Field{Value: f.Email, Error: problems[auth.FieldEmail]},
		Role:            pages.Field{Value: f.Role, Error: problems[auth.FieldRole]},
		Password:        pages.Field{Error: problems[auth.FieldPassword]},
		PasswordConfirm: pages.Field{Error: confirmErr},
		Roles:           roles,
	}
}

// handleStaffList handles "GET /admin/staff".
func (s *Server) handleStaffList(c echo.Context) error {
	return s.renderStaff(c, http.StatusOK, staffForm{}.props(csrfToken(c), nil, ""))
}

// handleStaffAdd handles "POST /admin/staff".
func (s *Server) handleStaffAdd(c echo.Context) error {
	var f staffForm
	if err := c.Bind(&f); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.").SetInternal(err)
	}
	confirmErr := ""
	if f.Password != f.PasswordConfirm {
		confirmErr = "The two passwords do not match."
	}
	var problems auth.ValidationError
	acc := auth.NewAccount{Email: f.Email, Role: auth.Role(f.Role), Password: f.Password}
	if err := acc.Normalize().Validate(); err != nil && !errors.As(err, &problems) {
		return err
	}
	if problems == nil && confirmErr == "" {
		created, err := s.auth.CreateUser(c.Request().Context(), actor(c), acc)
		switch {
		case errors.As(err, &problems):
		case errors.Is(err, auth.ErrEmailTaken):
			problems = auth.ValidationError{auth.FieldEmail: "A staff user with this email already exists."}
		case err != nil:
			return err
		default:
			s.flash(c, "success", fmt.Sprintf("Added %s as %s.", created.Email, created.Role))
			return redirect(c, "/admin/staff")
		}
	}
	props := f.props(csrfToken(c), problems, confirmErr)
	if wantsFragment(c) {
		return render(c, http.StatusUnprocessableEntity, pages.StaffAddForm(props))
	}
	return s.renderStaff(c, http.StatusUnprocessableEntity, props)
}

// handleStaffDisable handles "POST /admin/staff/:id/disable".
func (s *Server) handleStaffDisable(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return auth.ErrNotFound
	}
	acc, err := s.auth.DisableUser(c.Request().Context(), actor(c), id)
	switch {
	case errors.Is(err, auth.ErrDisableSelf):
		s.flash(c, "error", "You cannot disable your own account.")
	case errors.Is(err, auth.ErrAlreadyDisabled):
		s.flash(c, "info", acc.Email+" was already disabled.")
	case errors.Is(err, auth.ErrLastAdmin):
		s.flash(c, "error", acc.Email+" is the last active admin and cannot be disabled. Add another admin first.")
	case err != nil:
		return err
	default:
		s.flash(c, "success", fmt.Sprintf("Disabled %s and ended their sessions.", acc.Email))
	}
	return redirect(c, "/admin/staff")
}

func (s *Server) renderStaff(c echo.Context, code int, form pages.StaffFormProps) error {
	accounts, err := s.auth.ListUsers(c.Request().Context())
	if err != nil {
		return err
	}
	me, _ := currentUser(c)
	rows := make([]pages.StaffRow, len(accounts))
	for i, a := range accounts {
		rows[i] = pages.StaffRow{
			ID: strconv.FormatInt(a.ID, 10), Email: a.Email, Role: string(a.Role), Disabled: a.Disabled,
			Created: a.CreatedAt.UTC().Format(minuteLayout), LastLogin: "Never", IsSelf: a.ID == me.ID,
			DisableURL: fmt.Sprintf("/admin/staff/%d/disable", a.ID),
		}
		if a.LastLoginAt != nil {
			rows[i].LastLogin = a.LastLoginAt.UTC().Format(minuteLayout)
		}
	}
	m := s.adminMeta(c, "Staff", "staff")
	return render(c, code, pages.StaffPage(m, pages.StaffProps{CSRF: m.CSRF, Rows: rows, Form: form}))
}
