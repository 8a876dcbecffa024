package web

import "github.com/labstack/echo/v4"

// loginRoutes: PLACEHOLDER, being implemented.
func (s *Server) loginRoutes(g *echo.Group) { _ = g }

// staffRoutes: PLACEHOLDER, being implemented.
func (s *Server) staffRoutes(g *echo.Group) { _ = g }
