package web

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/governor"
	"github.com/provisioner/provisioner/internal/keys"
	"github.com/provisioner/provisioner/views/pages"
)

// companyKeyRoutes registers the staff actions on a company's key:
// rotate (support and admin) and revoke (admin, typed confirmation).
func (s *Server) companyKeyRoutes(g *echo.Group) {
	g.POST("/companies/:id/key/rotate", s.handleCompanyKeyRotate)
	g.POST("/companies/:id/key/revoke", s.handleCompanyKeyRevoke, s.requireAdmin)
}

// companyKeyProps builds the key panel. The usage (last used, redacted
// value) is refreshed from OpenAI first, briefly and at most best-effort:
// the page never waits long or fails for it.
func (s *Server) companyKeyProps(c echo.Context, co company.Company) (pages.CompanyKeyProps, error) {
	p := pages.CompanyKeyProps{CSRF: csrfToken(c), CompanyID: strconv.FormatInt(co.ID, 10), ConfirmName: co.Name, Status: "none"}
	if s.keys == nil || !s.keys.Enabled() {
		return p, nil
	}
	ctx := c.Request().Context()
	p.Enabled = true
	u, _ := currentUser(c)
	p.CanRotate, p.CanRevoke = co.OpenAIProjectID != "", u.IsAdmin()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_ = s.keys.RefreshUsage(rctx, co.ID) // best-effort; OpenAI's errors must not break the page
	cancel()
	st, err := s.keys.StatusOf(ctx, co.ID)
	if err != nil {
		return p, err
	}
	if st.State != "" {
		p.Status = st.State
	}
	if st.State == "failed" || st.State == "pending" {
		p.LastError = st.Error
	}
	all, err := s.keys.List(ctx, co.ID)
	if err != nil {
		return p, err
	}
	for _, k := range all {
		switch k.State {
		case "current":
			p.HasKey, p.KeyID, p.Redacted = true, k.ID, k.RedactedValue
			p.Created, p.Expires, p.LastUsed = stamp(k.CreatedAt), stamp(k.ExpiresAt), "never"
			if k.LastUsedAt != nil {
				p.LastUsed = stamp(*k.LastUsedAt)
			}
		case "retiring":
			until := ""
			if k.RetireAt != nil {
				until = stamp(*k.RetireAt)
			}
			p.Retiring = append(p.Retiring, pages.RetiringKey{KeyID: k.ID, Redacted: k.RedactedValue, Until: until})
		}
	}
	hist, err := s.keys.History(ctx, co.ID, 20)
	if err != nil {
		return p, err
	}
	for _, a := range hist {
		r := pages.KeyHistoryRow{Started: stamp(a.StartedAt), Trigger: a.Trigger, Actor: a.Actor, Outcome: a.Outcome,
			ServiceAccount: a.ServiceAccountID, Error: a.Error}
		if a.OrphansDeleted > 0 {
			r.Orphans = fmt.Sprintf("deleted %d lost service account(s)", a.OrphansDeleted)
		}
		p.History = append(p.History, r)
	}
	return p, nil
}

// handleCompanyKeyRotate handles "POST /admin/companies/:id/key/rotate":
// the rotation (or, without a key, the issue) runs as a job.
func (s *Server) handleCompanyKeyRotate(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	if s.keys == nil {
		return keys.ErrDisabled
	}
	err = s.keys.EnqueueRotate(c.Request().Context(), id, audit.Actor{ID: u.ID, Email: u.Email}, keys.TriggerManual)
	switch {
	case errors.Is(err, keys.ErrNoProject):
		s.flash(c, "error", "This company has no OpenAI project yet; its key follows the project.")
	case err != nil:
		return err
	default:
		s.flash(c, "success", "Key rotation started. The new key appears here once it is created; the old one stays valid for the grace period.")
	}
	return redirect(c, companyURL(id))
}

// handleCompanyKeyRevoke handles "POST /admin/companies/:id/key/revoke":
// the confirmation must be the company's name, typed.
func (s *Server) handleCompanyKeyRevoke(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	co, err := s.companies.Get(c.Request().Context(), id)
	if err != nil {
		return err
	}
	if strings.TrimSpace(c.FormValue("confirm")) != co.Name {
		s.flash(c, "error", "Type the company's name exactly to revoke its key; nothing was revoked.")
		return redirect(c, companyURL(id))
	}
	u, _ := currentUser(c)
	if s.keys == nil {
		return keys.ErrDisabled
	}
	// Someone waits for the answer: ahead of the background calls.
	ctx := governor.WithCall(c.Request().Context(), governor.CallerKeys, governor.Interactive)
	n, err := s.keys.Revoke(ctx, id, audit.Actor{ID: u.ID, Email: u.Email})
	switch {
	case errors.Is(err, keys.ErrNoKey):
		s.flash(c, "info", "This company has no key to revoke.")
	case errors.Is(err, keys.ErrBusy):
		s.flash(c, "error", "A key attempt for this company is in progress; try again in a few seconds.")
	case err != nil:
		return err
	default:
		s.flash(c, "success", fmt.Sprintf("Revoked: %d service account(s) deleted on OpenAI. No new key is issued until someone issues one.", n))
	}
	return redirect(c, companyURL(id))
}
