package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/policy"
	"github.com/provisioner/provisioner/internal/validation"
	"github.com/provisioner/provisioner/views/pages"
)

// policyRoutes registers the policy page, orphans and a company's guard
// rails. Staff may look and re-apply one company; admins edit the template
// and overrides, re-apply to all drifted and offboard.
func (s *Server) policyRoutes(g *echo.Group) {
	if s.policy == nil {
		return
	}
	g.GET("/policy", s.handlePolicyPage)
	g.POST("/policy", s.handlePolicySave, s.requireAdmin)
	g.POST("/policy/reapply-drifted", s.handlePolicyReapplyDrifted, s.requireAdmin)
	g.GET("/policy/orphans", s.handleOrphans)
	g.POST("/policy/orphans/:project/assign", s.handleOrphanAssign)
	g.POST("/companies/:id/policy/reapply", s.handleCompanyPolicyReapply)
	g.POST("/companies/:id/policy/override", s.handleCompanyPolicyOverride, s.requireAdmin)
	g.POST("/companies/:id/offboard", s.handleCompanyOffboard, s.requireAdmin)
	g.POST("/companies/:id/offboard/resume", s.handleCompanyOffboardResume, s.requireAdmin)
}

const timeFormat = "2006-01-02 15:04 UTC"

func fmtTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

func policyFormValues(c echo.Context) policy.Form {
	return policy.Form{
		SpendLimitCents: c.FormValue(policy.FormSpendLimit), Alerts: c.FormValue(policy.FormAlerts),
		RateLimits: c.FormValue(policy.FormRateLimits), AllowedModels: c.FormValue(policy.FormModels),
	}
}

func policyFormProps(f policy.Form, errs map[string]string, action, submit string) pages.PolicyForm {
	return pages.PolicyForm{Action: action, SpendLimitCents: f.SpendLimitCents, Alerts: f.Alerts, RateLimits: f.RateLimits,
		AllowedModels: f.AllowedModels, Errors: errs, Submit: submit}
}

// handlePolicyPage handles "GET /admin/policy".
func (s *Server) handlePolicyPage(c echo.Context) error {
	return s.renderPolicyPage(c, http.StatusOK, nil, nil)
}

func (s *Server) renderPolicyPage(c echo.Context, code int, form *policy.Form, errs map[string]string) error {
	ctx := c.Request().Context()
	v, err := s.policy.Template(ctx)
	if err != nil {
		return err
	}
	counts, err := s.policy.Counts(ctx)
	if err != nil {
		return err
	}
	notReady, err := s.policy.ListByState(ctx, 200, policy.StateDrifted, policy.StateFailed, policy.StatePending)
	if err != nil {
		return err
	}
	orphans, err := s.policy.Orphans(ctx)
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	f := policy.FormOf(v.Document)
	if form != nil {
		f = *form
	}
	p := pages.PolicyPageProps{
		CSRF: csrfToken(c), CanEdit: u.IsAdmin(), Enabled: s.policy.Enabled(), Summary: policy.Summary(v.Document),
		Form:    policyFormProps(f, errs, "/admin/policy", "Save policy"),
		Pending: thousands(counts.Pending), Applied: thousands(counts.Applied), Drifted: thousands(counts.Drifted),
		Failed: thousands(counts.Failed), Orphans: strconv.Itoa(len(orphans)),
	}
	if v.Number != 0 {
		p.Version, p.SavedBy, p.SavedAt = strconv.FormatInt(v.Number, 10), v.Actor, v.At.UTC().Format(timeFormat)
	}
	for _, r := range notReady {
		p.NotReady = append(p.NotReady, pages.PolicyCompanyRow{Name: r.Name, URL: companyURL(r.CompanyID), State: r.State,
			Error: r.Error, UpdatedAt: r.UpdatedAt.UTC().Format(timeFormat)})
	}
	return render(c, code, pages.PolicyPage(s.adminMeta(c, "Policy", "policy"), p))
}

// handlePolicySave handles "POST /admin/policy" (admins).
func (s *Server) handlePolicySave(c echo.Context) error {
	f := policyFormValues(c)
	d, err := policy.ParseForm(f)
	var v validation.Errors
	if errors.As(err, &v) {
		return s.renderPolicyPage(c, http.StatusUnprocessableEntity, &f, v)
	}
	if err != nil {
		return err
	}
	ver, unchanged, err := s.policy.SetTemplate(c.Request().Context(), d, actor(c))
	if err != nil {
		return err
	}
	if unchanged {
		s.flash(c, "info", "The policy is already this; nothing changed.")
	} else {
		s.flash(c, "success", fmt.Sprintf("Policy version %d saved. It is being applied to every linked company.", ver.Number))
	}
	return redirect(c, "/admin/policy")
}

