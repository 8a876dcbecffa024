package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/static"
)

// routes lists every route group, so the app's whole surface reads in one
// place; each area registers its routes in its own file.
func (s *Server) routes() {
	e := s.e
	s.commonMiddleware()

	// Probes and metrics: no CSRF, no session. /metrics is on the public
	// address only for a bearer METRICS_TOKEN (metrics.go).
	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	if h := s.MetricsHandler(); h != nil && s.cfg.MetricsToken != "" {
		e.GET("/metrics", echo.WrapHandler(h), s.requireMetricsToken)
	}
	e.GET("/static/*", echo.WrapHandler(http.StripPrefix("/static/", http.FileServerFS(static.FS))), cacheStatic)

	// Browser pages: every state-changing form carries a CSRF token; the
	// session cookie tells who is signed in (session.go).
	pages := e.Group("", s.staffSession(), s.csrf)
	pages.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/signup") })
	pages.GET("/signup", s.handleSignupForm)
	pages.POST("/signup", s.handleSignupSubmit)
	pages.GET("/signup/done", s.handleSignupDone)
	s.setupRoutes(pages) // setup.go: /setup, /setup/pending (first run)

	// Staff dashboard (routes_admin.go) and JSON API (routes_api.go).
	s.adminRoutes(pages)
	s.apiRoutes(e.Group("/api", noStore, s.staffSession()))
	s.apiV1Routes(e.Group("/api/v1")) // api_v1.go: the host-app API (service tokens)
	s.jobsRoutes(e)                   // jobs.go: River's job dashboard

}

func cacheStatic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		return next(c)
	}
}
