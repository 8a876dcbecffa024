package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/audit"
)

// apiRoutes registers the JSON API under /api. Its group has no CSRF
// middleware (API clients hold no form token); requireAPIAdmin keeps
// cookie-authenticated requests safe instead.
func (s *Server) apiRoutes(api *echo.Group) {
	backfill := api.Group("/admin/openai/projects/backfill", s.requireAPIAdmin)
	backfill.POST("", s.handleAPIBackfillStart)
	backfill.GET("/:id", s.handleAPIBackfillGet)
	api.POST("/admin/keys/backfill", s.handleAPIKeysBackfill, s.requireAPIAdmin) // keys_admin.go
}

// apiActorKey is where requireAPIAdmin puts the audit.Actor of the request.
const apiActorKey = "api_actor"

// requireAPIAdmin lets through requests with "Authorization: Bearer
// <ADMIN_API_TOKEN>" (actor "api") or an admin's session cookie.
//
// Cookies ride along on cross-site requests, so a cookie-authenticated
// request that changes something must be JSON: a cross-site page can only
// send Content-Type application/json with fetch, whose CORS preflight this
// app never answers, so no other site can forge one. That is why no CSRF
// token is needed here.
func (s *Server) requireAPIAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if h := r.Header.Get(echo.HeaderAuthorization); h != "" {
			token, ok := strings.CutPrefix(h, "Bearer ")
			if !ok || !s.validAPIToken(token) {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="provisioner"`)
				return echo.NewHTTPError(http.StatusUnauthorized, "The API token is not valid.")
			}
			c.Set(apiActorKey, audit.Actor{Email: "api", Addr: c.RealIP()})
			return next(c)
		}
		u, ok := currentUser(c)
		switch {
		case !ok:
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="provisioner"`)
			return echo.NewHTTPError(http.StatusUnauthorized, "Send Authorization: Bearer <ADMIN_API_TOKEN>, or sign in as an admin.")
		case !u.IsAdmin():
			return echo.NewHTTPError(http.StatusForbidden, "Only admins may run the backfill.")
		case r.Method != http.MethodGet && r.Method != http.MethodHead && !isJSON(r):
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Send the request body as JSON (Content-Type: application/json).")
		}
		c.Set(apiActorKey, actor(c))
		return next(c)
	}
}

// validAPIToken compares in constant time; hashing first hides the
// token's length too. No token is configured: nothing is valid.
func (s *Server) validAPIToken(token string) bool {
	if s.cfg.AdminAPIToken == "" {
		return false
	}
	got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(s.cfg.AdminAPIToken))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// apiActor is who makes the API request, as requireAPIAdmin found.
func apiActor(c echo.Context) audit.Actor {
	a, _ := c.Get(apiActorKey).(audit.Actor)
	return a
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	return err == nil && mt == echo.MIMEApplicationJSON
}
