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
// is up to date. The probe is public, so a failure answers a reason code
// (database_unreachable, database_not_migrated), never the error itself,
// which can name hosts, users and databases; only the log has the error.
func (s *Server) handleReadyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := db.CheckMigrated(ctx, s.pool); err != nil {
		reason := "database_unreachable"
		if errors.Is(err, db.ErrNotMigrated) {
			reason = "database_not_migrated"
		}
		c.Set(requestErrorKey, err) // logged on the request's line
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "reason": reason})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}
