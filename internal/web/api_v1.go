package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/apitoken"
)

// The host-app API, /api/v1: JSON, authenticated by service tokens
// ("Authorization: Bearer pvt_…", internal/apitoken), each route guarded by
// one scope. Every answer carries Cache-Control: no-store (some hold a key
// value). There are no cookies here, so no CSRF: a cross-site page cannot
// send a bearer token it does not have.
//
// To add a route elsewhere (e.g. costs, in its own file):
//
//	func (s *Server) apiV1CostRoutes(v1 *echo.Group) {
//		v1.GET("/costs", s.handleAPICosts, s.requireScope(apitoken.ScopeCostsRead))
//	}
//
// registered with one line in apiV1Routes. In the handler, apiTokenOf(c)
// is the token and apiTokenOf(c).Actor() its audit actor.

// apiV1Routes registers /api/v1. Its routes live in api_v1_*.go.
func (s *Server) apiV1Routes(v1 *echo.Group) {
	v1.Use(noStore)
	v1.GET("/openapi.json", s.handleAPIOpenAPI)                    // the document itself needs no token
	s.apiV1CompanyRoutes(v1)                                       // api_v1_companies.go
	s.apiV1KeyRoutes(v1)                                           // api_v1_keys.go
	s.apiV1CostRoutes(v1, s.requireScope(apitoken.ScopeCostsRead)) // api_v1_costs.go
	s.apiPolicyRoutes(v1)                                          // api_policy.go
}

const apiTokenContextKey = "api_v1_token"

// requireScope authenticates the request's service token (once per
// request) and lets it through only if the token holds scope. It answers
// 401 for a missing, malformed, unknown or revoked token, 403 for a
// missing scope and 429 with Retry-After past the token's rate limit.
func (s *Server) requireScope(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			tok, ok := apiTokenOf(c)
			if !ok {
				var err error
				if tok, err = s.authenticateToken(c); err != nil {
					return err
				}
				c.Set(apiTokenContextKey, tok)
			}
			if !tok.Has(scope) {
				return echo.NewHTTPError(http.StatusForbidden, "This token lacks the scope "+scope+".")
			}
			return next(c)
		}
	}
}

func (s *Server) authenticateToken(c echo.Context) (apitoken.Token, error) {
	if s.tokens == nil {
		return apitoken.Token{}, echo.NewHTTPError(http.StatusServiceUnavailable, "The API is not configured.")
	}
	h := c.Request().Header.Get(echo.HeaderAuthorization)
	value, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(value) == "" {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="provisioner-api"`)
		return apitoken.Token{}, echo.NewHTTPError(http.StatusUnauthorized, "Send Authorization: Bearer <token> (create one with `provisioner token create`).")
	}
	tok, err := s.tokens.Authenticate(c.Request().Context(), strings.TrimSpace(value))
	var rl *apitoken.RateLimitedError
	switch {
	case errors.Is(err, apitoken.ErrInvalid):
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="provisioner-api", error="invalid_token"`)
		return apitoken.Token{}, echo.NewHTTPError(http.StatusUnauthorized, "The token is not valid (unknown or revoked).")
	case errors.As(err, &rl):
		secs := int(rl.RetryAfter.Round(time.Second) / time.Second)
		c.Response().Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		return apitoken.Token{}, echo.NewHTTPError(http.StatusTooManyRequests, "This token has reached its rate limit; retry after the Retry-After seconds.")
	case err != nil:
		return apitoken.Token{}, err
	}
	return tok, nil
}

// apiTokenOf is the token requireScope authenticated.
func apiTokenOf(c echo.Context) (apitoken.Token, bool) {
	t, ok := c.Get(apiTokenContextKey).(apitoken.Token)
	return t, ok
}

// apiFieldErrors answers 422 with the problems by field name:
// {"error": {"status": 422, "message": …, "fields": {"company_name": …}}}.
func apiFieldErrors(c echo.Context, fields map[string]string) error {
	return c.JSON(http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{
		"status": http.StatusUnprocessableEntity, "message": "Some fields are not valid.", "fields": fields,
	}})
}

// bindJSON decodes a JSON body strictly (unknown fields are refused), and
// answers 400 or 415 otherwise.
func bindJSON(c echo.Context, v any) error {
	if !isJSON(c.Request()) {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Send the body as JSON (Content-Type: application/json).")
	}
	dec := newStrictDecoder(c.Request().Body)
	if err := dec.Decode(v); err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The body is not valid JSON for this request: "+jsonProblem(err)+".")
	}
	if dec.More() {
		return echo.NewHTTPError(http.StatusBadRequest, "The body holds more than one JSON value.")
	}
	return nil
}
