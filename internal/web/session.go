package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/views/layouts"
)

// This file is the contract between the staff-auth code and the dashboard
// handlers. PLACEHOLDER bodies: being implemented by the auth work.

// currentUser returns the signed-in staff member of the request.
func currentUser(c echo.Context) (auth.User, bool) {
	u, ok := c.Get("staff_user").(auth.User)
	return u, ok
}

// requireStaff lets signed-in staff through; others are sent to the login
// page (browser) or get 401 (API).
func (s *Server) requireStaff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := currentUser(c); !ok {
			return echo.NewHTTPError(http.StatusUnauthorized)
		}
		return next(c)
	}
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
// the next page rendered for this session.
func (s *Server) flash(c echo.Context, kind, text string) {}

// adminMeta is the layout data for a dashboard page: user, CSRF token,
// pending flashes (consumed), active nav item.
func (s *Server) adminMeta(c echo.Context, title, nav string) layouts.Meta {
	m := s.meta(c, title)
	m.Nav = nav
	if u, ok := currentUser(c); ok {
		m.User = &layouts.User{Email: u.Email, Role: string(u.Role), IsAdmin: u.IsAdmin()}
	}
	return m
}
