package web

import (
	"context"
	"errors"
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/provision"
)

// backfillControlRoutes registers Pause, Resume and Cancel of a run
// (admins only, audited by provision).
func (s *Server) backfillControlRoutes(b *echo.Group) {
	b.POST("/:id/pause", s.handleBackfillPause)
	b.POST("/:id/resume", s.handleBackfillResume)
	b.POST("/:id/cancel", s.handleBackfillCancel)
}

// handleBackfillPause handles "POST /admin/backfill/:id/pause".
func (s *Server) handleBackfillPause(c echo.Context) error {
	return s.controlRun(c, s.backfill.Pause, "Backfill paused. Companies already in flight finish their current call.")
}

// handleBackfillResume handles "POST /admin/backfill/:id/resume".
func (s *Server) handleBackfillResume(c echo.Context) error {
	return s.controlRun(c, s.backfill.Resume, "Backfill resumed.")
}

// handleBackfillCancel handles "POST /admin/backfill/:id/cancel".
func (s *Server) handleBackfillCancel(c echo.Context) error {
	return s.controlRun(c, s.backfill.Cancel,
		"Backfill cancelled. Companies it already provisioned keep their project; those it left half-way are marked failed, ready to retry.")
}

// controlRun applies one control and shows the run again, with what
// happened; a control that no longer applies (the run ended meanwhile)
// says so instead of failing.
func (s *Server) controlRun(c echo.Context, do func(ctx context.Context, a audit.Actor, id int64) (provision.Run, error), done string) error {
	id, err := runID(c)
	if err != nil {
		return err
	}
	_, err = do(c.Request().Context(), actor(c), id)
	switch {
	case err == nil:
		s.flash(c, "success", done)
	case errors.Is(err, provision.ErrRunNotRunning):
		s.flash(c, "info", "This run is over already; nothing changed.")
	case errors.Is(err, provision.ErrRunPaused):
		s.flash(c, "info", "This run is paused already.")
	case errors.Is(err, provision.ErrRunNotPaused):
		s.flash(c, "info", "This run is not paused; nothing changed.")
	default:
		return err
	}
	return redirect(c, runURL(id))
}

// runState is a run's state in the backfill's one vocabulary: running,
// paused, stalled, finished, failed or cancelled.
func runState(r provision.Run) string {
	switch {
	case r.Running() && r.Paused:
		return "paused"
	case r.Stalled:
		return "stalled"
	}
	return string(r.Status)
}

// stallSentence explains a stalled run.
func stallSentence(r provision.Run) string {
	if r.LastError == "" {
		return "Stalled: OpenAI is not answering (no error yet; calls are still waiting)."
	}
	sentence, _ := humanSentence(r.LastError)
	return fmt.Sprintf("Stalled: OpenAI is not answering (last error: %s)", sentence)
}
