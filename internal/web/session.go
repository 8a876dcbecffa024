package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo-contrib/session"
	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/views/layouts"
)

// This file is the contract between the staff-auth code and the dashboard
// handlers: who is signed in, role checks, flash messages and the layout
// data of dashboard pages.

// staffUserKey is where loadStaff puts the signed-in auth.User.
const staffUserKey = "staff_user"

// defaultAfterLogin is where a login goes when it was not sent from a page.
const defaultAfterLogin = "/admin/companies"

// currentUser returns the signed-in staff member of the request.
func currentUser(c echo.Context) (auth.User, bool) {
	u, ok := c.Get(staffUserKey).(auth.User)
	return u, ok
}

// actor is the signed-in staff member as the audit log records them.
func actor(c echo.Context) audit.Actor {
	u, _ := currentUser(c)
	return audit.Actor{ID: u.ID, Email: u.Email, Addr: c.RealIP()}
}

// staffSession makes the session cookie available to the handlers and
// resolves it to the signed-in staff member, if any.
func (s *Server) staffSession() echo.MiddlewareFunc {
	withStore := session.Middleware(s.auth.CookieStore())
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return withStore(s.loadStaff(next))
	}
}

// loadStaff looks the cookie's session token up (one query: the session
// must be live and its user enabled) and sets the user for currentUser.
// A request without a live session goes on anonymously; requireStaff
// decides what that means.
func (s *Server) loadStaff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.cookieSession(c)
		if err != nil {
			return err
		}
		if token := auth.SessionToken(sess); token != "" {
			u, err := s.auth.Authenticate(c.Request().Context(), token)
			switch {
			case err == nil:
				c.Set(staffUserKey, u)
			case !errors.Is(err, auth.ErrNoSession):
				return err
			}
		}
		return next(c)
	}
}

// cookieSession returns the request's session cookie: a new, empty one
// when the cookie is missing or cannot be decoded (for instance because it
// was made with another SESSION_SECRET).
func (s *Server) cookieSession(c echo.Context) (*sessions.Session, error) {
	sess, err := session.Get(s.auth.CookieName(), c)
	if sess == nil {
		return nil, fmt.Errorf("session cookie: %w", err)
	}
	return sess, nil
}

// requireStaff lets signed-in staff through. Others are sent to the login
// page, which brings them back here afterwards (browser, htmx), or get 401
// (API and JSON clients).
func (s *Server) requireStaff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := currentUser(c); ok {
			return next(c)
		}
		if wantsJSON(c) {
			return echo.NewHTTPError(http.StatusUnauthorized, "Sign in as staff first.")
		}
		return redirect(c, loginURL(c))
	}
}

// loginURL is the login page with next set to the page the request came
// for, when going back there after login makes sense.
func loginURL(c echo.Context) string {
	r := c.Request()
	next := ""
	switch {
	case isHTMX(c):
		// The fragment's URL is no page; go back to the page showing it.
		if cur := r.Header.Get("HX-Current-URL"); cur != "" {
			if u, err := url.Parse(cur); err == nil {
				next = u.RequestURI()
			}
		}
	case r.Method == http.MethodGet:
		next = r.URL.RequestURI()
	}
	if next = safeNext(next); next == "" {
		return "/admin/login"
	}
	return "/admin/login?next=" + url.QueryEscape(next)
}

// safeNext returns next if it is a path on this site, else "". It refuses
// anything a browser could read as another origin: absolute and
// scheme-relative URLs ("//evil.example"), backslashes (which browsers
// treat as slashes) and control characters.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsRune(next, '\\') || strings.ContainsFunc(next, unicode.IsControl) {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return ""
	}
	return next
}

// requireAdmin answers 403 unless the signed-in staff member is an admin.
// Use it after requireStaff.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u, ok := currentUser(c); !ok || !u.IsAdmin() {
			return echo.NewHTTPError(http.StatusForbidden, "Only admins may do that.")
		}
		return next(c)
	}
}

// flash queues a one-shot message ("success", "error" or "info") shown on
// the next page rendered for this session. Call it before writing the
// response: it sets the session cookie.
func (s *Server) flash(c echo.Context, kind, text string) {
	sess, err := s.cookieSession(c)
	if err == nil {
		auth.AddFlash(sess, kind, text)
		err = sess.Save(c.Request(), c.Response())
	}
	if err != nil {
		s.logger.Error("save flash message", slog.Any("error", err))
	}
}

// takeFlashes removes the pending flash messages from the session and
// returns them, so that each is shown once.
func (s *Server) takeFlashes(c echo.Context) []layouts.Flash {
	sess, err := s.cookieSession(c)
	if err != nil {
		s.logger.Error("read flash messages", slog.Any("error", err))
		return nil
	}
	flashes := auth.TakeFlashes(sess)
	if len(flashes) == 0 {
		return nil
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		s.logger.Error("consume flash messages", slog.Any("error", err))
	}
	out := make([]layouts.Flash, len(flashes))
	for i, f := range flashes {
		out[i] = layouts.Flash{Kind: f.Kind, Text: f.Text}
	}
	return out
}

// adminMeta is the layout data for a dashboard page: user, CSRF token,
// pending flashes (consumed), active nav item.
func (s *Server) adminMeta(c echo.Context, title, nav string) layouts.Meta {
	m := s.meta(c, title)
	m.Nav = nav
	if u, ok := currentUser(c); ok {
		m.User = &layouts.User{Email: u.Email, Role: string(u.Role), IsAdmin: u.IsAdmin()}
	}
	m.Flashes = s.takeFlashes(c)
	return m
}