// handlePolicyReapplyDrifted handles "POST /admin/policy/reapply-drifted".
func (s *Server) handlePolicyReapplyDrifted(c echo.Context) error {
	n, err := s.policy.ReapplyDrifted(c.Request().Context(), actor(c))
	switch {
	case errors.Is(err, policy.ErrDisabled):
		s.flash(c, "error", "Policies are disabled (POLICY_ENABLED=false or no admin key); nothing was started.")
	case err != nil:
		return err
	case n == 0:
		s.flash(c, "info", "No company is drifted; nothing was started.")
	default:
		s.flash(c, "success", fmt.Sprintf("Re-applying the policy to %d drifted companies.", n))
	}
	return redirect(c, "/admin/policy")
}

// policyFormState carries a submitted override or offboarding form back to
// the company page with its errors.
type policyFormState struct {
	override     *policy.Form
	overrideErrs map[string]string
	confirm      string
	confirmErr   string
}

// companyPolicyProps builds the guard-rails section of a company's page.
func (s *Server) companyPolicyProps(c echo.Context, companyID int64, hasProject bool, st ...policyFormState) (pages.CompanyPolicyProps, error) {
	if s.policy == nil {
		return pages.CompanyPolicyProps{}, nil
	}
	ctx := c.Request().Context()
	u, _ := currentUser(c)
	status, err := s.policy.Status(ctx, companyID)
	if err != nil {
		return pages.CompanyPolicyProps{}, err
	}
	eff, _, err := s.policy.Effective(ctx, companyID)
	if err != nil {
		return pages.CompanyPolicyProps{}, err
	}
	over, _, err := s.policy.Override(ctx, companyID)
	if err != nil {
		return pages.CompanyPolicyProps{}, err
	}
	off, offboarding, err := s.policy.GetOffboarding(ctx, companyID)
	if err != nil {
		return pages.CompanyPolicyProps{}, err
	}
	history, err := s.policy.History(ctx, companyID)
	if err != nil {
		return pages.CompanyPolicyProps{}, err
	}
	base := companyURL(companyID)
	p := pages.CompanyPolicyProps{
		CSRF: csrfToken(c), Enabled: s.policy.Enabled(), HasProject: hasProject, State: status.State, Error: status.Error,
		AppliedAt: fmtTime(status.AppliedAt), CheckedAt: fmtTime(status.CheckedAt), Effective: policy.Summary(eff),
		CanReapply: s.policy.Enabled() && hasProject && !offboarding, ReapplyURL: base + "/policy/reapply",
		CanOverride: u.IsAdmin() && !offboarding,
		Override:    policyFormProps(policy.FormOf(over), nil, base+"/policy/override", "Save override"),
		CanOffboard: u.IsAdmin() && hasProject, OffboardURL: base + "/offboard",
	}
	for _, d := range status.Differences {
		p.Differences = append(p.Differences, pages.DifferenceRow{Field: d.Field, Expected: d.Expected, Found: d.Found,
			Since: d.Since.UTC().Format(timeFormat), SinceISO: d.Since.UTC().Format(time.RFC3339)})
	}
	for _, h := range history {
		p.History = append(p.History, pages.PolicyHistoryRow{Started: h.StartedAt.UTC().Format(timeFormat), Trigger: h.Trigger,
			Actor: h.Actor, Outcome: h.Outcome, Calls: strconv.Itoa(h.Calls), Error: h.Error})
	}
	if offboarding {
		p.State = "offboarded"
		p.Offboarding = &pages.OffboardingProps{
			Step: off.Step, State: off.State, Error: off.Error, Actor: off.Actor, Started: off.StartedAt.UTC().Format(timeFormat),
			Finished: fmtTime(off.FinishedAt), KeysRevoked: strconv.Itoa(off.KeysRevoked), AlertsRemoved: strconv.Itoa(off.AlertsRemoved),
			CanResume: u.IsAdmin() && off.State == policy.OffboardFailed, ResumeURL: base + "/offboard/resume",
		}
	}
	for _, f := range st {
		if f.override != nil {
			p.Override = policyFormProps(*f.override, f.overrideErrs, base+"/policy/override", "Save override")
		}
		p.Confirm, p.ConfirmError = f.confirm, f.confirmErr
	}
	return p, nil
}

