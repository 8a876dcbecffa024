package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/views/pages"
)

// The safeguards' screens (issue 12, findings 1 and 2): the banner and
// capacity figure above the company list, approving or rejecting companies
// in approval mode, and linking a backfill dry run's possible match by hand.

// waitingURL is the company list narrowed to the waiting companies.
var waitingURL = companiesURL(company.ListParams{Filter: company.FilterWaiting}, "", "")

// safeguardsProps formats the state of the safeguards for the dashboard.
func (s *Server) safeguardsProps(ctx context.Context) (pages.SafeguardsProps, error) {
	sg, err := s.companies.Safeguards(ctx)
	if err != nil {
		return pages.SafeguardsProps{}, err
	}
	p := pages.SafeguardsProps{Level: "ok", WaitingURL: waitingURL, ApprovalMode: sg.RequireApproval, BudgetSpent: sg.BudgetSpent()}
	if sg.CapacityKnown {
		p.Capacity = thousands(sg.Used) + " / " + thousands(sg.Limit)
		p.CountedAt = stamp(sg.CountedAt)
		switch {
		case sg.AtLimit():
			p.Level = "full"
		case sg.NearLimit():
			p.Level = "near"
		}
	}
	p.Budget = "no budget"
	if sg.Budget > 0 {
		p.Budget = fmt.Sprintf("%s / %s per %s", thousands(sg.BudgetUsed), thousands(sg.Budget), windowLabel(sg.BudgetWindow))
	}
	nonZero := func(n int64) string {
		if n == 0 {
			return ""
		}
		return thousands(n)
	}
	p.WaitingBudget, p.WaitingCapacity, p.WaitingApproval = nonZero(sg.WaitingBudget), nonZero(sg.WaitingCapacity), nonZero(sg.WaitingApproval)
	return p, nil
}

func windowLabel(d time.Duration) string {
	if d == time.Hour {
		return "hour"
	}
	return d.String()
}

// handleCompanyDecide handles "POST /admin/companies/decide": approve or
// reject the checked companies (company_id, repeated) awaiting approval.
// Any staff member may decide; each decision is audited.
func (s *Server) handleCompanyDecide(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.").SetInternal(err)
	}
	back := waitingURL
	var ids []int64
	for _, v := range form["company_id"] {
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || id <= 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "A selected company is not valid.")
		}
		ids = append(ids, id)
	}
	if form.Get("return") == "detail" && len(ids) == 1 {
		back = companyURL(ids[0])
	}
	decision := form.Get("decision")
	if decision != "approve" && decision != "reject" {
		return echo.NewHTTPError(http.StatusBadRequest, "Choose Approve or Reject.")
	}
	if len(ids) == 0 {
		s.flash(c, "error", "Select at least one company awaiting approval.")
		return redirect(c, back)
	}
	ctx := c.Request().Context()
	var d company.Decision
	if decision == "approve" {
		d, err = s.companies.Approve(ctx, ids, actor(c))
	} else {
		d, err = s.companies.Reject(ctx, ids, actor(c))
	}
	switch {
	case errors.Is(err, company.ErrTooManyDecisions):
		s.flash(c, "error", fmt.Sprintf("Select at most %d companies at once.", company.MaxDecisions))
		return redirect(c, back)
	case err != nil:
		return err
	}
	msg := fmt.Sprintf("%s companies approved; their OpenAI projects are being created.", thousands(len(d.Done)))
	if decision == "reject" {
		msg = fmt.Sprintf("%s companies rejected; no project is created for them.", thousands(len(d.Done)))
	}
	if n := len(d.Unchanged); n > 0 {
		msg += fmt.Sprintf(" %s were not awaiting a decision and were left as they are.", thousands(n))
	}
	kind := "success"
	if len(d.Done) == 0 {
		kind = "info"
	}
	s.flash(c, kind, msg)
	return redirect(c, back)
}

// handleBackfillLinkMatch handles "POST /admin/backfill/possible-matches/link"
// (admins): links one company to one possible match of the dry run, an
// explicit decision that is verified on OpenAI and audited.
func (s *Server) handleBackfillLinkMatch(c echo.Context) error {
	const back = "/admin/backfill/dry-run"
	id, err := strconv.ParseInt(strings.TrimSpace(c.FormValue("company_id")), 10, 64)
	if err != nil || id <= 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "The company is not valid.")
	}
	projectID := strings.TrimSpace(c.FormValue("project_id"))
	_, err = s.companies.LinkPossibleMatch(c.Request().Context(), id, projectID, actor(c))
	var linked *company.ErrProjectLinked
	var verify *company.VerifyError
	switch {
	case err == nil:
		s.flash(c, "success", fmt.Sprintf("Project %s linked.", projectID))
	case errors.Is(err, company.ErrNotFound):
		s.flash(c, "error", "That company no longer exists.")
	case errors.Is(err, company.ErrHasProject):
		s.flash(c, "error", "That company has a project already; nothing changed.")
	case errors.Is(err, company.ErrInvalidProjectID):
		s.flash(c, "error", "That is not an OpenAI project ID.")
	case errors.As(err, &linked):
		s.flash(c, "error", fmt.Sprintf("Project %s is already linked to %s.", projectID, linked.Company.Name))
	case errors.Is(err, company.ErrProjectNotFound), errors.Is(err, company.ErrProjectArchived):
		s.flash(c, "error", "That project no longer exists on OpenAI or is archived.")
	case errors.As(err, &verify):
		s.flash(c, "error", "Could not verify the project with OpenAI right now; try again.")
	case errors.Is(err, company.ErrBusy):
		s.flash(c, "error", busyMessage)
	default:
		return err
	}
	return redirect(c, back)
}
