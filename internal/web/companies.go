package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/views/components"
	"github.com/provisioner/provisioner/views/pages"
)

// companyRoutes registers the company list, a company's page and the
// actions on its project. Support staff may do all of it except change or
// clear an existing project ID.
func (s *Server) companyRoutes(g *echo.Group) {
	g.GET("/companies", s.handleCompanyList)
	g.GET("/companies/:id", s.handleCompanyDetail)
	g.POST("/companies/:id/provision", s.handleCompanyProvision)
	g.POST("/companies/:id/project-id", s.handleCompanyAssignProjectID)
	g.POST("/companies/:id/project-id/clear", s.handleCompanyClearProjectID, s.requireAdmin)
	s.companyKeyRoutes(g)                              // company_keys.go: the key panel's actions
	g.POST("/companies/decide", s.handleCompanyDecide) // safeguards.go: approval mode
}

// busyMessage is shown when a provisioning attempt holds the company.
const busyMessage = "Provisioning is in progress for this company; try again in a few seconds."

// handleCompanyList handles "GET /admin/companies?q=&filter=&sort=&after=&before=".
// htmx requests (the search form, the page links) get the results only.
func (s *Server) handleCompanyList(c echo.Context) error {
	ctx := c.Request().Context()
	if f := c.QueryParam("filter"); s.policy != nil && (f == filterPolicy || f == filterDrifted) {
		return s.handlePolicyFilteredList(c, f) // policy.go
	}
	p := company.ListParams{
		Query:  c.QueryParam("q"),
		Filter: company.ListFilter(c.QueryParam("filter")),
		Sort:   company.ListSort(c.QueryParam("sort")),
		After:  c.QueryParam("after"),
		Before: c.QueryParam("before"),
	}.Normalize()
	page, err := s.companies.List(ctx, p)
	if err != nil {
		return err
	}
	props := companiesProps(p, page)
	props.CSRF = csrfToken(c)
	if err := s.addCostColumn(ctx, page, &props); err != nil { // costs.go
		return err
	}
	if wantsFragment(c) {
		return render(c, http.StatusOK, pages.CompanyResults(props))
	}
	totals, err := s.companies.Totals(ctx)
	if err != nil {
		return err
	}
	props.Totals = pages.CompanyTotals{
		Companies: thousands(totals.Companies), WithProject: thousands(totals.WithProject),
		Missing: thousands(totals.Missing), Failed: thousands(totals.Failed),
		Waiting:    thousands(totals.Waiting),
		MissingURL: companiesURL(company.ListParams{Filter: company.FilterMissing}, "", ""),
		FailedURL:  companiesURL(company.ListParams{Filter: company.FilterFailed}, "", ""),
		WaitingURL: waitingURL,
	}
	if props.Safeguards, err = s.safeguardsProps(ctx); err != nil {
		return err
	}
	if err := s.policyTotals(c, &props.Totals); err != nil { // policy.go
		return err
	}
	if props.CostSummary, err = s.costSummary(ctx); err != nil { // costs.go
		return err
	}
	return render(c, http.StatusOK, pages.CompaniesPage(s.adminMeta(c, "Companies", "companies"), props))
}

func companiesProps(p company.ListParams, page company.Page) pages.CompaniesProps {
	props := pages.CompaniesProps{
		Query: p.Query, Filter: string(p.Filter), Sort: string(p.Sort),
		Rows: make([]pages.CompanyRow, len(page.Companies)),
		// Nothing at all, rather than nothing matching.
		NoCompanies: len(page.Companies) == 0 && p.Query == "" && p.Filter == company.FilterAll && !page.HasPrev,
		ClearURL:    "/admin/companies",
	}
	for i, co := range page.Companies {
		props.Rows[i] = pages.CompanyRow{
			ID: strconv.FormatInt(co.ID, 10), Name: co.Name, DetailURL: companyURL(co.ID),
			Industry: co.Industry, ContactName: co.ContactName, ContactEmail: co.ContactEmail,
			SignupDate: stamp(co.CreatedAt), SignupISO: isoTime(co.CreatedAt),
			ProjectID: co.OpenAIProjectID, ProjectURL: openAIProjectURL(co.OpenAIProjectID), Status: badgeStatus(co),
			AwaitingApproval: co.AwaitingApproval() && co.OpenAIProjectID == "",
		}
		if co.Status == company.StatusWaiting && co.OpenAIProjectID == "" {
			props.Rows[i].WaitReason = co.LastError
		}
		props.Decidable = props.Decidable || props.Rows[i].AwaitingApproval
	}
	if page.HasPrev {
		props.Pages.FirstURL = companiesURL(p, "", "")
	}
	if page.Prev != "" {
		props.Pages.PrevURL = companiesURL(p, "", page.Prev)
	}
	if page.Next != "" {
		props.Pages.NextURL = companiesURL(p, page.Next, "")
	}
	if props.Pages != (components.PaginationProps{}) {
		props.Pages.HXTarget = "#company-results"
	}
	return props
}

