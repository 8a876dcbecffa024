package web

import (
	"github.com/labstack/echo/v4"
)

// JobsPrefix is where River's job dashboard is served.
const JobsPrefix = "/admin/jobs"

// jobsRoutes serves River's job dashboard to admins. It is a prebuilt React
// app with its own JSON API, so it sits outside the CSRF group: its POSTs
// (retry, cancel) carry the session cookie, which is SameSite=Lax and so
// never sent by another site's form or script.
func (s *Server) jobsRoutes(e *echo.Echo) {
	if s.jobsUI == nil {
		return
	}
	g := e.Group(JobsPrefix, s.staffSession(), s.requireSetupDone, s.requireStaff, s.requireAdmin, riverUICSP, s.jobsBackLink)
	h := echo.WrapHandler(s.jobsUI)
	g.Any("", h)
	g.Any("/*", h)
}

// riverUICSP loosens the policy for River's UI only: its React components
// set inline styles. Scripts still come from our own origin only.
func riverUICSP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderContentSecurityPolicy,
			"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'")
		return next(c)
	}
}
