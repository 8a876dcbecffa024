package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/audit"
	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/openai"
	"github.com/provisioner/provisioner/internal/provision"
	"github.com/provisioner/provisioner/views/pages"
)

// homeRoutes registers the dashboard's home page, where the README and the
// login send staff, and its connection test.
func (s *Server) homeRoutes(g *echo.Group) {
	g.GET("", s.handleHome)
	g.POST("/openai/test", s.handleOpenAITest)
}

// homeFailures and homeAudit bound the home page's lists.
const (
	homeFailures = 5
	homeAudit    = 8
)

// pingTimeout bounds "Test connection".
const pingTimeout = 10 * time.Second

// handleHome handles "GET /admin".
func (s *Server) handleHome(c echo.Context) error {
	ctx := c.Request().Context()
	u, _ := currentUser(c)
	t, err := s.companies.StatusTotals(ctx)
	if err != nil {
		return err
	}
	p := pages.HomeProps{
		Totals: pages.HomeTotals{
			Companies: thousands(t.Companies), Provisioned: thousands(t.Provisioned), Pending: thousands(t.Pending), Waiting: thousands(t.Waiting),
			Skipped: thousands(t.Skipped), Failed: thousands(t.Failed),
			AllURL:     "/admin/companies",
			MissingURL: companiesURL(company.ListParams{Filter: company.FilterMissing}, "", ""),
			FailedURL:  companiesURL(company.ListParams{Filter: company.FilterFailed}, "", ""),
			WaitingURL: waitingURL,
		},
		OpenAI:      s.openAIProps(c, nil),
		FailedTotal: thousands(t.Failed),
		MaxAttempts: strconv.Itoa(s.cfg.ProvisionMaxAttempts),
	}
	p.FailedURL = p.Totals.FailedURL
	if p.CostSummary, err = s.costSummary(ctx); err != nil { // costs.go
		return err
	}
	// The organization's projects against OPENAI_PROJECT_LIMIT, once the
	// periodic count has run (provision/capacity.go).
	sg, err := s.companies.Safeguards(ctx)
	if err != nil {
		return err
	}
	if sg.CapacityKnown && sg.Limit > 0 {
		p.Capacity = &pages.CapacityProps{
			Active: thousands(sg.Used), Limit: thousands(sg.Limit), Percent: strconv.Itoa(min(sg.Used*100/sg.Limit, 100)),
		}
	}
	if t.Failed > 0 {
		page, err := s.companies.List(ctx, company.ListParams{Filter: company.FilterFailed, Limit: homeFailures}.Normalize())
		if err != nil {
			return err
		}
		for _, co := range page.Companies {
			p.Failures = append(p.Failures, pages.HomeFailure{Name: co.Name, URL: companyURL(co.ID), Error: humanError(co.LastError)})
		}
	}
	if u.IsAdmin() {
		p.BackfillURL = "/admin/backfill"
		if s.jobsUI != nil {
			p.JobsURL = JobsPrefix
		}
	}
	if s.backfill != nil {
		run, err := s.backfill.Current(ctx)
		switch {
		case err == nil:
			p.Backfill = homeBackfill(run)
		case !errors.Is(err, provision.ErrRunNotFound):
			return err
		}
	}
	entries, err := audit.List(ctx, s.pool, audit.ListParams{Limit: homeAudit})
	if err != nil {
		return err
	}
	for _, e := range entries.Entries {
		r := pages.HomeAuditRow{
			At: stamp(e.At), AtISO: isoTime(e.At), Actor: e.Actor.Email,
			ActionLabel: audit.ActionLabel(e.Action), CompanyName: e.CompanyName,
		}
		if e.CompanyID != 0 {
			r.CompanyURL = companyURL(e.CompanyID)
		}
		p.Audit = append(p.Audit, r)
	}
	return render(c, http.StatusOK, pages.HomePage(s.adminMeta(c, "Home", "home"), p))
}

// handleOpenAITest handles "POST /admin/openai/test": one cheap read call
// (a list of one project), whose result htmx swaps into the panel.
func (s *Server) handleOpenAITest(c echo.Context) error {
	if s.openai == nil {
		if !isHTMX(c) {
			s.flash(c, "error", "Set OPENAI_ADMIN_KEY to connect to OpenAI.")
			return redirect(c, "/admin")
		}
		return render(c, http.StatusOK, pages.OpenAIPanel(s.openAIProps(c, nil)))
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), pingTimeout)
	defer cancel()
	err := s.openai.Ping(ctx)
	tested := &pages.OpenAICall{OK: err == nil, At: stamp(time.Now()), AtISO: isoTime(time.Now()), What: "list projects"}
	if err != nil {
		reason := err.Error()
		if oe, ok := openai.AsError(err); ok {
			reason = oe.Error()
		}
		tested.Reason = humanError(reason)
	}
	if !isHTMX(c) {
		if err == nil {
			s.flash(c, "success", "OpenAI answered: the connection works.")
		} else {
			s.flash(c, "error", "OpenAI test failed: "+tested.Reason.Sentence)
		}
		return redirect(c, "/admin")
	}
	return render(c, http.StatusOK, pages.OpenAIPanel(s.openAIProps(c, tested)))
}

// openAIProps is the connection panel as it stands.
func (s *Server) openAIProps(c echo.Context, tested *pages.OpenAICall) pages.OpenAIProps {
	p := pages.OpenAIProps{
		CSRF: csrfToken(c), Configured: s.cfg.OpenAIConfigured(), Sandbox: s.sandbox, Tested: tested,
		CanTest: s.openai != nil,
	}
	if s.openai == nil {
		return p
	}
	p.KeyWarning = s.openai.KeyWarning()
	last, first := s.openai.Last()
	p.Last, p.FirstFailure = callProps(last), callProps(first)
	return p
}

func callProps(c *openai.Call) *pages.OpenAICall {
	if c == nil {
		return nil
	}
	p := &pages.OpenAICall{OK: c.OK, At: stamp(c.At), AtISO: isoTime(c.At), What: strings.ReplaceAll(c.Endpoint, "_", " ")}
	if !c.OK {
		p.Reason = humanError(c.Reason)
	}
	return p
}

// homeBackfill is the run in brief, with its state in the backfill's
// words: running, paused, stalled, finished, failed or cancelled.
func homeBackfill(r provision.Run) *pages.HomeBackfill {
	b := &pages.HomeBackfill{
		ID: strconv.FormatInt(r.ID, 10), URL: runURL(r.ID), Status: runState(r),
		Percent: strconv.Itoa(r.Percent()), Summary: runSummary(r),
	}
	switch {
	case r.Stalled:
		b.Problem = stallSentence(r)
	case r.LastError != "" && r.Status != provision.RunFinished:
		b.Problem, _ = humanSentence(r.LastError)
	}
	return b
}
