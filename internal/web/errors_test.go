package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/auth"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/config"
	"github.com/provisioner/provisioner/internal/provision"
)

// A failed request is logged once, on its request line, with the error:
// the error handler does not log it a second time, and a panic does not go
// to Echo's own logger. This needs no database, so it is an internal test
// with handlers that fail on purpose.
func TestLogRequests_FailureLoggedOnce(t *testing.T) {
	t.Parallel()
	t.Run("ServerError", func(t *testing.T) {
		t.Parallel()
		rec, line := serveAndLog(t, func(echo.Context) error { return errors.New("boom: disk on fire") })
		checkRequestLine(t, rec, line, http.StatusInternalServerError, "ERROR", "boom: disk on fire")
		if strings.Contains(rec.Body.String(), "disk on fire") {
			t.Error("the 500 page shows the error")
		}
	})
	t.Run("Panic", func(t *testing.T) {
		t.Parallel()
		rec, line := serveAndLog(t, func(echo.Context) error { panic("kaboom") })
		checkRequestLine(t, rec, line, http.StatusInternalServerError, "ERROR", "panic: kaboom")
		if got, _ := line["error"].(string); !strings.Contains(got, "goroutine") {
			t.Errorf("panic logged without its stack: %q", got)
		}
		if strings.Contains(rec.Body.String(), "kaboom") {
			t.Error("the 500 page shows the panic")
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		rec, line := serveAndLog(t, func(echo.Context) error { return company.ErrNotFound })
		checkRequestLine(t, rec, line, http.StatusNotFound, "WARN", company.ErrNotFound.Error())
	})
}

// serveAndLog serves one GET with h on the real app's middleware and
// returns the answer and the one line logged for it.
func serveAndLog(t *testing.T, h echo.HandlerFunc) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	var logs bytes.Buffer
	authSvc, err := auth.NewService(nil, auth.Options{Secret: "test-session-secret-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Deps{Config: config.Config{Env: config.EnvTest}, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Auth: authSvc})
	s.e.GET("/fail", h)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fail", nil))

	out := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(out) != 1 {
		t.Fatalf("%d log lines for one failed request, want 1:\n%s", len(out), logs.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(out[0]), &line); err != nil {
		t.Fatalf("log line %q: %v", out[0], err)
	}
	return rec, line
}

// checkRequestLine checks that line is the request's line, at level, with
// its status, request id and an error containing wantError.
func checkRequestLine(t *testing.T, rec *httptest.ResponseRecorder, line map[string]any, status int, level, wantError string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("GET /fail = %d, want %d", rec.Code, status)
	}
	if line["level"] != level || line["msg"] != "request" || line["path"] != "/fail" || line["status"] != float64(status) {
		t.Errorf("log line = %v, want a %s request line for /fail with status %d", line, level, status)
	}
	if id, _ := line["request_id"].(string); id == "" || id != rec.Header().Get(echo.HeaderXRequestID) {
		t.Errorf("log line request_id = %q, want the response's %q", id, rec.Header().Get(echo.HeaderXRequestID))
	}
	if got, _ := line["error"].(string); !strings.Contains(got, wantError) {
		t.Errorf("log line error = %q, want it to contain %q", got, wantError)
	}
}

// The domain's errors answer from the one table, wrapped or not, with the
// messages the handlers used to write out one by one.
func TestStatusOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err      error
		wantCode int
		wantMsg  string
	}{
		{company.ErrNotFound, http.StatusNotFound, ""},
		{fmt.Errorf("list companies: %w", company.ErrInvalidCursor), http.StatusBadRequest, "This page link is damaged or from another sort order. Start again from the first page."},
		{fmt.Errorf("list audit: %w", audit.ErrInvalidCursor), http.StatusBadRequest, "This page link is damaged. Start again from the first page."},
		{fmt.Errorf("get run 7: %w", provision.ErrRunNotFound), http.StatusNotFound, "There is no such backfill run."},
		{auth.ErrNotFound, http.StatusNotFound, "There is no such staff user."},
		{echo.NewHTTPError(http.StatusForbidden, "No."), http.StatusForbidden, "No."},
		{errors.New("anything else"), http.StatusInternalServerError, ""},
	} {
		if code, msg := statusOf(tt.err); code != tt.wantCode || msg != tt.wantMsg {
			t.Errorf("statusOf(%v) = %d %q, want %d %q", tt.err, code, msg, tt.wantCode, tt.wantMsg)
		}
	}
}
