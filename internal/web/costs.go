package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/shopspring/decimal"

	"github.com/provisioner/provisioner/internal/company"
	"github.com/provisioner/provisioner/internal/cost"
	"github.com/provisioner/provisioner/views/components"
	"github.com/provisioner/provisioner/views/pages"
)

// costRoutes registers the costs page, its CSV statement, "Sync now" and
// a company's markup override.
func (s *Server) costRoutes(g *echo.Group) {
	if s.costs == nil {
		return
	}
	g.GET("/costs", s.handleCostsPage)
	g.GET("/costs/statement.csv", s.handleCostsCSV)
	g.POST("/costs/sync", s.handleCostsSync, s.requireAdmin)
	g.POST("/companies/:id/markup", s.handleCompanyMarkup, s.requireAdmin)
}

// statementPreviewRows bounds the statement rows shown on the page; the
// CSV has them all.
const statementPreviewRows = 200

// money formats an amount for reading on the dashboard: usd as "$1,234.57",
// other currencies as "1,234.57 EUR". Display only: it rounds to the cent
// half to even; statements show OpenAI's exact figures.
func money(d decimal.Decimal, currency string) string {
	s := d.StringFixedBank(2)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(whole, 10, 64)
	out := thousands(n) + "." + frac
	if neg {
		out = "-" + out
	}
	if currency == "" || currency == cost.BillingCurrency {
		return "$" + out
	}
	return out + " " + strings.ToUpper(currency)
}

func runLine(r cost.Run) string {
	return fmt.Sprintf("%s (%s, %s)", r.StartedAt.UTC().Format("2006-01-02 15:04 UTC"), r.Status, r.Duration().Round(time.Millisecond))
}

// costSummary is the organization's cost this month, for the home page and
// the company list.
func (s *Server) costSummary(ctx context.Context) (*pages.CostSummaryProps, error) {
	if s.costs == nil {
		return nil, nil
	}
	o, err := s.costs.Overview(ctx)
	if err != nil {
		return nil, err
	}
	p := &pages.CostSummaryProps{
		Month: o.Month.Format("January 2006"), Total: money(decimal.Zero, ""), Unattributed: money(decimal.Zero, ""),
		CostsURL: "/admin/costs", TopURL: "/admin/companies?sort=cost",
	}
	for _, t := range o.Totals {
		if t.Currency == cost.BillingCurrency {
			p.Total, p.Unattributed = money(t.Total, t.Currency), money(t.Unattributed, t.Currency)
		} else {
			p.Other = append(p.Other, money(t.Total, t.Currency)+" (unattributed "+money(t.Unattributed, t.Currency)+")")
		}
	}
	if o.LastOK != nil {
		p.LastSync = runLine(*o.LastOK)
	}
	if o.LastSync != nil && o.LastSync.Status == "failed" {
		p.SyncError = o.LastSync.Error
	}
	return p, nil
}

// addCostColumn fills the list's month-to-date column.
func (s *Server) addCostColumn(ctx context.Context, page company.Page, props *pages.CompaniesProps) error {
	if s.costs == nil || len(page.Companies) == 0 {
		return nil
	}
	ids := make([]int64, len(page.Companies))
	for i, co := range page.Companies {
		ids[i] = co.ID
	}
	mtd, err := s.costs.MonthToDate(ctx, ids)
	if err != nil {
		return err
	}
	for i := range props.Rows {
		props.Rows[i].MTDCost = money(mtd[ids[i]], "")
	}
	return nil
}

