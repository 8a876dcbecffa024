package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/apitoken"
	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/db"
	"github.com/provisioner/provisioner/internal/keys"
	"github.com/provisioner/provisioner/internal/policy"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/internal/webhook"
	"github.com/provisioner/provisioner/views/pages"
)

// errorStatuses is how the domain's errors answer over HTTP: handlers
// return these errors as they are and this table, the only one, picks the
// status and the message the user reads. An error not listed is a 500.
var errorStatuses = []struct {
	err  error
	code int
	msg  string
}{
	{company.ErrNotFound, http.StatusNotFound, ""},
	{company.ErrInvalidCursor, http.StatusBadRequest, "This page link is damaged or from another sort order. Start again from the first page."},
	{audit.ErrInvalidCursor, http.StatusBadRequest, "This page link is damaged. Start again from the first page."},
	{provision.ErrRunNotFound, http.StatusNotFound, "There is no such backfill run."},
	{auth.ErrNotFound, http.StatusNotFound, "There is no such staff user."},
	{policy.ErrCompanyNotFound, http.StatusNotFound, ""},
	{policy.ErrDisabled, http.StatusConflict, "Policies are disabled (POLICY_ENABLED=false or no OpenAI admin key)."},
	{policy.ErrNoProject, http.StatusConflict, "The company has no OpenAI project yet."},
	{policy.ErrOffboarded, http.StatusConflict, "The company is offboarded; its policy is no longer applied."},
	{policy.ErrAlreadyOffboarding, http.StatusConflict, "The company is already offboarded or being offboarded."},
	{policy.ErrNotFailed, http.StatusConflict, "The offboarding has not failed; there is nothing to resume."},
	{policy.ErrNoOffboarding, http.StatusConflict, "The company is not being offboarded."},
	{company.ErrExternalIDTaken, http.StatusConflict, "Another company has this external_id."},
	{keys.ErrNoKey, http.StatusNotFound, "This company has no OpenAI key (yet, or it was revoked)."},
	{keys.ErrNoProject, http.StatusConflict, "This company has no OpenAI project yet; its key follows the project."},
	{keys.ErrDisabled, http.StatusConflict, "Per-company keys are disabled (KEYS_ENABLED=false or no admin key)."},
	{keys.ErrBusy, http.StatusConflict, "A key attempt for this company is in progress; try again in a moment."},
	{keys.ErrCompanyNotFound, http.StatusNotFound, ""},
	{apitoken.ErrNotFound, http.StatusNotFound, "There is no such token."},
	{webhook.ErrNotFound, http.StatusNotFound, "There is no such delivery."},
	{webhook.ErrDisabled, http.StatusConflict, "Webhooks are disabled: set WEBHOOK_URL and WEBHOOK_SECRET."},
}

// statusOf maps an error to the HTTP status it answers with, and the
// message shown with it.
func statusOf(err error) (int, string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg, _ := he.Message.(string)
		return he.Code, msg
	}
	for _, e := range errorStatuses {
		if errors.Is(err, e.err) {
			return e.code, e.msg
		}
	}
	if db.IsUnavailable(err) {
		return http.StatusServiceUnavailable, ""
	}
	return http.StatusInternalServerError, ""
}

// requestErrorKey is where handleError leaves the error for logRequests,
// which logs it on the request's one line.
const requestErrorKey = "request_error"

// handleError is the one place errors from handlers become responses: it
// renders a page, a toast for htmx, or JSON for the API. It does not log:
// logRequests writes the request's line with the error in it (5xx at
// Error, 4xx at Warn), so that each failure is logged once.
func (s *Server) handleError(err error, c echo.Context) {
	c.Set(requestErrorKey, err)
	if c.Response().Committed {
		return
	}
	code, msg := statusOf(err)
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
		// The toast whatever the form's own hx-select picks from its answers.
		c.Response().Header().Set("HX-Reselect", "#error-toast")
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