// companiesURL is the list with p's search, filter and sort, from a cursor.
func companiesURL(p company.ListParams, after, before string) string {
	v := url.Values{}
	if p.Query != "" {
		v.Set("q", p.Query)
	}
	if p.Filter != "" && p.Filter != company.FilterAll {
		v.Set("filter", string(p.Filter))
	}
	if p.Sort != "" && p.Sort != company.SortNewest {
		v.Set("sort", string(p.Sort))
	}
	if after != "" {
		v.Set("after", after)
	}
	if before != "" {
		v.Set("before", before)
	}
	if len(v) == 0 {
		return "/admin/companies"
	}
	return "/admin/companies?" + v.Encode()
}

func companyURL(id int64) string { return "/admin/companies/" + strconv.FormatInt(id, 10) }

// openAIProjectURL is the project's page on OpenAI's platform. The
// settings/{project id}/… pages are the ones OpenAI's own error messages
// link to (for instance …/limits).
func openAIProjectURL(projectID string) string {
	if projectID == "" {
		return ""
	}
	return "https://platform.openai.com/settings/" + url.PathEscape(projectID) + "/limits"
}

// badgeStatus is the status badge of a company: its provisioning state,
// in the one vocabulary of components.Badge.
func badgeStatus(co company.Company) string {
	switch {
	case co.OpenAIProjectID != "":
		return "provisioned"
	case co.Rejected():
		return "rejected"
	}
	return string(co.Status)
}

// companyID reads the :id path parameter; a malformed one is a 404.
func companyID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, company.ErrNotFound
	}
	return id, nil
}

// handleCompanyDetail handles "GET /admin/companies/:id".
func (s *Server) handleCompanyDetail(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	return s.renderCompanyDetail(c, http.StatusOK, id, pages.AssignForm{})
}

// renderCompanyDetail renders the company's page, with the assignment form
// as given (its value and error after a failed submission).
func (s *Server) renderCompanyDetail(c echo.Context, code int, id int64, form pages.AssignForm, policyForm ...policyFormState) error {
	ctx := c.Request().Context()
	co, err := s.companies.Get(ctx, id)
	if err != nil {
		return err
	}
	history, err := s.companies.History(ctx, id)
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	p := pages.CompanyDetailProps{
		CSRF: csrfToken(c), ID: strconv.FormatInt(co.ID, 10), Name: co.Name, Industry: co.Industry,
		ContactName: co.ContactName, ContactEmail: co.ContactEmail, Size: co.Size, Country: co.Country,
		SignupDate: stamp(co.CreatedAt), SignupISO: isoTime(co.CreatedAt),
		Description: co.ProjectDescription, Status: badgeStatus(co), LastError: humanError(co.LastError),
		CanDecide: co.OpenAIProjectID == "" && (co.AwaitingApproval() || co.Rejected()), Rejected: co.Rejected(),
		ProjectID: co.OpenAIProjectID, ProjectURL: openAIProjectURL(co.OpenAIProjectID),
		KeyConfigured: s.companies.OpenAIConfigured(),
		CanProvision:  co.OpenAIProjectID == "" && s.companies.OpenAIConfigured() && !co.AwaitingApproval() && !co.Rejected(),
		CanAssign:     co.OpenAIProjectID == "" || u.IsAdmin(),
		CanClear:      co.OpenAIProjectID != "" && u.IsAdmin(),
		Assign:        form,
		History:       make([]pages.HistoryRow, len(history)),
	}
	if w, err := url.Parse(co.Website); err == nil && (w.Scheme == "http" || w.Scheme == "https") {
		p.Website = co.Website
	}
	if co.Status == company.StatusWaiting && co.OpenAIProjectID == "" {
		// Not an error: what the company waits for.
		p.WaitReason, p.LastError = co.LastError, components.ErrorTextProps{}
	}
	if co.NextAttemptAt != nil && co.OpenAIProjectID == "" && co.NextAttemptAt.After(time.Now()) {
		p.NextAttempt = stamp(*co.NextAttemptAt)
	}
	for i, a := range history {
		r := pages.HistoryRow{
			Started: stamp(a.StartedAt), StartedISO: isoTime(a.StartedAt),
			Trigger: a.Trigger, Actor: a.Actor, Outcome: a.Outcome, ProjectID: a.ProjectID, Error: humanError(a.Error),
			RequestID: a.OpenAIRequestID,
		}
		if a.HTTPStatus != 0 {
			r.HTTPStatus = strconv.Itoa(a.HTTPStatus)
		}
		if d, ok := a.Duration(); ok {
			r.Duration = d.Round(time.Millisecond).String()
		}
		p.History[i] = r
	}
	if p.Policy, err = s.companyPolicyProps(c, co.ID, co.OpenAIProjectID != "", policyForm...); err != nil {
		return err
	}
	if p.Key, err = s.companyKeyProps(c, co); err != nil {
		return err
	}
	if p.Costs, err = s.companyCostsProps(c, co.ID); err != nil { // costs.go
		return err
	}
	return render(c, code, pages.CompanyDetailPage(s.adminMeta(c, co.Name, "companies"), p))
}

