package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/views/pages"
)

// statusOf maps an error to the HTTP status it answers with.
func statusOf(err error) (int, string) {
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		msg, _ := he.Message.(string)
		return he.Code, msg
	case errors.Is(err, company.ErrNotFound):
		return http.StatusNotFound, ""
	case db.IsUnavailable(err):
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

// handleError is the one place errors from handlers become responses: it
// logs them (5xx at Error, 4xx at Warn) and renders a page, a toast for
// htmx, or JSON for the API.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	code, msg := statusOf(err)
	level := slog.LevelWarn
	if code >= 500 {
		level = slog.LevelError
	}
	s.logger.LogAttrs(c.Request().Context(), level, "request failed",
		slog.String("path", c.Request().URL.Path), slog.Int("status", code), slog.Any("error", err),
		slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))
	if code >= 500 && code != http.StatusServiceUnavailable {
		msg = "" // never show internals
	}
	if code == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "5")
	}
	p := pages.ErrorProps{Status: code, Message: msg}
	var rerr error
	switch {
	case c.Request().Method == http.MethodHead:
		rerr = c.NoContent(code)
	case wantsJSON(c):
		if msg == "" {
			msg = http.StatusText(code)
		}
		rerr = c.JSON(code, map[string]any{"error": map[string]any{"status": code, "message": msg}})
	case isHTMX(c):
		// htmx swaps no error answer by itself; these headers (which
		// static/js/app.js honours) add the toast to the page's #toasts.
		c.Response().Header().Set("HX-Retarget", "#toasts")
		c.Response().Header().Set("HX-Reswap", "beforeend")
		rerr = render(c, code, pages.ErrorToast(p))
	default:
		m := s.meta(c, http.StatusText(code))
		if _, ok := currentUser(c); ok {
			m = s.adminMeta(c, http.StatusText(code), "")
		}
		rerr = render(c, code, pages.ErrorPage(m, p))
	}
	if rerr != nil {
		s.logger.Error("render error page", slog.Any("error", rerr))
	}
}

// wantsJSON reports whether the client is an API client.
func wantsJSON(c echo.Context) bool {
	r := c.Request()
	return len(r.URL.Path) >= 5 && r.URL.Path[:5] == "/api/" ||
		r.Header.Get(echo.HeaderAccept) == echo.MIMEApplicationJSON
}
