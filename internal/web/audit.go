package web

import "github.com/labstack/echo/v4"

// auditRoutes: PLACEHOLDER, being implemented.
func (s *Server) auditRoutes(g *echo.Group) { _ = g }
