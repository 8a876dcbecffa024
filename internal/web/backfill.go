package web

import "github.com/labstack/echo/v4"

// backfillRoutes: PLACEHOLDER, being implemented.
func (s *Server) backfillRoutes(g *echo.Group) { _ = g }