// companyCostsProps builds the costs section of a company's page
// (?days=30 or 90).
func (s *Server) companyCostsProps(c echo.Context, companyID int64) (*pages.CompanyCostsProps, error) {
	if s.costs == nil {
		return nil, nil
	}
	ctx := c.Request().Context()
	days := 30
	if c.QueryParam("days") == "90" {
		days = 90
	}
	rep, err := s.costs.Company(ctx, companyID, days)
	if err != nil {
		return nil, err
	}
	u, _ := currentUser(c)
	base := companyURL(companyID)
	p := &pages.CompanyCostsProps{
		Days: strconv.Itoa(days), Link30: base + "#company-costs", Link90: base + "?days=90#company-costs",
		MonthToDate: money(rep.MonthToDate, ""), LastMonth: money(rep.LastMonth, ""), WindowTotal: money(rep.Total, ""),
		Chart:         costChart(rep),
		Tokens:        tokenChart(rep),
		DefaultMarkup: s.costs.DefaultMarkup(),
		CanEditMarkup: u.IsAdmin(),
		MarkupAction:  base + "/markup",
		CSRF:          csrfToken(c),
	}
	for _, m := range rep.Models {
		p.Models = append(p.Models, pages.ModelUsageRow{
			Model: m.Model, Input: thousands(m.InputTokens), Output: thousands(m.OutputTokens),
			Cached: thousands(m.CachedTokens), Requests: thousands(m.Requests),
		})
	}
	for _, h := range rep.Holdings {
		row := pages.HoldingRow{ProjectID: h.ProjectID, From: h.From.UTC().Format("2006-01-02 15:04 UTC"), To: "now"}
		if h.To != nil {
			row.To = h.To.UTC().Format("2006-01-02 15:04 UTC")
		}
		p.Holdings = append(p.Holdings, row)
	}
	if rep.LastSync != nil {
		p.LastSync = runLine(*rep.LastSync)
	}
	if m, err := s.costs.Markup(ctx, companyID); err != nil {
		return nil, err
	} else if m != nil {
		p.Markup = m.String()
	}
	if v, ok := c.Get("markup_value").(string); ok {
		p.Markup = v
		p.MarkupError, _ = c.Get("markup_error").(string)
	}
	return p, nil
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 720
	chartHeight = 220
)

// costChart is the stacked daily cost chart of a report.
func costChart(rep cost.CompanyReport) components.StackedBarsProps {
	p := components.StackedBarsProps{
		ID: "cost-chart", Title: fmt.Sprintf("Cost per day by line item, last %d days", len(rep.Days)),
		Width: chartWidth, Height: chartHeight,
		TableHead: append([]string{"Day"}, append(append([]string{}, rep.LineItems...), "Total")...),
	}
	if rep.Total.IsZero() {
		p.Empty = "No cost in this period."
		return p
	}
	for i, li := range rep.LineItems {
		p.Series = append(p.Series, components.ChartSeries{Name: li, Color: components.ChartColor(i)})
	}
	maxDay := decimal.Zero
	for _, d := range rep.Days {
		if d.Total.GreaterThan(maxDay) {
			maxDay = d.Total
		}
	}
	p.YLabel = money(maxDay, "")
	p.Summary = fmt.Sprintf("%d days from %s to %s; total %s; highest day %s.", len(rep.Days),
		rep.From.Format(time.DateOnly), rep.To.AddDate(0, 0, -1).Format(time.DateOnly), money(rep.Total, ""), money(maxDay, ""))
	plotH := float64(chartHeight - components.ChartTop - components.ChartBottom)
	slot := float64(chartWidth-components.ChartLeft) / float64(len(rep.Days))
	labelEvery := max(1, len(rep.Days)/6)
	maxF := maxDay.InexactFloat64() // pixels only: money stays decimal
	for i, d := range rep.Days {
		x := float64(components.ChartLeft) + float64(i)*slot
		bar := components.ChartBar{X: components.F(x + slot*0.1), W: components.F(slot * 0.8)}
		if i%labelEvery == 0 {
			bar.Label, bar.LabelX = d.Day.Format("Jan 2"), components.F(x+slot/2)
		}
		y := float64(chartHeight - components.ChartBottom)
		row := []string{d.Day.Format(time.DateOnly)}
		for si, li := range rep.LineItems {
			v := d.ByLineItem[li]
			row = append(row, money(v, ""))
			if !v.IsPositive() {
				continue
			}
			h := v.InexactFloat64() / maxF * plotH
			y -= h
			bar.Segments = append(bar.Segments, components.ChartSegment{
				Y: components.F(y), H: components.F(h), Color: components.ChartColor(si),
				Title: d.Day.Format(time.DateOnly) + " · " + li + ": " + money(v, ""),
			})
		}
		row = append(row, money(d.Total, ""))
		p.TableRows = append(p.TableRows, row)
		p.Bars = append(p.Bars, bar)
	}
	return p
}

