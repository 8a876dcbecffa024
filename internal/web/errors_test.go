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
	for _, tt := range []struct {
		name       string
		handler    echo.HandlerFunc
		wantStatus int
		wantLevel  string
		wantError  string
	}{
		{"ServerError", func(echo.Context) error { return errors.New("boom: disk on fire") }, http.StatusInternalServerError, "ERROR", "boom: disk on fire"},
		{"Panic", func(echo.Context) error { panic("kaboom") }, http.StatusInternalServerError, "ERROR", "panic: kaboom"},
		{"NotFound", func(echo.Context) error { return company.ErrNotFound }, http.StatusNotFound, "WARN", company.ErrNotFound.Error()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			authSvc, err := auth.NewService(nil, auth.Options{Secret: "test-session-secret-0123456789abcdef"})
			if err != nil {
				t.Fatal(err)
			}
			s := NewServer(Deps{Config: config.Config{Env: config.EnvTest}, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Auth: authSvc})
			s.e.GET("/fail", tt.handler)

			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/fail", nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("GET /fail = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantStatus >= 500 && strings.Contains(rec.Body.String(), strings.TrimPrefix(tt.wantError, "panic: ")) {
				t.Errorf("the %d page shows the error %q", rec.Code, tt.wantError)
			}

			var lines []map[string]any
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var line map[string]any
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("log line %q: %v", l, err)
				}
				lines = append(lines, line)
			}
			if len(lines) != 1 {
				t.Fatalf("%d log lines for one failed request, want 1:\n%s", len(lines), logs.String())
			}
			line := lines[0]
			if line["level"] != tt.wantLevel || line["msg"] != "request" || line["path"] != "/fail" || line["status"] != float64(tt.wantStatus) {
				t.Errorf("log line = %v, want a %s request line for /fail with status %d", line, tt.wantLevel, tt.wantStatus)
			}
			if id, _ := line["request_id"].(string); id == "" || id != rec.Header().Get(echo.HeaderXRequestID) {
				t.Errorf("log line request_id = %q, want the response's %q", id, rec.Header().Get(echo.HeaderXRequestID))
			}
			if got, _ := line["error"].(string); !strings.Contains(got, tt.wantError) {
				t.Errorf("log line error = %q, want it to contain %q", got, tt.wantError)
			}
			if got, _ := line["error"].(string); tt.name == "Panic" && !strings.Contains(got, "goroutine") {
				t.Errorf("panic logged without its stack: %q", got)
			}
		})
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