// handleCompanyProvision handles "POST /admin/companies/:id/provision":
// "Create project now".
func (s *Server) handleCompanyProvision(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	_, err = s.companies.RequestProvisioning(c.Request().Context(), id, actor(c))
	switch {
	case err == nil:
		s.flash(c, "success", "Provisioning started. The attempt appears in the history below once it runs.")
	case errors.Is(err, company.ErrNotConfigured):
		s.flash(c, "error", "No OpenAI admin key is configured (OPENAI_ADMIN_KEY), so no project can be created. Assign an existing project ID instead.")
	case errors.Is(err, company.ErrHasProject):
		s.flash(c, "error", "This company already has a project; nothing was started.")
	case errors.Is(err, company.ErrNeedsApproval):
		s.flash(c, "error", "This company awaits approval (or was rejected): approve it to create its project.")
	default:
		return err
	}
	return redirect(c, companyURL(id))
}

// handleCompanyAssignProjectID handles "POST /admin/companies/:id/project-id".
// Support staff may assign an ID to a company that has none; changing an
// existing one is for admins.
func (s *Server) handleCompanyAssignProjectID(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, _ := currentUser(c)
	co, err := s.companies.Get(ctx, id)
	if err != nil {
		return err
	}
	if co.OpenAIProjectID != "" && !u.IsAdmin() {
		return errChangeForbidden
	}
	form := pages.AssignForm{Value: c.FormValue("project_id")}
	res, err := s.companies.AssignProjectID(ctx, company.AssignParams{
		CompanyID: id, ProjectID: form.Value, Actor: actor(c), Replace: u.IsAdmin(),
	})
	var linked *company.ErrProjectLinked
	var verify *company.VerifyError
	switch {
	case err == nil:
		switch {
		case res.Unchanged:
			s.flash(c, "info", "The company already has this project ID; nothing changed.")
		case !res.Verified:
			s.flash(c, "success", "Project ID saved without verification (no OpenAI admin key configured).")
		default:
			s.flash(c, "success", "Project ID saved")
		}
		return redirect(c, companyURL(id))
	case errors.Is(err, company.ErrHasProject):
		// A project was linked since the page was loaded.
		return errChangeForbidden
	case errors.Is(err, company.ErrInvalidProjectID):
		form.Error = "Enter an OpenAI project ID: proj_ followed by letters and digits, like proj_abc123."
	case errors.As(err, &linked):
		form.Error = fmt.Sprintf("This project is already linked to %s.", linked.Company.Name)
		form.LinkURL, form.LinkText = companyURL(linked.Company.ID), "Open "+linked.Company.Name
	case errors.Is(err, company.ErrProjectNotFound):
		form.Error = "No OpenAI project with this ID exists in the organization."
	case errors.Is(err, company.ErrProjectArchived):
		form.Error = "That project is archived."
	case errors.As(err, &verify) && verify.Transient():
		form.Error = "Could not verify with OpenAI right now; try again."
	case errors.As(err, &verify):
		form.Error = "OpenAI did not let us check this project; check the admin key's permissions."
	case errors.Is(err, company.ErrBusy):
		form.Error = busyMessage
	default:
		return err
	}
	replaceURL(c, companyURL(id))
	return s.renderCompanyDetail(c, http.StatusUnprocessableEntity, id, form)
}

// errChangeForbidden answers a support member's change of an existing ID.
var errChangeForbidden = echo.NewHTTPError(http.StatusForbidden, "Only admins may change a project ID that is already set.")

// handleCompanyClearProjectID handles "POST /admin/companies/:id/project-id/clear"
// (admins only).
func (s *Server) handleCompanyClearProjectID(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	before, err := s.companies.ClearProjectID(c.Request().Context(), id, actor(c))
	switch {
	case err == nil:
		s.flash(c, "success", fmt.Sprintf("Project ID %s cleared. The company is pending, but no project is created automatically: use \"Create project now\" or run a backfill.", before))
	case errors.Is(err, company.ErrNoProject):
		s.flash(c, "info", "This company has no project ID; nothing was cleared.")
	case errors.Is(err, company.ErrBusy):
		s.flash(c, "error", busyMessage)
	default:
		return err
	}
	return redirect(c, companyURL(id))
}
