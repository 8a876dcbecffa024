package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/db"
)

// handleHealthz handles "GET /healthz": the process is alive.
func (s *Server) handleHealthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz handles "GET /readyz": the database answers and its schema
// is up to date.
func (s *Server) handleReadyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := db.CheckMigrated(ctx, s.pool); err != nil {
		reason := "database unreachable"
		if errors.Is(err, db.ErrNotMigrated) {
			reason = "database not migrated"
		}
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason, "error": err.Error()})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
