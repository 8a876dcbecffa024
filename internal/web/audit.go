package web

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/views/components"
	"github.com/provisioner/provisioner/views/pages"
)

// auditRoutes registers the audit log, which every staff member may read.
func (s *Server) auditRoutes(g *echo.Group) {
	g.GET("/audit", s.handleAuditList)
}

// handleAuditList handles "GET /admin/audit?action=&actor=&company=&after=".
// htmx requests (the filter form, the page links) get the results only.
func (s *Server) handleAuditList(c echo.Context) error {
	p := audit.ListParams{
		Action: c.QueryParam("action"), Actor: c.QueryParam("actor"), Company: c.QueryParam("company"),
		After: c.QueryParam("after"),
	}
	page, err := audit.List(c.Request().Context(), s.pool, p)
	if err != nil {
		return err
	}
	props := pages.AuditProps{
		Action: p.Action, Actor: p.Actor, Company: p.Company,
		Actions:  []components.Option{{Value: "", Label: "All actions"}},
		Rows:     make([]pages.AuditRow, len(page.Entries)),
		Filtered: p.Action != "" || p.Actor != "" || p.Company != "",
	}
	for _, a := range audit.Actions {
		props.Actions = append(props.Actions, components.Option{Value: a, Label: audit.ActionLabel(a)})
	}
	for i, e := range page.Entries {
		r := pages.AuditRow{
			At: stamp(e.At), AtISO: isoTime(e.At),
			Actor: e.Actor.Email, Action: e.Action, ActionLabel: audit.ActionLabel(e.Action),
			CompanyName: e.CompanyName, Before: e.Before, After: e.After, Detail: e.Detail,
		}
		if e.CompanyID != 0 {
			r.CompanyURL = companyURL(e.CompanyID)
		}
		props.Rows[i] = r
	}
	if p.After != "" {
		props.Pages.FirstURL = auditURL(p, "")
	}
	if page.Next != "" {
		props.Pages.NextURL = auditURL(p, page.Next)
	}
	if props.Pages != (components.PaginationProps{}) {
		props.Pages.HXTarget = "#audit-results"
	}
	if wantsFragment(c) {
		return render(c, http.StatusOK, pages.AuditResults(props))
	}
	return render(c, http.StatusOK, pages.AuditPage(s.adminMeta(c, "Audit log", "audit"), props))
}

// auditURL is the log with p's filters, from a cursor.
func auditURL(p audit.ListParams, after string) string {
	v := url.Values{}
	for key, value := range map[string]string{"action": p.Action, "actor": p.Actor, "company": p.Company, "after": after} {
		if value != "" {
			v.Set(key, value)
		}
	}
	if len(v) == 0 {
		return "/admin/audit"
	}
	return "/admin/audit?" + v.Encode()
}
