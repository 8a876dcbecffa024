package web

import "github.com/labstack/echo/v4"

// companyRoutes: PLACEHOLDER, being implemented.
func (s *Server) companyRoutes(g *echo.Group) { _ = g }