// tokenChart is the tokens by model chart: one bar per model, input and
// output stacked.
func tokenChart(rep cost.CompanyReport) components.StackedBarsProps {
	p := components.StackedBarsProps{
		ID: "token-chart", Title: fmt.Sprintf("Tokens by model, last %d days", len(rep.Days)),
		Width: chartWidth, Height: chartHeight,
		TableHead: []string{"Model", "Input tokens", "Output tokens", "Total"},
		Series: []components.ChartSeries{
			{Name: "Input tokens", Color: components.ChartColor(0)},
			{Name: "Output tokens", Color: components.ChartColor(1)},
		},
	}
	if len(rep.Models) == 0 {
		p.Empty = "No completions usage in this period."
		return p
	}
	var maxT int64
	for _, m := range rep.Models {
		maxT = max(maxT, m.InputTokens+m.OutputTokens)
	}
	if maxT == 0 {
		p.Empty = "No tokens in this period."
		return p
	}
	p.YLabel = thousands(maxT)
	p.Summary = fmt.Sprintf("%d models; the most used took %s tokens.", len(rep.Models), thousands(maxT))
	plotH := float64(chartHeight - components.ChartTop - components.ChartBottom)
	slot := float64(chartWidth-components.ChartLeft) / float64(len(rep.Models))
	for i, m := range rep.Models {
		x := float64(components.ChartLeft) + float64(i)*slot
		bar := components.ChartBar{X: components.F(x + slot*0.2), W: components.F(slot * 0.6), Label: m.Model, LabelX: components.F(x + slot/2)}
		y := float64(chartHeight - components.ChartBottom)
		for si, v := range []int64{m.InputTokens, m.OutputTokens} {
			if v <= 0 {
				continue
			}
			h := float64(v) / float64(maxT) * plotH
			y -= h
			bar.Segments = append(bar.Segments, components.ChartSegment{
				Y: components.F(y), H: components.F(h), Color: components.ChartColor(si),
				Title: m.Model + " · " + p.Series[si].Name + ": " + thousands(v),
			})
		}
		p.Bars = append(p.Bars, bar)
		p.TableRows = append(p.TableRows, []string{m.Model, thousands(m.InputTokens), thousands(m.OutputTokens), thousands(m.InputTokens + m.OutputTokens)})
	}
	return p
}

// monthParam checks ?month=; a bad month is a 400 whose message says why.
func (s *Server) monthParam(c echo.Context) (time.Time, error) {
	m, err := s.costs.ParseMonth(c.Request().Context(), c.QueryParam("month"))
	var me *cost.MonthError
	if errors.As(err, &me) {
		return m, echo.NewHTTPError(http.StatusBadRequest, "month: "+me.Msg).SetInternal(err)
	}
	return m, err
}

// handleCostsPage handles "GET /admin/costs?month=YYYY-MM": the sync's
// state and the month's statement (this month when none is given).
func (s *Server) handleCostsPage(c echo.Context) error {
	ctx := c.Request().Context()
	u, _ := currentUser(c)
	p := pages.CostsPageProps{
		CSRF: csrfToken(c), CanSync: u.IsAdmin() && s.costs.Configured(), Configured: s.costs.Configured(),
		Month: c.QueryParam("month"), DefaultMarkup: s.costs.DefaultMarkup(),
	}
	summary, err := s.costSummary(ctx)
	if err != nil {
		return err
	}
	p.Summary = *summary
	runs, err := s.costs.Runs(ctx, 10)
	if err != nil {
		return err
	}
	for _, r := range runs {
		p.Runs = append(p.Runs, pages.SyncRunRow{
			ID: strconv.FormatInt(r.ID, 10), Trigger: r.Trigger, Status: r.Status,
			Range:   r.From.Format(time.DateOnly) + " – " + r.To.AddDate(0, 0, -1).Format(time.DateOnly),
			Started: r.StartedAt.UTC().Format("2006-01-02 15:04:05 UTC"), Duration: r.Duration().Round(time.Millisecond).String(),
			Pages: strconv.Itoa(r.Pages), Rows: thousands(r.RowsWritten), Error: r.Error,
		})
	}
	code := http.StatusOK
	if p.Month == "" && len(runs) > 0 {
		p.Month = time.Now().UTC().Format("2006-01")
		if last := runs[0]; !last.To.IsZero() {
			p.Month = last.To.AddDate(0, 0, -1).Format("2006-01")
		}
	}
	if p.Month != "" {
		month, err := s.costs.ParseMonth(ctx, p.Month)
		var me *cost.MonthError
		switch {
		case errors.As(err, &me):
			p.MonthError, code = me.Msg, http.StatusBadRequest
		case err != nil:
			return err
		default:
			if err := s.statementProps(ctx, month, &p); err != nil {
				return err
			}
		}
	}
	return render(c, code, pages.CostsPage(s.adminMeta(c, "Costs", "costs"), p))
}

