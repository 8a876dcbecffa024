package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/webhook"
	"github.com/provisioner/provisioner/views/pages"
)

// keysAdminRoutes registers the keys page (the keys backfill) and the
// webhook deliveries page, both for admins.
func (s *Server) keysAdminRoutes(g *echo.Group) {
	g.GET("/keys", s.handleKeysAdmin, s.requireAdmin)
	g.POST("/keys/backfill", s.handleKeysBackfill, s.requireAdmin)
	g.GET("/webhooks", s.handleWebhooks, s.requireAdmin)
	g.POST("/webhooks/:id/resend", s.handleWebhookResend, s.requireAdmin)
}

// handleKeysAdmin handles "GET /admin/keys".
func (s *Server) handleKeysAdmin(c echo.Context) error {
	ctx := c.Request().Context()
	p := pages.KeysAdminProps{CSRF: csrfToken(c)}
	if s.keys != nil && s.keys.Enabled() {
		p.Enabled = true
		st := s.keys.Settings()
		p.Rotation, p.Grace = days(st.Rotation), st.Grace.String()
		n, err := s.keys.CountWithoutKey(ctx)
		if err != nil {
			return err
		}
		p.WithoutKey = thousands(n)
		rows, err := s.keys.WithoutKey(ctx, 10)
		if err != nil {
			return err
		}
		for _, r := range rows {
			p.Sample = append(p.Sample, pages.KeysSampleRow{Name: r.Name, URL: companyURL(r.ID)})
		}
	}
	return render(c, http.StatusOK, pages.KeysAdminPage(s.adminMeta(c, "OpenAI keys", "keys"), p))
}

func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// handleKeysBackfill handles "POST /admin/keys/backfill": one key job per
// company without a key; River works them with retries.
func (s *Server) handleKeysBackfill(c echo.Context) error {
	u, _ := currentUser(c)
	if s.keys == nil {
		return errKeysDisabled
	}
	n, err := s.keys.EnqueueBackfill(c.Request().Context(), audit.Actor{ID: u.ID, Email: u.Email})
	if err != nil {
		return err
	}
	s.flash(c, "success", fmt.Sprintf("Keys backfill started for %d companies; each key appears on its company's page once issued.", n))
	return redirect(c, "/admin/keys")
}

var errKeysDisabled = echo.NewHTTPError(http.StatusConflict, "Per-company keys are disabled.")

// handleAPIKeysBackfill handles "POST /api/admin/keys/backfill" with
// {"dry_run": bool}, for ADMIN_API_TOKEN or an admin's session.
func (s *Server) handleAPIKeysBackfill(c echo.Context) error {
	ctx := c.Request().Context()
	var req struct {
		DryRun *bool `json:"dry_run"`
	}
	dec := json.NewDecoder(c.Request().Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); (err != nil && !errors.Is(err, io.EOF)) || req.DryRun == nil {
		return echo.NewHTTPError(http.StatusBadRequest, `Send {"dry_run": true} to count, or {"dry_run": false} to issue the missing keys.`)
	}
	if s.keys == nil || !s.keys.Enabled() {
		return errKeysDisabled
	}
	if *req.DryRun {
		n, err := s.keys.CountWithoutKey(ctx)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, map[string]any{"dry_run": true, "count": n})
	}
	n, err := s.keys.EnqueueBackfill(ctx, apiActor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"dry_run": false, "enqueued": n})
}

// handleWebhooks handles "GET /admin/webhooks".
func (s *Server) handleWebhooks(c echo.Context) error {
	p := pages.WebhooksProps{CSRF: csrfToken(c)}
	if s.webhooks != nil {
		p.Enabled = s.webhooks.Enabled()
		url := s.cfg.WebhookURL
		if i := strings.IndexByte(url, '?'); i >= 0 {
			url = url[:i] + "?…"
		}
		p.URL = url
		rows, err := s.webhooks.Recent(c.Request().Context(), 100)
		if err != nil {
			return err
		}
		for _, d := range rows {
			r := pages.WebhookRow{ID: strconv.FormatInt(d.ID, 10), EventID: d.EventID, Type: d.EventType, Created: stamp(d.CreatedAt),
				Attempts: strconv.Itoa(d.Attempts), LastError: d.LastError}
			if d.CompanyID != 0 {
				r.CompanyURL = companyURL(d.CompanyID)
			}
			if d.LastStatus != 0 {
				r.LastStatus = strconv.Itoa(d.LastStatus)
			}
			if d.DeliveredAt != nil {
				r.Delivered = stamp(*d.DeliveredAt)
			}
			p.Rows = append(p.Rows, r)
		}
	}
	return render(c, http.StatusOK, pages.WebhooksPage(s.adminMeta(c, "Webhooks", "webhooks"), p))
}

// handleWebhookResend handles "POST /admin/webhooks/:id/resend".
func (s *Server) handleWebhookResend(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such delivery.")
	}
	u, _ := currentUser(c)
	if s.webhooks == nil {
		return webhook.ErrDisabled
	}
	if err := s.webhooks.Resend(c.Request().Context(), id, audit.Actor{ID: u.ID, Email: u.Email}); err != nil {
		return err
	}
	s.flash(c, "success", "The event is being sent again.")
	return redirect(c, "/admin/webhooks")
}
