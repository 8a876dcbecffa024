package web

import "github.com/labstack/echo/v4"

// apiRoutes registers the JSON API under /api.
func (s *Server) apiRoutes(api *echo.Group) {
	_ = api
}