func (s *Server) statementProps(ctx context.Context, month time.Time, p *pages.CostsPageProps) error {
	p.MonthLabel = month.Format("January 2006")
	p.CSVURL = "/admin/costs/statement.csv?month=" + url.QueryEscape(month.Format("2006-01"))
	shown := 0
	totals, err := s.costs.Statement(ctx, month, func(si cost.StatementInfo) error {
		p.LineItems, p.Partial = si.LineItems, si.Partial
		if si.AsOf != nil {
			p.AsOf = runLine(*si.AsOf)
		}
		return nil
	}, func(r cost.StatementRow) error {
		if shown >= statementPreviewRows {
			p.MoreRows++
			return nil
		}
		shown++
		row := pages.StatementRowProps{
			Company: r.CompanyName, Projects: strings.Join(r.ProjectIDs, " "), Currency: r.Currency,
			Total: r.Total.String(), Unattributed: r.Unattributed(),
		}
		if r.Unattributed() {
			row.Company = "Unattributed"
		} else {
			row.CompanyURL = companyURL(r.CompanyID)
			row.Markup, row.MarkupPercent, row.Override = r.Markup.String(), r.MarkupPercent.String(), r.MarkupOverride
			row.Billable = r.Billable.StringFixedBank(2)
		}
		for _, it := range p.LineItems {
			v, ok := r.ByLineItem[it]
			if !ok {
				row.Items = append(row.Items, "")
				continue
			}
			row.Items = append(row.Items, v.String())
		}
		p.Rows = append(p.Rows, row)
		return nil
	})
	if err != nil {
		return err
	}
	for _, t := range totals {
		p.Totals = append(p.Totals, pages.StatementTotalRow{
			Currency: t.Currency, Total: t.Total.String(), Unattributed: t.Unattributed.String(),
			Markup: t.Markup.String(), Billable: t.Billable.StringFixedBank(2), Companies: strconv.Itoa(t.Companies),
		})
	}
	return nil
}

// handleCostsCSV handles "GET /admin/costs/statement.csv?month=YYYY-MM".
func (s *Server) handleCostsCSV(c echo.Context) error {
	month, err := s.monthParam(c)
	if err != nil {
		return err
	}
	return s.writeStatementCSV(c, month)
}

// writeStatementCSV streams the statement; an error after the first
// bytes can only cut the download short (logged).
func (s *Server) writeStatementCSV(c echo.Context, month time.Time) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="openai-costs-%s.csv"`, month.Format("2006-01")))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	return s.costs.WriteStatementCSV(c.Request().Context(), c.Response(), month)
}

// handleCostsSync handles "POST /admin/costs/sync" (admins).
func (s *Server) handleCostsSync(c echo.Context) error {
	err := s.costs.RequestSync(c.Request().Context())
	switch {
	case errors.Is(err, cost.ErrNotConfigured):
		s.flash(c, "error", "No OpenAI admin key is configured (OPENAI_ADMIN_KEY): there is nothing to sync from.")
	case err != nil:
		return err
	default:
		s.flash(c, "success", "Sync queued. It runs in the background; this page shows it once it starts.")
	}
	return redirect(c, "/admin/costs")
}

// handleCompanyMarkup handles "POST /admin/companies/:id/markup" (admins):
// set or clear (empty) the company's statement markup.
func (s *Server) handleCompanyMarkup(c echo.Context) error {
	id, err := companyID(c)
	if err != nil {
		return err
	}
	v := c.FormValue("markup")
	err = s.costs.SetMarkup(c.Request().Context(), actor(c), id, v)
	var me *cost.MarkupError
	switch {
	case errors.As(err, &me):
		c.Set("markup_value", v)
		c.Set("markup_error", me.Msg)
		return s.renderCompanyDetail(c, http.StatusUnprocessableEntity, id, pages.AssignForm{})
	case errors.Is(err, cost.ErrCompanyNotFound):
		return company.ErrNotFound
	case err != nil:
		return err
	}
	if strings.TrimSpace(v) == "" {
		s.flash(c, "success", "Markup reset to the default ("+s.costs.DefaultMarkup()+"%).")
	} else {
		s.flash(c, "success", "Markup saved.")
	}
	return redirect(c, companyURL(id)+"#company-costs")
}