// handleCompanyPolicyReapply handles "POST /admin/companies/:id/policy/reapply".
func (s *Server) handleCompanyPolicyReapply(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	err = s.policy.Reapply(c.Request().Context(), id, actor(c))
	if msg, ok := policyErrorMessage(err); ok {
		s.flash(c, "error", msg)
	} else if err != nil {
		return err
	} else {
		s.flash(c, "success", "Re-applying the policy; the attempt appears in the policy history once it runs.")
	}
	return redirect(c, companyURL(id))
}

// policyErrorMessage is the error table's message for the policy
// package's refusals (a 409), shown as a flash on the page they came from.
func policyErrorMessage(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	code, msg := statusOf(err)
	return msg, code == http.StatusConflict && msg != ""
}

// handleCompanyPolicyOverride handles "POST /admin/companies/:id/policy/override".
func (s *Server) handleCompanyPolicyOverride(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	f := policyFormValues(c)
	d, err := policy.ParseForm(f)
	var v validation.Errors
	if errors.As(err, &v) {
		return s.renderCompanyDetail(c, http.StatusUnprocessableEntity, id, pages.AssignForm{}, policyFormState{override: &f, overrideErrs: v})
	}
	if err != nil {
		return err
	}
	if err := s.policy.SetOverride(c.Request().Context(), id, d, actor(c)); err != nil {
		return err
	}
	if d.Empty() {
		s.flash(c, "success", "Override cleared: the template applies to this company.")
	} else {
		s.flash(c, "success", "Override saved; the policy is being applied again.")
	}
	return redirect(c, companyURL(id))
}

// handleCompanyOffboard handles "POST /admin/companies/:id/offboard".
func (s *Server) handleCompanyOffboard(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	confirm := c.FormValue(policy.FieldConfirm)
	_, err = s.policy.Offboard(c.Request().Context(), id, confirm, actor(c))
	var v validation.Errors
	switch {
	case errors.As(err, &v):
		return s.renderCompanyDetail(c, http.StatusUnprocessableEntity, id, pages.AssignForm{},
			policyFormState{confirm: confirm, confirmErr: v[policy.FieldConfirm]})
	case err == nil:
		s.flash(c, "success", "Offboarding started: keys, spend alerts, then the project. Progress shows below.")
	default:
		msg, ok := policyErrorMessage(err)
		if !ok {
			return err
		}
		s.flash(c, "error", msg)
	}
	return redirect(c, companyURL(id))
}

// handleCompanyOffboardResume handles "POST /admin/companies/:id/offboard/resume".
func (s *Server) handleCompanyOffboardResume(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	err = s.policy.ResumeOffboarding(c.Request().Context(), id, actor(c))
	if msg, ok := policyErrorMessage(err); ok {
		s.flash(c, "error", msg)
	} else if err != nil {
		return err
	} else {
		s.flash(c, "success", "Offboarding resumed where it stopped.")
	}
	return redirect(c, companyURL(id))
}

// handleOrphans handles "GET /admin/policy/orphans".
func (s *Server) handleOrphans(c echo.Context) error {
	return s.renderOrphans(c, http.StatusOK, "", "", "")
}

func (s *Server) renderOrphans(c echo.Context, code int, project, value, errText string) error {
	orphans, err := s.policy.Orphans(c.Request().Context())
	if err != nil {
		return err
	}
	p := pages.OrphansProps{CSRF: csrfToken(c)}
	for _, o := range orphans {
		r := pages.OrphanRow{ProjectID: o.ProjectID, Name: o.Name, CreatedAt: o.CreatedAt.UTC().Format(timeFormat),
			FirstSeen: o.FirstSeen.UTC().Format(timeFormat), AssignURL: "/admin/policy/orphans/" + o.ProjectID + "/assign"}
		if o.ProjectID == project {
			r.Company, r.Error = value, errText
		}
		p.Rows = append(p.Rows, r)
	}
	return render(c, code, pages.OrphansPage(s.adminMeta(c, "Orphan projects", "policy"), p))
}

