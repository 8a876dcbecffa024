package web

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes lists every route group, so the app's whole surface reads in one
// place; each area registers its routes in its own file.
func (s *Server) routes() {
	e := s.e
	s.commonMiddleware()

	// Probes and metrics: no CSRF, no session.
	e.GET("/healthz", s.handleHealthz)
	e.GET("/readyz", s.handleReadyz)
	if s.gatherer != nil {
		e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.gatherer, promhttp.HandlerOpts{})))
	}
	e.GET("/static/*", staticFiles(), cacheStatic) // static.go

	// Browser pages: every state-changing form carries a CSRF token; the
	// session cookie tells who is signed in (session.go).
	pages := e.Group("", s.csrf(), s.staffSession())
	pages.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/signup") })
	pages.GET("/signup", s.handleSignupForm)
	pages.POST("/signup", s.handleSignupSubmit)
	pages.GET("/signup/done", s.handleSignupDone)
	s.setupRoutes(pages) // setup.go: /setup, /setup/pending (first run)

	// Staff dashboard (routes_admin.go) and JSON API (routes_api.go).
	s.adminRoutes(pages)
	s.apiRoutes(e.Group("/api", s.staffSession()))
	s.jobsRoutes(e) // jobs.go: River's job dashboard

}

// csrf requires a token on every unsafe request. Echo would let browsers
// that send Sec-Fetch-Site: same-origin through without one; we drop that
// header first so that every form is held to the same, testable rule.
func (s *Server) csrf() echo.MiddlewareFunc {
	mw := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:csrf,header:X-CSRF-Token",
		ContextKey:     "csrf",
		CookieName:     "_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.cfg.Production(),
		CookieSameSite: http.SameSiteLaxMode,
		CookieMaxAge:   86400,
		ErrorHandler: func(err error, c echo.Context) error {
			return echo.NewHTTPError(http.StatusForbidden,
				"This form has expired or did not come from this site. Reload the page and try again.").SetInternal(err)
		},
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := mw(next)
		return func(c echo.Context) error {
			c.Request().Header.Del(echo.HeaderSecFetchSite)
			return h(c)
		}
	}
}

func cacheStatic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		return next(c)
	}
}

// csrfToken is the token for the forms of the page being rendered.
func csrfToken(c echo.Context) string {
	t, _ := c.Get("csrf").(string)
	return t
}