// handleOrphanAssign handles "POST /admin/policy/orphans/:project/assign":
// the orphan becomes the project of a company that has none (admins may
// replace a company's project, as on its page).
func (s *Server) handleOrphanAssign(c echo.Context) error {
	ctx := c.Request().Context()
	projectID := c.Param("project")
	value := c.FormValue("company")
	fail := func(msg string) error {
		return s.renderOrphans(c, http.StatusUnprocessableEntity, projectID, value, msg)
	}
	id, err := s.policy.FindCompany(ctx, value)
	if errors.Is(err, policy.ErrCompanyNotFound) {
		return fail("No company with this name or ID.")
	}
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	co, err := s.companies.Get(ctx, id)
	if err != nil {
		return err
	}
	if co.OpenAIProjectID != "" && !u.IsAdmin() {
		return fail(co.Name + " already has a project; only admins may replace it.")
	}
	_, err = s.companies.AssignProjectID(ctx, company.AssignParams{CompanyID: id, ProjectID: projectID, Actor: actor(c), Replace: u.IsAdmin()})
	var linked *company.ErrProjectLinked
	switch {
	case err == nil:
		_ = s.policy.ForgetOrphan(ctx, projectID)
		s.flash(c, "success", fmt.Sprintf("Project %s assigned to %s; its policy is being applied.", projectID, co.Name))
		return redirect(c, companyURL(id))
	case errors.As(err, &linked):
		return fail("This project is already linked to " + linked.Company.Name + ".")
	case errors.Is(err, company.ErrProjectNotFound):
		return fail("This project no longer exists on OpenAI.")
	case errors.Is(err, company.ErrProjectArchived):
		return fail("This project is archived.")
	case errors.Is(err, company.ErrInvalidProjectID):
		return fail("This is not a valid project ID.")
	}
	return err
}

// Company-list filters served from the policy states rather than the
// company list's own index.
const (
	filterPolicy  = "policy"  // pending, drifted or failed
	filterDrifted = "drifted" // drifted only
)

// policyTotalsCap is where the list's "Policy not applied" count stops
// ("1,000+"): the full list page shows it on every load, and counting
// further would read every linked company (150 ms at 700,000; 28 ms to
// stop at 10,000 while a sweep rewrote the rows). The policy page has the
// exact counts.
const policyTotalsCap = 1_000

// policyTotals adds the "Policy not applied" count to the list's totals.
func (s *Server) policyTotals(c echo.Context, t *pages.CompanyTotals) error {
	if s.policy == nil || !s.policy.Enabled() {
		return nil
	}
	n, more, err := s.policy.NotAppliedAtMost(c.Request().Context(), policyTotalsCap)
	if err != nil {
		return err
	}
	t.PolicyNotApplied = thousands(n)
	if more {
		t.PolicyNotApplied += "+"
	}
	t.PolicyURL = "/admin/companies?filter=" + filterPolicy
	return nil
}

// handlePolicyFilteredList handles "GET /admin/companies?filter=policy|drifted":
// the companies whose policy is not in place, most recently changed first
// (at most 500: these lists are short when things are well).
func (s *Server) handlePolicyFilteredList(c echo.Context, filter string) error {
	ctx := c.Request().Context()
	states := []string{policy.StatePending, policy.StateDrifted, policy.StateFailed}
	if filter == filterDrifted {
		states = []string{policy.StateDrifted}
	}
	rows, err := s.policy.ListByState(ctx, 500, states...)
	if err != nil {
		return err
	}
	props := pages.CompaniesProps{Filter: filter, Sort: "newest", ClearURL: "/admin/companies"}
	for _, r := range rows {
		co, err := s.companies.Get(ctx, r.CompanyID)
		if err != nil {
			return err
		}
		props.Rows = append(props.Rows, pages.CompanyRow{
			ID: strconv.FormatInt(co.ID, 10), Name: co.Name, DetailURL: companyURL(co.ID),
			Industry: co.Industry, ContactName: co.ContactName, ContactEmail: co.ContactEmail,
			SignupDate: co.CreatedAt.UTC().Format("2006-01-02"), SignupISO: co.CreatedAt.UTC().Format(time.RFC3339),
			ProjectID: co.OpenAIProjectID, ProjectURL: openAIProjectURL(co.OpenAIProjectID), Status: "policy " + r.State,
		})
	}
	if isHTMX(c) && c.Request().Header.Get("HX-History-Restore-Request") != "true" {
		return render(c, http.StatusOK, pages.CompanyResults(props))
	}
	totals, err := s.companies.Totals(ctx)
	if err != nil {
		return err
	}
	props.Totals = pages.CompanyTotals{
		Companies: thousands(totals.Companies), WithProject: thousands(totals.WithProject),
		Missing: thousands(totals.Missing), Failed: thousands(totals.Failed),
		MissingURL: companiesURL(company.ListParams{Filter: company.FilterMissing}, "", ""),
		FailedURL:  companiesURL(company.ListParams{Filter: company.FilterFailed}, "", ""),
	}
	if err := s.policyTotals(c, &props.Totals); err != nil {
		return err
	}
	return render(c, http.StatusOK, pages.CompaniesPage(s.adminMeta(c, "Companies", "companies"), props))
}
